"""Finding the shop a webhook is addressed to (by the slug in its path)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import abort
from sqlalchemy.orm import Session

from core.availability import ShopChanged, recent_view, shop_view_by_slug


@dataclass(frozen=True)
class Found:
    """The shop a webhook is for, and the settings of its provider there."""

    shop_id: int
    section: dict
    unconfirmed: bool  # the view this process kept, until the message's first call confirms it

    def afresh_before_answering(self) -> None:
        """Begin the request again on a view read afresh (ShopChanged) if this one is the
        view kept: an answer that no call of the message's confirms it for (a refusal, a
        body that is no message) must not let a secret revoked or a provider dropped
        elsewhere be told apart."""
        if self.unconfirmed:
            raise ShopChanged(self.shop_id)

    def refuse(self, say: Callable[..., None], *why: object) -> NoReturn:
        """Refuse the request (403) on a view read afresh, and say why in the log then."""
        self.afresh_before_answering()
        say(*why)
        abort(403)


def find_shop(session: Session, slug: str, provider: str, *, recent: bool = False) -> Found:
    """The shop (its id, its settings for this provider), read in the webhook's own
    transaction with one short query, or 404 for a slug nobody loaded or a shop that does
    not use the provider. `recent`: a chat message on PostgreSQL, whose first call
    confirms the shop's view (core/chats.take_message): then the view this process last
    found, with no query, when it has one."""
    if len(slug) > 64:
        abort(404)
    view = recent_view(session, slug) if recent and session.get_bind().dialect.name == "postgresql" else None
    unconfirmed = view is not None
    view = view or shop_view_by_slug(session, slug)
    section = view.spec.providers.get(provider) if view is not None else None
    if section is None:
        if unconfirmed:
            raise ShopChanged(view.shop_id)
        abort(404)
    return Found(view.shop_id, section, unconfirmed)


def afresh_if_the_shop_changed(handle: Callable[..., Any]) -> Callable[[str], Any]:
    """A chat webhook's handler, `handle(slug, recent)`, run on the shop's view this
    process kept (`find_shop(recent=True)`), and once more on a view read afresh when
    that one turns out out of date (ShopChanged: the first run's transaction undone)."""

    @functools.wraps(handle)
    def run(slug: str):
        try:
            return handle(slug, recent=True)
        except ShopChanged:
            return handle(slug, recent=False)

    return run
