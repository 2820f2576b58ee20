"""Parts in stock: completing a job uses the parts its services list; an owner restocks.

A part that falls below its minimum is reported to the owners at once (and again in the
daily digest). Part rows are locked in code order after the booking row, the one order
every writer uses, so two jobs finishing at once never deadlock or lose a decrement.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import notices
from core.i18n import N_
from core.messages import Msg, Reply
from core.models import Booking, Part, Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StockLine:
    code: str
    name: str
    stock: int
    min_level: int

    @property
    def low(self) -> bool:
        return self.stock < self.min_level


def levels(session: Session, shop_id: int) -> list[StockLine]:
    rows = session.scalars(select(Part).where(Part.shop_id == shop_id).order_by(Part.code))
    return [StockLine(p.code, p.name, p.stock, p.min_level) for p in rows]


def used_by(session: Session, booking: Booking) -> Counter:
    """The parts the booking's services use, by part code."""
    used: Counter = Counter()
    for item in booking.items:
        if item.kind == "service" and item.service_id:
            service = session.get(Service, item.service_id)
            for code, qty in (service.parts or {}).items():
                used[code] += int(qty)
    return used


def consume_for_booking(session: Session, booking: Booking, now: datetime) -> list[StockLine]:
    """Take the job's parts out of stock; returns the parts that went below their minimum
    with this job (the owners are told about each at once)."""
    used = used_by(session, booking)
    if not used:
        return []
    rows = session.scalars(select(Part).where(Part.shop_id == booking.shop_id, Part.code.in_(sorted(used)))
                           .order_by(Part.code).with_for_update())  # fmt: skip
    fell = []
    for part in rows:
        before = part.stock
        if before < used[part.code]:
            log.warning("part %s of shop %s: job %s used %d but only %d were in stock",
                        part.code, part.shop_id, booking.code, used[part.code], before)  # fmt: skip
        part.stock = max(before - used[part.code], 0)
        if part.stock < part.min_level <= before:
            fell.append(StockLine(part.code, part.name, part.stock, part.min_level))
    for line in fell:
        reply = Reply((Msg(N_("Low stock: {part} is down to {stock} (minimum {min}). Restock with /restock {code} QTY."),
                           {"part": line.name, "stock": line.stock, "min": line.min_level, "code": line.code}),))  # fmt: skip
        notices.tell_owners(session, booking.shop_id, reply, f"lowstock:{line.code}:{booking.id}", now)
    return fell


class UnknownPart(LookupError):
    pass


def restock(session: Session, shop_id: int, code: str, qty: int) -> StockLine:
    """Add `qty` to a part's stock."""
    part = session.scalar(select(Part).where(Part.shop_id == shop_id, Part.code == code).with_for_update())
    if part is None:
        raise UnknownPart(code)
    part.stock += qty
    return StockLine(part.code, part.name, part.stock, part.min_level)
