"""Finding the shop a webhook is addressed to (by the slug in its path)."""

from __future__ import annotations

from flask import abort
from sqlalchemy import select

from core.models import Shop
from core.runtime import Runtime


def find_shop(runtime: Runtime, slug: str) -> int:
    """The shop's id, or 404 for a slug nobody loaded."""
    if len(slug) > 64:
        abort(404)
    with runtime.db.uow() as uow:
        shop_id = uow.session.scalar(select(Shop.id).where(Shop.slug == slug))
    if shop_id is None:
        abort(404)
    return shop_id
