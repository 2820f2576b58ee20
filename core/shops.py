"""Loading a shop file into the database, as often as the operator likes.

Loading is an upsert keyed on the shop's slug and each item's code (staff by phone):
loading the same file twice changes nothing, and a changed file changes only what
differs. Items missing from a newer file are deactivated, never deleted, because
bookings point at them. Stock levels are set only when a part is new: afterwards they
belong to the workshop (jobs consume parts, owners restock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.availability import touch_shop
from core.db import Database
from core.models import Bay, Booking, Closure, Part, Service, Shop, Staff, utcnow
from core.shopfile import ShopFileError, ShopSpec, parse_shop


@dataclass
class LoadReport:
    """What a load did, for the operator: created or not, and each change made."""

    slug: str
    shop_id: int | None = None
    created: bool = False
    changes: list[str] = field(default_factory=list)
    mechanics_gone: list[int] = field(default_factory=list)  # in the shop before, not in this file
    days_closed: list[date] = field(default_factory=list)  # closed by this file
    hours_changed: bool = False  # its opening hours, closures or public holidays differ from the last load
    outside_hours: list[str] = field(default_factory=list)  # visits booked that the hours now leave out


def load_shop(db: Database, spec: ShopSpec, now: datetime | None = None) -> LoadReport:
    """Create or update the shop described by `spec` in one transaction. Then, as `/close`
    and going off shift do, the times only held on a day the file closes, or at hours it
    no longer opens, are let go, and the future jobs of a mechanic no longer in the file
    are handed on, and waits for a day it no longer opens end: each in a transaction of
    its own (the days' locks before the shop's row, as every writer). Visits booked at
    hours it no longer opens are reported."""
    from core import owner, shopfloor, waitlist  # they build on the shop this module writes

    now = now or utcnow()
    with db.uow() as uow:
        report = _load(uow.session, spec)
    for day in report.days_closed:
        with db.uow() as uow:
            owner.let_go_holds_on(uow.session, report.shop_id, day, now)
    if report.hours_changed:
        with db.uow() as uow:
            report.outside_hours = owner.after_new_hours(uow.session, report.shop_id, now, report.days_closed)
        with db.uow() as uow:
            waitlist.end_waits_on_closed_days(uow.session, report.shop_id, now)
    for staff_id in report.mechanics_gone:
        with db.uow() as uow:
            shopfloor.hand_on(uow.session, uow.session.get(Staff, staff_id), "system:shop file", now, left=True)
    return report


def shop_spec(shop: Shop) -> ShopSpec:
    """The validated rules of a stored shop (its file, as last loaded or edited)."""
    return parse_shop(shop.config, stored=True)


def repeated_prefixes(named: list[tuple[str, ShopSpec]]) -> list[tuple[str, str]]:
    """(name, problem) for each shop file that gives another shop's prefix again, among
    files loaded together: found before anything is written."""
    first: dict[str, tuple[str, str]] = {}
    problems = []
    for name, spec in named:
        other_name, other_slug = first.setdefault(spec.code_prefix, (name, spec.slug))
        if other_slug != spec.slug:
            problems.append((name, _prefix_problem(spec.code_prefix, f"is also the prefix in {other_name}")))
    return problems


def _refuse_a_prefix_taken(session: Session, spec: ShopSpec) -> None:
    """Booking codes never repeat: a prefix another shop has, or had (its bookings carry
    it), would number MM-1001 again. Loads take turns here on PostgreSQL, so that two
    at once cannot both find a prefix free."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOADING})
    prefix = spec.code_prefix
    now = session.scalar(select(Shop.slug).where(Shop.code_prefix == prefix, Shop.slug != spec.slug).limit(1))
    if now:
        raise ShopFileError([_prefix_problem(prefix, f"is already the prefix of shop {now}")])
    once = session.scalar(select(Shop.slug).join(Booking, Booking.shop_id == Shop.id)
                          .where(Booking.code.like(f"{prefix}-%"), Shop.slug != spec.slug).limit(1))  # fmt: skip
    if once:
        raise ShopFileError([_prefix_problem(prefix, f"is in the booking codes of shop {once}")])


def _prefix_problem(prefix: str, why: str) -> str:
    return f"code_prefix: {prefix!r} {why}; give each shop its own, so booking codes never repeat"


_LOADING = 7_370_001  # the advisory lock loads take turns on (one bigint key, apart from the day locks)


def _load(session: Session, spec: ShopSpec) -> LoadReport:
    report = LoadReport(spec.slug)
    _refuse_a_prefix_taken(session, spec)
    shop = session.scalar(select(Shop).where(Shop.slug == spec.slug).with_for_update())
    if shop is None:
        shop = Shop(slug=spec.slug, next_booking_number=1001)
        session.add(shop)
        report.created = True
    filed_before = _closures_in(shop.config)
    report.hours_changed = not report.created and _calendar_of(shop.config) != _calendar_of(json_safe(spec.raw))
    _update(shop, report, "shop", name=spec.name, timezone=spec.timezone,
            currency=spec.currency, country=spec.country, languages=list(spec.languages),
            code_prefix=spec.code_prefix, config=json_safe(spec.raw))  # fmt: skip
    session.flush()
    report.shop_id = shop.id

    services = {s.code: s for s in session.scalars(select(Service).where(Service.shop_id == shop.id))}
    for item in spec.services:
        row = services.pop(item.code, None) or _new(session, report, Service(shop_id=shop.id, code=item.code), f"service {item.code}")
        _update(row, report, f"service {item.code}", names=item.names, category=item.category,
                duration_minutes=item.duration_minutes, price_minor=item.price_minor,
                deposit_minor=item.deposit_minor, deposit_percent=item.deposit_percent,
                parts=item.parts, active=True)  # fmt: skip
    _deactivate(services.values(), report, "service")

    bays = {b.code: b for b in session.scalars(select(Bay).where(Bay.shop_id == shop.id))}
    for item in spec.bays:
        row = bays.pop(item.code, None) or _new(session, report, Bay(shop_id=shop.id, code=item.code), f"bay {item.code}")
        _update(row, report, f"bay {item.code}", name=item.name, active=True)
    _deactivate(bays.values(), report, "bay")

    staff = {s.phone: s for s in session.scalars(select(Staff).where(Staff.shop_id == shop.id))}
    for item in spec.staff:
        row = staff.pop(item.phone, None) or _new(session, report, Staff(shop_id=shop.id, phone=item.phone, on_shift=True), f"staff {item.name}")
        back = {"on_shift": True} if row.active is False else {}  # taken out of the file before: off shift since
        _update(row, report, f"staff {item.name}", name=item.name, role=item.role,
                skills=list(item.skills), language=item.language, active=True, **back)  # fmt: skip
    report.mechanics_gone = [s.id for s in staff.values() if s.active and s.role == "mechanic"]
    _deactivate(staff.values(), report, "staff")

    parts = {p.code: p for p in session.scalars(select(Part).where(Part.shop_id == shop.id))}
    for item in spec.parts:
        row = parts.pop(item.code, None) or _new(session, report, Part(shop_id=shop.id, code=item.code, stock=item.stock), f"part {item.code}")
        _update(row, report, f"part {item.code}", name=item.name, min_level=item.min_level)

    closures = {c.day: c for c in session.scalars(select(Closure).where(Closure.shop_id == shop.id))}
    filed_now = _closures_in(shop.config)
    for item in spec.closures:
        row = closures.get(item.day)
        if row is not None and filed_before.get(item.day.isoformat()) == filed_now.get(item.day.isoformat()):
            continue  # the file says what it said before: the owner's word since (/open, /close in chat) stands
        if item.closed and not (row is not None and row.closed):
            report.days_closed.append(item.day)
        row = row or _new(session, report, Closure(shop_id=shop.id, day=item.day), f"closure {item.day}")
        _update(row, report, f"closure {item.day}", closed=item.closed, reason=item.reason)
    session.flush()
    if report.changes and not report.created:
        touch_shop(session, shop.id)
    return report


def _calendar_of(config: dict | None) -> tuple:
    """What a stored shop file says of when the shop opens."""
    config = config or {}
    return config.get("hours"), config.get("closures"), config.get("public_holidays", True)


def _closures_in(config: dict | None) -> dict[str, dict]:
    """A stored shop file's closures by day (ISO dates, as stored)."""
    items = (config or {}).get("closures")
    return {str(i.get("date")): i for i in items if isinstance(i, dict)} if isinstance(items, list) else {}


def _new(session: Session, report: LoadReport, row, label: str):
    session.add(row)
    report.changes.append(f"{label}: added")
    return row


def _update(row, report: LoadReport, label: str, **values) -> None:
    for name, value in values.items():
        if getattr(row, name, None) != value:
            if row.id is not None:
                report.changes.append(f"{label}: {name} changed")
            setattr(row, name, value)


def _deactivate(rows, report: LoadReport, label: str) -> None:
    for row in rows:
        if row.active:
            row.active = False
            report.changes.append(f"{label} {getattr(row, 'code', None) or row.name}: deactivated (no longer in the file)")


def json_safe(value: Any) -> Any:
    """TOML dates and times as ISO strings, so the file can be kept in a JSON column."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
