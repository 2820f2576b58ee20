"""Finding the shop a webhook is addressed to (by the slug in its path)."""

from __future__ import annotations

from flask import abort
from sqlalchemy.orm import Session

from core.availability import shop_view_by_slug


def find_shop(session: Session, slug: str, provider: str) -> tuple[int, dict]:
    """The shop's id and its settings for this provider, read in the webhook's own
    transaction (one short query), or 404 for a slug nobody loaded or a shop that does
    not use the provider."""
    view = shop_view_by_slug(session, slug) if len(slug) <= 64 else None
    section = view.spec.providers.get(provider) if view is not None else None
    if section is None:
        abort(404)
    return view.shop_id, section
