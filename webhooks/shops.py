"""Finding the shop a webhook is addressed to (by the slug in its path)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

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
    view = None
    if recent and len(slug) <= 64 and session.get_bind().dialect.name == "postgresql":
        view = recent_view(session, slug)
    unconfirmed = view is not None
    if view is None:
        view = shop_view_by_slug(session, slug) if len(slug) <= 64 else None
    section = view.spec.providers.get(provider) if view is not None else None
    if section is None:
        if unconfirmed:
            raise ShopChanged(view.shop_id)
        abort(404)
    return Found(view.shop_id, section, unconfirmed)
