"""Helpers that build real shops from the example files for booking stories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.customers import customer_for
from core.models import Service, Shop, Staff
from core.shops import load_shop

# Monday 23 November 2026, 09:00 in Nairobi.
MONDAY_9AM_NAIROBI = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@dataclass
class LoadedShop:
    id: int
    slug: str
    timezone: str
    services: dict[str, int]
    mechanics: dict[str, int]

    def at(self, y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
        """A shop-local wall time as the UTC instant the database stores."""
        return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)


def loaded(db, spec) -> LoadedShop:
    load_shop(db, spec)
    with db.uow() as uow:
        s = uow.session
        shop = s.scalar(select(Shop).where(Shop.slug == spec.slug))
        services = {sv.code: sv.id for sv in s.scalars(select(Service).where(Service.shop_id == shop.id))}
        mechanics = {m.name.split()[0]: m.id for m in s.scalars(
            select(Staff).where(Staff.shop_id == shop.id, Staff.role == "mechanic"))}
        return LoadedShop(shop.id, shop.slug, shop.timezone, services, mechanics)


def new_customer(db, shop: LoadedShop, address: str, language: str = "en") -> int:
    with db.uow() as uow:
        return customer_for(uow.session, shop.id, "telegram", address, language=language).id
