"""Payments: asking for money and applying what the providers report, exactly once.

This module holds the provider-neutral part; the M-Pesa and Kaspi specifics live in
core/mpesa.py and core/kaspi.py (issue 6). `start` records a pending payment in the
booking's transaction and defers the provider call to a job, so the request to
Safaricom or Kaspi happens only once the hold is committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.db import defer
from core.models import Booking, Payment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    payment_id: int
    link: str | None = None


def start(session: Session, booking: Booking, method: str, amount_minor: int, now: datetime) -> Started:
    """Record a pending payment for the booking and queue the request to the provider."""
    purpose = "full" if amount_minor >= booking.price_minor else "deposit"
    payment = Payment(shop_id=booking.shop_id, booking_id=booking.id, provider=method, purpose=purpose,
                      amount_minor=amount_minor, currency=booking.currency, status="pending",
                      created_at=now)  # fmt: skip
    session.add(payment)
    session.flush()
    defer(session, request, payment.id, job_id=f"payment-request-{payment.id}")
    return Started(payment.id)


def request(payment_id: int) -> None:
    """The job that asks the provider for the money (STK push, Kaspi link)."""
    log.warning("payment %s: provider requests are not built yet (issue 6)", payment_id)
