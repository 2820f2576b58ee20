"""Finding the shop a webhook is addressed to (by the slug in its path)."""

from __future__ import annotations

from flask import abort
from sqlalchemy import select

from core.availability import shop_view
from core.models import Shop
from core.runtime import Runtime


def find_shop(runtime: Runtime, slug: str, provider: str) -> tuple[int, dict]:
    """The shop's id and its settings for this provider (one short read), or 404 for a
    slug nobody loaded or a shop that does not use the provider."""
    if len(slug) > 64:
        abort(404)
    with runtime.db.uow() as uow:
        shop_id = uow.session.scalar(select(Shop.id).where(Shop.slug == slug))
        section = shop_view(uow.session, shop_id).spec.providers.get(provider) if shop_id else None
    if section is None:
        abort(404)
    return shop_id, section
