"""Invariant 2 under a storm: the callbacks of 50 M-Pesa payments, each posted 5 times,
concurrently and in random order, over HTTP on PostgreSQL. Half the payments succeed and
half are cancelled; after the storm every payment also receives the opposite answer
(failure after success, success after failure). Each payment is applied exactly once, and
the final states and totals are exact."""

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from sqlalchemy import func, select

from core import availability
from core.models import Booking, OutboxMessage, Payment
from pitstop.fakes.daraja import callback_body
from tests.integration.booking_helpers import loaded
from tests.integration.test_mpesa import DEAD, TOKEN, ask, book, served, utcnow

PAYMENTS, COPIES, AMOUNT = 50, 5, 3500


def test_fifty_payments_each_called_back_five_times_in_random_order_apply_once(pg_db, pg_url, nairobi_spec):
    now = utcnow()
    with served(pg_url, MPESA_API_BASE=DEAD) as (rt, base):
        garage = loaded(rt.db, nairobi_spec)
        with rt.db.uow() as uow:  # weekdays the shop is open: not a holiday, not Christmas Eve's stocktake
            view = availability.shop_view(uow.session, garage.id)
            days = [d for d in (view.local_day(now) + timedelta(days=n) for n in range(2, 40))
                    if d.weekday() < 5 and availability.is_open(uow.session, view, d)][:10]  # fmt: skip
        starts = [garage.at(d.year, d.month, d.day, h) for d in days for h in (9, 11, 15)]
        visits = []
        for i in range(PAYMENTS):  # two lifts: two customers per start
            visit = book(rt, garage, now=now, start=starts[i // 2])
            visits.append((visit, ask(rt, visit, now=now, amount=AMOUNT * 100, checkout=f"ws_CO_STORM_{i:03}")))

        def body(i: int, paid: bool) -> str:
            code = 0 if paid else 1032
            return json.dumps(callback_body(f"ws_CO_STORM_{i:03}", f"m-{i}", code, amount=AMOUNT if paid else None,
                                            receipt=f"STORM{i:05}" if paid else None, phone=254712345678))  # fmt: skip

        def post(data: str) -> int:
            return requests.post(f"{base}/webhooks/mpesa/{TOKEN}", data=data, timeout=60,
                                 headers={"Content-Type": "application/json"}).status_code  # fmt: skip

        first = [body(i, i % 2 == 0) for i in range(PAYMENTS) for _ in range(COPIES)]
        random.Random(7).shuffle(first)
        then = [body(i, i % 2 == 1) for i in range(PAYMENTS)]  # the opposite answer, afterwards
        random.Random(8).shuffle(then)
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(post, first)) + list(pool.map(post, then))
        assert codes == [200] * (PAYMENTS * COPIES + PAYMENTS)

        with rt.db.uow() as uow:
            s = uow.session
            by_status = dict(s.execute(select(Payment.status, func.count()).group_by(Payment.status)).all())
            paid_total = s.scalar(select(func.sum(Payment.amount_minor)).where(Payment.status == "completed"))
            receipts = set(s.scalars(select(Payment.receipt).where(Payment.receipt.is_not(None))))
            bookings = dict(s.execute(select(Booking.status, func.count()).group_by(Booking.status)).all())
            messages = {v.address: s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.address == v.address)) for v, _ in visits}  # fmt: skip
        assert by_status == {"completed": 25, "failed": 25}
        assert paid_total == 25 * AMOUNT * 100
        assert receipts == {f"STORM{i:05}" for i in range(0, PAYMENTS, 2)}
        assert bookings == {"confirmed": 25, "held": 25}  # a failed payment leaves the hold to retry
        assert set(messages.values()) == {1}  # each customer told once, whatever the storm
