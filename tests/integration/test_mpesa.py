"""M-Pesa stories: a customer pays by STK push, and every answer Safaricom can give is
applied exactly once — duplicates, concurrent deliveries, answers out of order, forged
amounts, late payments, and the STK query when no callback comes.

Callbacks are the fixture bodies from /work/shared/fixtures/mpesa (real format), or the
ones FakeDaraja posts. Times are real (the push job and the webhook read the clock), so
bookings are made for a weekday a few days ahead of now.
"""

from __future__ import annotations

import http.server
import itertools
import json
import socketserver
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from core import availability, mpesa, owner, payments, shopfloor
from core import booking as bk
from core.booking import Held
from core.customers import customer_for
from core.messages import Reply, render_reply
from core.models import Booking, BookingEvent, Customer, InboxUpdate, OutboxMessage, Payment
from core.runtime import build_runtime
from core.shopfile import read_shop_file
from core.shops import load_shop
from pitstop.fakes.daraja import SANDBOX_PASSKEY, FakeDaraja, callback_body, stk_password
from pitstop.fakes.server import Receiver
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.conftest import ATYRAU, FIXTURES, NAIROBI, make_settings
from tests.integration.booking_helpers import LoadedShop, loaded
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, Pitstop, shop_env
from webhooks import create_app

TOKEN = "7f3c9a2e41b84d0c9d2b6a1f5e0c3b7d"
DEAD = "http://127.0.0.1:9"  # nothing listens: a stray delivery fails at once, offline
PHONE = "+254712345678"  # FakeDaraja: any number not ending in a special suffix pays
SECRETS = {
    "MWANGAZA_MPESA_SHORTCODE": "174379",
    "MWANGAZA_MPESA_PASSKEY": SANDBOX_PASSKEY,
    "MWANGAZA_MPESA_CONSUMER_KEY": "fake-consumer-key",
    "MWANGAZA_MPESA_CONSUMER_SECRET": "fake-consumer-secret",
    "MPESA_CALLBACK_TOKEN": TOKEN,
    "TELEGRAM_API_BASE": DEAD,
    "TWILIO_API_BASE": DEAD,
}


# -- helpers (test_kaspi.py uses them too) ----------------------------------------------------


def fixture(path: str) -> dict:
    data = json.loads((FIXTURES / path).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def pitstop(url: str, **env):
    """The runtime every job and the web app use (jobs run in-process, after commit)."""
    rt = build_runtime(make_settings(url, **(SECRETS | env)))
    try:
        yield rt
    finally:
        rt.close()


class Late:
    """A WSGI app set after the server knows its port (PUBLIC_BASE_URL needs the port)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@contextmanager
def served(url: str, **env):
    """Pitstop's Flask app on a real 127.0.0.1 port, threaded, so fakes can call it."""
    late = Late()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    with pitstop(url, **(env | {"PUBLIC_BASE_URL": base})) as rt:
        late.app = create_app(rt)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield rt, base
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


SEQ = itertools.count(1)


@dataclass
class Visit:
    booking_id: int
    code: str
    customer_id: int
    address: str
    starts_at: datetime


def book(rt, shop: LoadedShop, *, phone: str | None = PHONE, service: str = "oil-change", now: datetime,
         address: str | None = None, start: datetime | None = None, language: str = "en") -> Visit:  # fmt: skip
    """A customer (reached on the console channel) holds the first weekday slot at 10:00
    a few days after `now` (or `start`)."""
    address = address or f"customer-{next(SEQ)}"
    with rt.db.uow() as uow:
        customer = customer_for(uow.session, shop.id, "console", address, language=language, phone=phone).id
    starts = [start] if start else [
        shop.at(d.year, d.month, d.day, 10) for d in (now + timedelta(days=n) for n in range(2, 16))
        if d.weekday() < 5]  # fmt: skip
    for when in starts:
        held = bk.hold(rt.db, shop_id=shop.id, customer_id=customer, service_ids=(shop.services[service],),
                       start=when, now=now, channel="console", payment_method="mpesa")  # fmt: skip
        if isinstance(held, Held):
            return Visit(held.booking_id, held.code, customer, address, held.starts_at)
    raise AssertionError(f"no slot for {service} after {now}")


def ask(rt, visit: Visit, *, now: datetime, method: str = "mpesa", amount: int | None = None,
        checkout: str | None = None, purpose: str | None = None) -> int:  # fmt: skip
    """payments.start, as the chat calls it. With `checkout`, the push is taken as sent
    with that CheckoutRequestID (the push job then leaves it alone)."""
    with rt.db.uow() as uow:
        s = uow.session
        row = s.get(Booking, visit.booking_id)
        started = payments.start(s, row, method, amount or row.deposit_minor or row.price_minor, now, purpose)
        if checkout:
            p = s.get(Payment, started.payment_id)
            p.provider_ref, p.provider_status, p.requested_at = checkout, "sent", now
            p.next_check_at, p.give_up_at = now + mpesa.QUERY_AFTER, now + mpesa.GIVE_UP_AFTER
        return started.payment_id


def payment(rt, payment_id: int) -> Payment:
    with rt.db.uow() as uow:
        return uow.session.get(Payment, payment_id)


def status(rt, visit: Visit) -> str:
    with rt.db.uow() as uow:
        return uow.session.get(Booking, visit.booking_id).status


def moves(rt, visit: Visit) -> list[tuple[str | None, str, str]]:
    with rt.db.uow() as uow:
        return [(e.from_status, e.to_status, e.actor) for e in uow.session.scalars(
            select(BookingEvent).where(BookingEvent.booking_id == visit.booking_id).order_by(BookingEvent.id))]


@dataclass
class Told:
    key: str | None
    ids: list[str]
    choices: list[str]
    text: str


def told(rt, address: str) -> list[Told]:
    """What was written to this address through the outbox, oldest first."""
    with rt.db.uow() as uow:
        rows = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.address == address)
                                   .order_by(OutboxMessage.id))  # fmt: skip
        out = []
        for row in rows:
            reply = Reply.from_json(row.body)
            text, _ = render_reply(reply, row.language)
            out.append(Told(row.dedupe_key, [t.id for t in reply.texts], [c.id for c in reply.choices], text))
        return out


def owners_told(rt) -> list[Told]:
    return told(rt, "whatsapp:+254711000001")  # the Nairobi owner, from the shop file


def inbox_rows(rt, source: str = "mpesa") -> list[tuple[str, str | None]]:
    with rt.db.uow() as uow:
        return [(r.external_id, r.outcome) for r in uow.session.scalars(
            select(InboxUpdate).where(InboxUpdate.source == source).order_by(InboxUpdate.id))]


def for_checkout(body: dict, checkout: str, amount: float | None = None) -> dict:
    body = json.loads(json.dumps(body))
    cb = body["Body"]["stkCallback"]
    cb["CheckoutRequestID"] = checkout
    if amount is not None:
        for item in cb["CallbackMetadata"]["Item"]:
            if item["Name"] == "Amount":
                item["Value"] = amount
    return body


def post(client, body, payment_id: int | None = None, token: str = TOKEN):
    path = f"/webhooks/mpesa/{token}" + (f"/{payment_id}" if payment_id else "")
    return client.post(path, data=json.dumps(body), content_type="application/json;charset=UTF-8")


@pytest.fixture
def now():
    return utcnow()


@pytest.fixture
def world(url, nairobi_spec):
    """Pitstop on this backend with the Nairobi garage loaded; no Daraja needed."""
    with pitstop(url, MPESA_API_BASE=DEAD, PUBLIC_BASE_URL="https://bot.example.com") as rt:
        yield rt, loaded(rt.db, nairobi_spec), create_app(rt).test_client()


SUCCESS = fixture("mpesa/callback_success.json")
SUCCESS_ID = SUCCESS["Body"]["stkCallback"]["CheckoutRequestID"]


# -- paying ------------------------------------------------------------------------------------


def test_customer_pays_deposit_by_mpesa_and_the_booking_is_confirmed(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)  # the fixture paid KES 1.00

    answer = post(client, SUCCESS)

    assert (answer.status_code, answer.json) == (200, {"ResultCode": 0, "ResultDesc": "Accepted"})
    p = payment(rt, pid)
    assert (p.status, p.receipt, p.amount_minor, p.next_check_at) == ("completed", "NCB9FJNAIT", 100, None)
    assert status(rt, visit) == "confirmed"
    assert moves(rt, visit)[-1] == ("held", "confirmed", "system:mpesa")
    [message] = told(rt, visit.address)
    assert message.key == f"payment:{pid}:settled"
    assert message.ids == [payments.PAID_RECEIPT, payments.CONFIRMED]
    assert message.text.startswith(f"Payment received: Ksh1 (receipt NCB9FJNAIT).\nBooking {visit.code} is confirmed for ")
    assert inbox_rows(rt) == [(f"{SUCCESS_ID}:0:{mpesa.digest(SUCCESS)}", "applied: paid NCB9FJNAIT (confirm)")]



def ready_with_the_balance_asked(live, now):
    """Brake pads (KES 4,500), the deposit paid, the car ready, "Pay now" tapped: the
    visit and the balance's pending payment."""
    rt, garage, client, fake, sink = live
    visit = book(rt, garage, now=now, service="brake-pads")  # KES 4,500, deposit 1,000
    ask(rt, visit, now=now)
    post(client, sink.wait_for_request()[0].json)
    with rt.db.uow() as uow:
        row = bk.locked_booking(uow.session, visit.booking_id)
        for to in ("received", "ready"):
            bk.move(uow.session, row, to, "staff:1", now)
        balance = payments.pay_balance(uow.session, visit.booking_id, "mpesa", now, customer_id=visit.customer_id)
    return visit, balance


def test_a_failed_balance_payment_offers_to_try_again_with_a_button(live, now):
    """"Pay now" for the balance, then the PIN prompt is cancelled: the customer was told
    "You can also pay at the shop." with no way to try again but to find the old message."""
    rt, garage, client, fake, sink = live
    visit, balance = ready_with_the_balance_asked(live, now)
    checkout = sink.wait_for_request(count=2)[1].json["Body"]["stkCallback"]["CheckoutRequestID"]
    post(client, callback_body(checkout, "1-1-1", 1032))

    assert payment(rt, balance.payment_id).status == "failed"
    failed = told(rt, visit.address)[-1]
    assert failed.text == (f"You cancelled the M-Pesa payment for booking {visit.code}.\n"
                           "Try again now, or pay at the shop when you collect it.")  # fmt: skip
    assert failed.choices == [f"paybalance:{visit.booking_id}:mpesa", f"paybalance:{visit.booking_id}:mpesa:other"]


def test_a_balance_payment_failing_after_the_customer_paid_at_the_shop_says_nothing(live, now):
    rt, garage, client, fake, sink = live
    visit, balance = ready_with_the_balance_asked(live, now)
    with rt.db.uow() as uow:  # she paid the mechanic in cash and drove off
        mechanic = uow.session.get(Booking, visit.booking_id).mechanic_id
        shopfloor.complete(uow.session, mechanic, visit.booking_id, now, cash_paid=True)
    before = told(rt, visit.address)
    checkout = sink.wait_for_request(count=2)[1].json["Body"]["stkCallback"]["CheckoutRequestID"]
    post(client, callback_body(checkout, "1-1-1", 1032))

    assert payment(rt, balance.payment_id).status == "failed"
    assert told(rt, visit.address) == before


def test_the_payment_result_carries_the_status_template_for_a_customer_gone_quiet(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)

    post(client, SUCCESS)

    with rt.db.uow() as uow:  # on WhatsApp, past the 24-hour window, only this template can go
        body = uow.session.scalar(select(OutboxMessage.body).where(OutboxMessage.dedupe_key == f"payment:{pid}:settled"))
    assert (body["template"], body["variables"]["code"], body["variables"]["status"]) == ("status", visit.code, "confirmed")


def test_a_second_request_while_the_first_prompt_is_open_is_refused(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    ask(rt, visit, now=now)  # the prompt is on the customer's phone

    with pytest.raises(payments.AlreadyAsked):  # "Pay now" or "Try again" tapped again
        ask(rt, visit, now=now, purpose="balance")

    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Payment)) == 1

def test_a_success_read_by_item_name_whatever_the_order_and_without_balance(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, checkout="ws_CO_4ITEMS")
    body = callback_body("ws_CO_4ITEMS", "1-2-3", 0, amount=3500, receipt="QKH94M1Z11", phone=254712345678,
                         include_balance=False)  # fmt: skip
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"].reverse()

    assert post(client, body).status_code == 200
    assert (payment(rt, pid).status, payment(rt, pid).receipt) == ("completed", "QKH94M1Z11")


FAILURES = [
    ("mpesa/callback_cancelled_1032.json", "cancelled", "You cancelled the M-Pesa payment for booking {code}."),
    ("mpesa/callback_wrong_pin_2001.json", "wrong_pin",
     "The M-Pesa PIN was wrong, so the payment for booking {code} did not go through."),
    ("mpesa/callback_insufficient_funds_1.json", "insufficient_funds",
     "Your M-Pesa balance was too low to pay Ksh1 for booking {code}."),
]  # fmt: skip


@pytest.mark.parametrize("path, kind, sentence", FAILURES, ids=["1032", "2001", "1"])
def test_a_failed_mpesa_payment_tells_the_customer_and_offers_to_try_again(world, now, path, kind, sentence):
    rt, garage, client = world
    body = fixture(path)
    cb = body["Body"]["stkCallback"]
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=cb["CheckoutRequestID"])

    assert post(client, body).json == {"ResultCode": 0, "ResultDesc": "Accepted"}

    p = payment(rt, pid)
    assert (p.status, p.failure_code, p.failure_reason) == ("failed", str(cb["ResultCode"]), cb["ResultDesc"])
    assert status(rt, visit) == "held"  # the hold lasts: the customer can try again
    [message] = told(rt, visit.address)
    assert message.ids == [payments.FAILURE_TEXT[payments.FailureKind(kind)], payments.STILL_HELD]
    assert message.text.split("\n")[0] == sentence.format(code=visit.code)
    assert message.choices == [f"payagain:{visit.booking_id}:mpesa", f"payagain:{visit.booking_id}:mpesa:other",
                               f"payagain:{visit.booking_id}:cash"]  # fmt: skip


@pytest.mark.parametrize("code", [1019, 1036, 17, 1025])
def test_other_failure_codes_fail_the_payment_with_a_plain_message(world, now, code):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, checkout=f"ws_CO_F{code}")
    post(client, callback_body(f"ws_CO_F{code}", "1-1-1", code))
    assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", str(code))
    assert told(rt, visit.address)[0].ids[0] == payments.FAILURE_TEXT[payments.FailureKind.DECLINED]


@pytest.mark.parametrize("path, code", [("mpesa/callback_timeout_1037.json", 1037), (None, 4242)])
def test_no_answer_and_unknown_codes_are_not_failures_and_wait_for_the_query(world, now, path, code):
    rt, garage, client = world
    body = fixture(path) if path else callback_body("ws_CO_UNKNOWN", "1-1-1", code, result_desc="Something new")
    checkout = body["Body"]["stkCallback"]["CheckoutRequestID"]
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, checkout=checkout)

    assert post(client, body).status_code == 200

    p = payment(rt, pid)
    assert (p.status, p.provider_status, p.failure_code) == ("pending", str(code), None)
    assert timedelta(0) < p.next_check_at - datetime.now(UTC) <= mpesa.RECHECK_EVERY
    assert status(rt, visit) == "held"
    assert told(rt, visit.address) == []
    assert inbox_rows(rt)[0][1].startswith("pending: ")


# -- exactly once ------------------------------------------------------------------------------


def test_the_same_callback_five_times_is_applied_once(world, now):
    rt, garage, client = world
    delivery = fixture("mpesa/callback_duplicate_delivery.json")["deliveries"][0]
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=delivery["Body"]["stkCallback"]["CheckoutRequestID"])

    answers = [post(client, delivery) for _ in range(5)]

    assert [(a.status_code, a.json["ResultCode"]) for a in answers] == [(200, 0)] * 5
    assert (payment(rt, pid).status, payment(rt, pid).receipt) == ("completed", "QKH94M1Z11")
    assert [m for m in moves(rt, visit) if m[1] == "confirmed"] == [("held", "confirmed", "system:mpesa")]
    assert len(told(rt, visit.address)) == 1
    assert len(inbox_rows(rt)) == 1


def test_twenty_concurrent_deliveries_on_postgresql_apply_once(pg_only, nairobi_spec, now):
    with served(pg_only, MPESA_API_BASE=DEAD) as (rt, base):
        garage = loaded(rt.db, nairobi_spec)
        visit = book(rt, garage, now=now)
        pid = ask(rt, visit, now=now, checkout="ws_CO_RACE")
        body = json.dumps(callback_body("ws_CO_RACE", "9-9-1", 0, amount=3500, receipt="RACE123456"))
        start = threading.Barrier(20)
        answers = []

        def deliver():
            start.wait()
            answers.append(requests.post(f"{base}/webhooks/mpesa/{TOKEN}", data=body, timeout=30,
                                         headers={"Content-Type": "application/json"}))  # fmt: skip

        threads = [threading.Thread(target=deliver) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert sorted((a.status_code, a.json()["ResultCode"]) for a in answers) == [(200, 0)] * 20
        assert (payment(rt, pid).status, payment(rt, pid).receipt) == ("completed", "RACE123456")
        assert [m[1] for m in moves(rt, visit)] == ["held", "confirmed"]
        assert [t.key for t in told(rt, visit.address)] == [f"payment:{pid}:settled"]
        assert len(inbox_rows(rt)) == 1


def test_twenty_concurrent_different_answers_on_postgresql_leave_one_result(pg_only, nairobi_spec, now):
    """Ten deliveries say paid, ten say cancelled, all at once: one of them wins."""
    with pitstop(pg_only, MPESA_API_BASE=DEAD) as rt:
        garage = loaded(rt.db, nairobi_spec)
        visit = book(rt, garage, now=now)
        pid = ask(rt, visit, now=now, checkout="ws_CO_MIXED")
        bodies = [callback_body("ws_CO_MIXED", "9-9-2", 0, amount=3500, receipt="MIX0000001")] * 10 + \
                 [callback_body("ws_CO_MIXED", "9-9-2", 1032)] * 10  # fmt: skip
        start = threading.Barrier(20)
        outcomes = []

        def deliver(body):
            start.wait()
            raw = json.dumps(body).encode()
            cb = mpesa.StkCallback.parse(body)
            rec = mpesa.record(rt.db, cb, body, raw, utcnow())
            if not rec.duplicate:
                outcomes.append(mpesa.apply_callback(rt.db, rec.inbox_id, cb, utcnow()))

        threads = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert len(outcomes) == 2  # two distinct bodies recorded, each once
        assert sorted(o.split(":")[0] for o in outcomes) == ["applied", "ignored"]
        assert payment(rt, pid).status in ("completed", "failed")
        assert len(told(rt, visit.address)) == 1


def test_a_failure_after_a_success_changes_nothing(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    post(client, SUCCESS)
    late_failure = callback_body(SUCCESS_ID, "19918-3028728-2", 1032)

    assert post(client, late_failure).status_code == 200

    assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")
    assert len(told(rt, visit.address)) == 1
    assert inbox_rows(rt)[-1][1] == "ignored: payment already completed"
    assert owners_told(rt) == []


def test_a_success_after_a_failure_is_refused_and_the_owner_is_told(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    post(client, callback_body(SUCCESS_ID, "19918-3028728-2", 1032))

    assert post(client, SUCCESS).status_code == 200

    assert (payment(rt, pid).status, payment(rt, pid).receipt, status(rt, visit)) == ("failed", None, "held")
    assert [t.ids for t in told(rt, visit.address)] == [[payments.FAILURE_TEXT["cancelled"], payments.STILL_HELD]]
    assert inbox_rows(rt)[-1][1] == "ignored: payment already failed"
    [report] = owners_told(rt)
    assert report.ids == [payments.OWNER_CONTRADICTION]
    assert "NCB9FJNAIT" in report.text and visit.code in report.text


def test_a_forged_amount_is_refused_recorded_and_reported_and_changes_nothing(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, checkout=SUCCESS_ID)  # asked for the full KES 3,500

    assert post(client, SUCCESS).json == {"ResultCode": 0, "ResultDesc": "Accepted"}  # says KES 1.00

    p = payment(rt, pid)
    assert (p.status, p.receipt, status(rt, visit)) == ("pending", None, "held")
    assert inbox_rows(rt)[0][1] == "refused: amount 1.0 KES, expected 3500.00 KES"
    assert told(rt, visit.address) == []
    [report] = owners_told(rt)
    assert report.text == (f"A payment notice from M-Pesa for booking {visit.code} was refused, and nothing "
                           "was changed: it says Ksh1, but Ksh3,500 was asked.")  # fmt: skip
    with rt.db.uow() as uow:  # on WhatsApp, the staff template carries it when the 24-hour window is closed
        body = uow.session.scalar(select(OutboxMessage.body).where(OutboxMessage.address == "whatsapp:+254711000001"))
    assert (body["template"], body["variables"]["name"]) == ("staff_notice", "Wanjiru")


def test_a_success_without_a_receipt_is_refused_and_the_owner_told_why(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    body = json.loads(json.dumps(SUCCESS))
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"] = [i for i in items if i["Name"] != "MpesaReceiptNumber"]

    post(client, body)

    assert payment(rt, pid).status == "pending"
    [report] = owners_told(rt)
    assert report.text == (f"A payment notice from M-Pesa for booking {visit.code} was refused, and nothing was "
                           "changed: it says the payment went through but gives no receipt number or no amount.")  # fmt: skip


def test_an_unknown_checkout_request_id_is_refused_and_recorded(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, checkout="ws_CO_OURS")

    assert post(client, SUCCESS).status_code == 200

    assert payment(rt, pid).status == "pending" and status(rt, visit) == "held"
    assert inbox_rows(rt)[0][1] == "refused: unknown CheckoutRequestID"
    assert told(rt, visit.address) == []


def test_a_callback_naming_another_payment_in_its_path_is_refused(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, checkout="ws_CO_OURS")

    post(client, for_checkout(SUCCESS, "ws_CO_SOMEONE_ELSE"), payment_id=pid)

    assert payment(rt, pid).status == "pending"
    assert inbox_rows(rt)[0][1] == f"refused: payment {pid} has another CheckoutRequestID"
    assert [r.ids for r in owners_told(rt)] == [[payments.OWNER_REFUSED]]


def test_a_callback_that_beats_the_push_answer_adopts_its_payment_by_the_path(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    with rt.db.uow() as uow:  # the push went out; its answer is not written yet
        pid = payments.start(uow.session, uow.session.get(Booking, visit.booking_id), "mpesa", 100, now).payment_id
        uow.session.get(Payment, pid).provider_status = "requesting"

    post(client, SUCCESS, payment_id=pid)

    p = payment(rt, pid)
    assert (p.status, p.provider_ref, status(rt, visit)) == ("completed", SUCCESS_ID, "confirmed")


def test_a_wrong_token_is_not_found_and_nothing_is_recorded(world, now):
    rt, garage, client = world
    assert post(client, SUCCESS, token="guess").status_code == 404
    assert inbox_rows(rt) == []


def test_a_body_that_is_not_a_callback_is_recorded_and_rejected(world):
    rt, _, client = world
    answer = client.post(f"/webhooks/mpesa/{TOKEN}", data=b'{"Body": {"stkCallback": {"ResultCode": 0}}}',
                         content_type="application/json")
    assert (answer.status_code, answer.json) == (400, {"ResultCode": 1, "ResultDesc": "Rejected"})
    [(key, outcome)] = inbox_rows(rt)
    assert key.startswith("malformed:") and outcome == "refused: no CheckoutRequestID"


# -- late payments -----------------------------------------------------------------------------


def test_a_payment_after_the_hold_expired_confirms_the_booking_while_the_slot_is_free(world, now):
    rt, garage, client = world
    then = now - timedelta(minutes=20)  # held 20 minutes ago; the 15-minute hold ran out
    visit = book(rt, garage, now=then)
    pid = ask(rt, visit, now=then, amount=100, checkout=SUCCESS_ID)
    assert bk.sweep_expired_holds(rt.db, now) == [visit.booking_id]

    post(client, SUCCESS)

    assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")
    assert [m[:2] for m in moves(rt, visit)] == [(None, "held"), ("held", "expired"), ("expired", "confirmed")]
    assert told(rt, visit.address)[0].ids == [payments.PAID_RECEIPT, payments.CONFIRMED]
    assert owners_told(rt) == []


def test_a_payment_after_the_hold_expired_and_the_time_was_taken_is_refund_due(world, now):
    rt, garage, client = world
    then = now - timedelta(minutes=20)
    visit = book(rt, garage, now=then)
    pid = ask(rt, visit, now=then, amount=100, checkout=SUCCESS_ID)
    for phone in ("+254722000111", "+254722000222"):  # two others take both lifts at that time
        other = book(rt, garage, now=now - timedelta(minutes=1), phone=phone, start=visit.starts_at)
        assert other.starts_at == visit.starts_at

    post(client, SUCCESS)

    p = payment(rt, pid)
    assert (p.status, p.receipt, status(rt, visit)) == ("refund_due", "NCB9FJNAIT", "expired")
    [message] = told(rt, visit.address)
    assert message.ids == [payments.REFUND_SLOT_TAKEN]
    [report] = owners_told(rt)
    assert report.ids == [payments.OWNER_REFUND_SLOT_TAKEN, payments.OWNER_REFUND_HOW]
    assert "Ksh1" in report.text and "NCB9FJNAIT" in report.text and visit.code in report.text


def test_a_payment_for_a_hold_on_a_day_the_owner_closed_meanwhile_is_refund_due(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now - timedelta(minutes=2))
    pid = ask(rt, visit, now=now - timedelta(minutes=2), amount=100, checkout=SUCCESS_ID)  # he is typing his PIN...
    with rt.db.uow() as uow:  # ...when the owner closes the day (/close): his hold is let go
        day = visit.starts_at.astimezone(ZoneInfo("Africa/Nairobi")).date()
        owner.set_day(uow.session, garage.id, day, True, "burst pipe", now)
    assert status(rt, visit) == "expired"

    post(client, SUCCESS)

    assert (payment(rt, pid).status, status(rt, visit)) == ("refund_due", "expired")
    assert [t.ids for t in told(rt, visit.address)] == [[owner.LET_GO], [payments.REFUND_DAY_CLOSED]]
    [report] = owners_told(rt)
    assert report.ids == [payments.OWNER_REFUND_DAY_CLOSED, payments.OWNER_REFUND_HOW]
    assert "NCB9FJNAIT" in report.text and visit.code in report.text


def test_a_day_closed_by_reloading_the_shop_file_lets_go_of_its_holds_and_their_money_goes_back(world, now, tmp_path):
    rt, garage, client = world
    visit = book(rt, garage, now=now - timedelta(minutes=2))
    pid = ask(rt, visit, now=now - timedelta(minutes=2), amount=100, checkout=SUCCESS_ID)  # he is typing his PIN...
    day = visit.starts_at.astimezone(ZoneInfo("Africa/Nairobi")).date()
    text = NAIROBI.read_text(encoding="utf-8")
    edited = tmp_path / "nairobi.toml"  # ...when the operator closes that day in the shop file and loads it
    edited.write_text(text.replace("closures = [\n", f'closures = [\n  {{ date = {day.isoformat()}, reason = "Burst pipe" }},\n'),
                      encoding="utf-8")  # fmt: skip
    assert load_shop(rt.db, read_shop_file(edited), now).days_closed == [day]
    assert status(rt, visit) == "expired"

    post(client, SUCCESS)

    assert (payment(rt, pid).status, status(rt, visit)) == ("refund_due", "expired")
    assert [t.ids for t in told(rt, visit.address)] == [[owner.LET_GO], [payments.REFUND_DAY_CLOSED]]


def test_a_late_payment_does_not_confirm_an_hour_the_shop_no_longer_opens(world, now, tmp_path):
    rt, garage, client = world
    then = now - timedelta(minutes=20)
    day = (then.astimezone(ZoneInfo("Africa/Nairobi")) + timedelta(days=7)).date()
    day += timedelta(days=(5 - day.weekday()) % 7)  # a Saturday (09:00-15:00) a week or two ahead
    with rt.db.uow() as uow:  # and not a public holiday (Jamhuri Day, Boxing Day fall on Saturdays)
        view = availability.shop_view(uow.session, garage.id)
        while not availability.is_open(uow.session, view, day):
            day += timedelta(days=7)
    visit = book(rt, garage, now=then, start=garage.at(day.year, day.month, day.day, 14))
    pid = ask(rt, visit, now=then, amount=100, checkout=SUCCESS_ID)
    assert bk.sweep_expired_holds(rt.db, now) == [visit.booking_id]
    text = NAIROBI.read_text(encoding="utf-8")  # the owner edits the shop file: Saturdays end at noon now
    edited = tmp_path / "nairobi.toml"
    edited.write_text(text.replace('sat = { open = "09:00", close = "15:00" }', 'sat = { open = "09:00", close = "12:00" }'),
                      encoding="utf-8")  # fmt: skip
    assert edited.read_text(encoding="utf-8") != text
    load_shop(rt.db, read_shop_file(edited))

    post(client, SUCCESS)  # the money comes late, for 14:00 on its own mechanic and lift, both free

    assert (payment(rt, pid).status, status(rt, visit)) == ("refund_due", "expired")


def test_a_late_payment_still_gets_its_time_when_one_lift_was_taken_meanwhile(world, now):
    rt, garage, client = world
    then = now - timedelta(minutes=20)
    visit = book(rt, garage, now=then)
    pid = ask(rt, visit, now=then, amount=100, checkout=SUCCESS_ID)
    other = book(rt, garage, now=now - timedelta(minutes=1), phone="+254722000111", start=visit.starts_at)

    post(client, SUCCESS)

    assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")
    with rt.db.uow() as uow:
        mine, theirs = (uow.session.get(Booking, v.booking_id) for v in (visit, other))
        assert mine.mechanic_id != theirs.mechanic_id and mine.bay_id != theirs.bay_id


def test_money_for_a_cancelled_booking_is_refund_due(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    bk.cancel(rt.db, visit.booking_id, "customer:x", now)

    post(client, SUCCESS)

    assert (payment(rt, pid).status, status(rt, visit)) == ("refund_due", "cancelled")
    assert told(rt, visit.address)[-1].ids == [payments.REFUND_INACTIVE]
    assert owners_told(rt)[0].ids == [payments.OWNER_REFUND_INACTIVE, payments.OWNER_REFUND_HOW]


def test_asking_for_money_late_in_a_hold_keeps_it_for_the_prompt_but_not_for_ever(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)  # held 15 minutes

    first = ask(rt, visit, now=now + timedelta(minutes=14))
    with rt.db.uow() as uow:
        assert uow.session.get(Booking, visit.booking_id).hold_expires_at == now + timedelta(minutes=18)
    payments.fail(rt.db, first, payments.FailureKind.CANCELLED, "1032", now + timedelta(minutes=15))
    ask(rt, visit, now=now + timedelta(minutes=17, seconds=30))  # and again, and again...

    with rt.db.uow() as uow:  # at most the hold and one prompt's time
        assert uow.session.get(Booking, visit.booking_id).hold_expires_at == now + timedelta(minutes=19)


def test_a_deposit_comes_back_when_the_booking_is_cancelled_in_time(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)  # two days or more ahead: in time
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    post(client, SUCCESS)

    done = bk.cancel(rt.db, visit.booking_id, f"customer:{visit.customer_id}", now + timedelta(minutes=5))

    assert (done.token_cost, done.refund_minor, done.currency) == (0, 100, "KES")
    assert (payment(rt, pid).status, status(rt, visit)) == ("refund_due", "cancelled")
    [report] = owners_told(rt)
    assert report.ids == [payments.OWNER_REFUND_CANCELLED, payments.OWNER_REFUND_HOW]
    assert "Ksh1" in report.text and "NCB9FJNAIT" in report.text and visit.code in report.text


def test_a_deposit_stays_with_the_shop_when_the_booking_is_cancelled_late(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    post(client, SUCCESS)

    done = bk.cancel(rt.db, visit.booking_id, f"customer:{visit.customer_id}", visit.starts_at - timedelta(hours=2))

    assert (done.token_cost, done.refund_minor) == (1, 0)
    assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "cancelled")
    assert owners_told(rt) == []


def test_a_late_cancellation_of_a_visit_on_a_day_the_owner_closed_is_free_and_refunded(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    post(client, SUCCESS)
    with rt.db.uow() as uow:  # the owner closes the day (/close) and phones her, as it asks
        owner.set_day(uow.session, garage.id, visit.starts_at.astimezone(ZoneInfo("Africa/Nairobi")).date(), True,
                      "burst pipe", now)  # fmt: skip

    done = bk.cancel(rt.db, visit.booking_id, f"customer:{visit.customer_id}", visit.starts_at - timedelta(hours=2))

    assert (done.token_cost, done.refund_minor) == (0, 100)
    assert (payment(rt, pid).status, status(rt, visit)) == ("refund_due", "cancelled")


def test_a_second_payment_counts_towards_the_balance_and_one_too_many_is_refund_due(world, now):
    rt, garage, client = world
    visit = book(rt, garage, now=now, service="brake-pads")  # KES 4,500, deposit 1,000
    paid = []  # one prompt at a time (a second while one is open is refused)
    for checkout, amount, receipt in (("ws_CO_A", 1000, "RCPT00000A"), ("ws_CO_B", 3500, "RCPT00000B"),
                                      ("ws_CO_C", 1000, "RCPT00000C")):  # fmt: skip
        paid.append(ask(rt, visit, now=now, amount=amount * 100 if paid else None, checkout=checkout))
        post(client, callback_body(checkout, "1-1-1", 0, amount=amount, receipt=receipt))
    first, second, third = paid

    assert [payment(rt, p).status for p in (first, second, third)] == ["completed", "completed", "refund_due"]
    assert [t.ids[1] if len(t.ids) > 1 else t.ids[0] for t in told(rt, visit.address)] == [
        payments.CONFIRMED, payments.CREDITED, payments.REFUND_OVERPAID]
    with rt.db.uow() as uow:
        assert payments.balance_due(uow.session, uow.session.get(Booking, visit.booking_id)) == 0


def test_a_receipt_already_used_is_refused(world, now):
    rt, garage, client = world
    a, b = book(rt, garage, now=now), book(rt, garage, now=now, phone="+254712000999")
    pa = ask(rt, a, now=now, amount=100, checkout=SUCCESS_ID)
    pb = ask(rt, b, now=now, amount=100, checkout="ws_CO_COPY")
    post(client, SUCCESS)
    post(client, for_checkout(SUCCESS, "ws_CO_COPY"))
    assert (payment(rt, pa).status, payment(rt, pb).status) == ("completed", "pending")
    assert inbox_rows(rt)[-1][1] == f"refused: receipt NCB9FJNAIT already used by payment {pa}"


# -- against FakeDaraja: the push, the query, the round trip ------------------------------------


@pytest.fixture
def live(url, nairobi_spec, daraja):
    """Pitstop talking to FakeDaraja; the fake's callbacks land in a Receiver, so each
    story delivers them itself, when and as often as it wants."""
    fake, sink = daraja
    with pitstop(url, MPESA_API_BASE=fake.url, PUBLIC_BASE_URL=sink.url) as rt:
        yield rt, loaded(rt.db, nairobi_spec), create_app(rt).test_client(), fake, sink


def test_the_push_is_built_the_way_daraja_wants_it(live, now):
    rt, garage, _, fake, _ = live
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now)  # the push job runs once the hold commits
    ask(rt, book(rt, garage, now=now, phone="+254110123456"), now=now)

    push = fake.pushes()[0]["request"]
    assert push["Password"] == stk_password("174379", SANDBOX_PASSKEY, push["Timestamp"])
    sent_at = datetime.strptime(push["Timestamp"], "%Y%m%d%H%M%S").replace(tzinfo=mpesa.NAIROBI)
    assert abs((sent_at - utcnow()).total_seconds()) < 60  # Nairobi time, not UTC
    assert (push["Amount"], push["PartyA"], push["PhoneNumber"]) == (3500, "254712345678", "254712345678")
    assert (push["AccountReference"], push["TransactionDesc"]) == (visit.code.replace("-", ""),) * 2
    assert push["CallBackURL"].endswith(f"/webhooks/mpesa/{TOKEN}/{pid}")
    assert fake.pushes()[1]["request"]["PartyA"] == "254110123456"
    assert len(fake.requests(path="/oauth/v1/generate")) == 1  # the token is cached
    p = payment(rt, pid)
    assert (p.provider_ref, p.provider_status) == (fake.pushes()[0]["checkout_request_id"], "sent")
    assert p.next_check_at == p.requested_at + mpesa.QUERY_AFTER


def test_a_number_mpesa_cannot_prompt_fails_the_payment_at_once(live, now):
    rt, garage, _, fake, _ = live
    visit = book(rt, garage, now=now, phone="+77012000001")
    pid = ask(rt, visit, now=now)
    assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "invalid_phone")
    assert fake.pushes() == []
    assert told(rt, visit.address)[0].ids[0] == payments.FAILURE_TEXT["not_started"]


def test_a_push_daraja_refuses_fails_and_one_that_does_not_get_through_is_retried(live, now):
    rt, garage, _, fake, _ = live
    fake.fail_next(1, status=400, error_code="400.002.02", message="Bad Request - Invalid PhoneNumber",
                   path="processrequest")  # fmt: skip
    refused = ask(rt, book(rt, garage, now=now), now=now)
    assert (payment(rt, refused).status, payment(rt, refused).failure_code) == ("failed", "400.002.02")

    fake.fail_next(1, status=503, path="processrequest")
    retried = ask(rt, book(rt, garage, now=now, phone="+254712000555"), now=now)
    p = payment(rt, retried)
    assert (p.status, p.provider_status, p.provider_ref) == ("pending", "retry", None)
    payments.reconcile_payments(p.next_check_at)
    assert payment(rt, retried).provider_status == "sent"
    assert len(fake.pushes()) == 1


class HangsUpOnThePush:
    """Between Pitstop and FakeDaraja: passes requests on, but closes the connection
    without an answer to the first STK push, after Safaricom took it (a load balancer's
    reset). The prompt is on the customer's phone; Pitstop cannot know it."""

    def __init__(self, upstream: str):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.forward("GET")

            def do_POST(self):
                self.forward("POST")

            def forward(self, method: str):
                size = int(self.headers.get("Content-Length") or 0)
                answer = requests.request(method, upstream + self.path, data=self.rfile.read(size) or None,
                                          headers={k: v for k, v in self.headers.items() if k.lower() != "host"})  # fmt: skip
                if "processrequest" in self.path and not proxy.hung_up:
                    proxy.hung_up = True
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.hung_up = False
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_push_whose_answer_was_cut_off_is_not_sent_again_and_its_payment_applies(url, nairobi_spec, now):
    with Receiver() as sink, FakeDaraja(callback_delay=0.05) as fake, HangsUpOnThePush(fake.url) as proxy, \
            pitstop(url, MPESA_API_BASE=proxy.url, PUBLIC_BASE_URL=sink.url) as rt:  # fmt: skip
        garage = loaded(rt.db, nairobi_spec)
        visit = book(rt, garage, now=now)
        pid = ask(rt, visit, now=now)
        assert proxy.hung_up
        assert (payment(rt, pid).status, payment(rt, pid).provider_status) == ("pending", "unknown")

        payments.reconcile_payments(now + mpesa.RETRY_AFTER[-1] + timedelta(seconds=1))
        assert len(fake.pushes()) == 1  # a second prompt could take the money twice

        [paid] = sink.wait_for_request()
        post(create_app(rt).test_client(), paid.json, pid)
        assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")


def test_a_push_whose_answer_was_lost_and_whose_callback_never_came_is_not_called_failed_unseen(url, nairobi_spec, now):
    """The customer typed the PIN and paid, but neither the push's answer nor Safaricom's
    callback reached us, so there is nothing to query. When we give up, the customer is
    told we could not confirm it, and the owner is asked to check the M-Pesa statement."""
    with Receiver() as sink, FakeDaraja(callback_delay=0.05) as fake, HangsUpOnThePush(fake.url) as proxy, \
            pitstop(url, MPESA_API_BASE=proxy.url, PUBLIC_BASE_URL=sink.url) as rt:  # fmt: skip
        garage = loaded(rt.db, nairobi_spec)
        visit = book(rt, garage, now=now)
        pid = ask(rt, visit, now=now)
        assert proxy.hung_up and payment(rt, pid).provider_status == "unknown"
        [callback] = sink.wait_for_request()  # Safaricom took the money, and called an address we never hear on
        assert callback.json["Body"]["stkCallback"]["ResultCode"] == 0

        payments.reconcile_payments(payment(rt, pid).requested_at + mpesa.GIVE_UP_AFTER)

        assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "no_result")
        assert told(rt, visit.address)[-1].text.startswith(
            "We could not confirm with M-Pesa whether the payment for booking MM-1001 went through. If the money "
            "left your account, the shop will see it and put it right.")  # fmt: skip
        assert [t.text for t in owners_told(rt)] == [
            "Please check the M-Pesa statement: +254712345678 (+254712345678) was asked to pay Ksh3,500 for booking "
            "MM-1001, "
            "and M-Pesa's answer never reached us. The customer was told we could not confirm it; if the money came "
            "in, contact them."]  # fmt: skip


def test_an_expired_token_is_renewed_once_and_the_push_goes_through(live, now):
    rt, garage, _, fake, _ = live
    ask(rt, book(rt, garage, now=now), now=now)
    fake.expire_tokens()
    pid = ask(rt, book(rt, garage, now=now, phone="+254712000556"), now=now)
    assert payment(rt, pid).provider_status == "sent"
    assert len(fake.requests(path="/oauth/v1/generate")) == 2


def test_the_query_confirms_a_payment_whose_callback_never_comes(live, now):
    rt, garage, _, fake, sink = live
    visit = book(rt, garage, now=now, phone="+254712340000")  # FakeDaraja: pays, never calls back
    pid = ask(rt, visit, now=now)
    fake.resolve_now(payment(rt, pid).provider_ref)

    assert payments.reconcile_payments(utcnow() + timedelta(minutes=1)).checked == 0  # too early to ask
    assert payments.reconcile_payments(utcnow() + mpesa.QUERY_AFTER).checked == 1

    p = payment(rt, pid)
    assert (p.status, p.receipt, status(rt, visit)) == ("completed", None, "confirmed")
    assert told(rt, visit.address)[0].ids == [payments.PAID, payments.CONFIRMED]
    assert sink.requests() == []



def test_a_callback_late_after_the_query_still_gives_the_receipt(live, now):
    rt, garage, client, fake, _ = live
    visit = book(rt, garage, now=now, phone="+254712340000")  # FakeDaraja: pays, does not call back
    pid = ask(rt, visit, now=now)
    ref = payment(rt, pid).provider_ref
    fake.resolve_now(ref)
    payments.reconcile_payments(utcnow() + mpesa.QUERY_AFTER)  # the query settles it, with no receipt
    receipt = fake.push(ref)["receipt"]

    post(client, callback_body(ref, "1-1-1", 0, amount=3500, receipt=receipt))  # Safaricom's callback, late

    p = payment(rt, pid)
    assert (p.status, p.receipt) == ("completed", receipt)  # the owner can find it in the statement
    assert inbox_rows(rt)[-1][1] == f"applied: receipt {receipt} recorded"
    assert [t.ids[0] for t in told(rt, visit.address)] == [payments.PAID]  # told once, nothing else changed

def test_a_1037_callback_then_the_query_finds_the_money(live, now):
    rt, garage, client, fake, _ = live
    visit = book(rt, garage, now=now, phone="+254712340000")  # paid, but no callback from the fake
    pid = ask(rt, visit, now=now)
    checkout = payment(rt, pid).provider_ref
    fake.resolve_now(checkout)
    post(client, callback_body(checkout, "1-1-1", 1037, result_desc="No response from user."))
    assert payment(rt, pid).status == "pending"

    payments.reconcile_payments(utcnow() + mpesa.RECHECK_EVERY)

    assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")


@pytest.mark.parametrize("pending_as", ["4999", "500.001.1001"])
def test_a_prompt_that_never_resolves_stays_pending_then_is_given_up(url, nairobi_spec, now, pending_as):
    with Receiver() as sink, FakeDaraja(query_pending=pending_as) as fake, \
            pitstop(url, MPESA_API_BASE=fake.url, PUBLIC_BASE_URL=sink.url) as rt:  # fmt: skip
        garage = loaded(rt.db, nairobi_spec)
        visit = book(rt, garage, now=now, phone="+254712349999")  # FakeDaraja: never resolves
        pid = ask(rt, visit, now=now)
        start = payment(rt, pid).requested_at

        payments.reconcile_payments(start + mpesa.QUERY_AFTER)
        p = payment(rt, pid)
        assert (p.status, p.provider_status, p.checks) == ("pending", pending_as, 2)
        assert len(fake.requests(path="/mpesa/stkpushquery/v1/query")) == 1

        payments.reconcile_payments(start + mpesa.GIVE_UP_AFTER)
        assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", pending_as)
        assert told(rt, visit.address)[0].ids[0] == payments.FAILURE_TEXT["no_answer"]


def test_a_phone_that_never_answers_is_failed_once_the_query_agrees(live, now):
    rt, garage, client, fake, sink = live
    visit = book(rt, garage, now=now, phone="+254712341037")  # FakeDaraja: 1037 timeout
    pid = ask(rt, visit, now=now)
    [callback] = sink.wait_for_request()
    post(client, callback.json)
    start = payment(rt, pid).requested_at

    payments.reconcile_payments(start + timedelta(minutes=2))  # the query says 1037 too: ask once more
    assert (payment(rt, pid).status, payment(rt, pid).provider_status) == ("pending", "1037")
    payments.reconcile_payments(start + mpesa.NO_ANSWER_FINAL_AFTER)

    assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "1037")
    [message] = told(rt, visit.address)
    assert message.ids[0] == payments.FAILURE_TEXT["no_answer"]


def test_a_callback_whose_apply_failed_is_applied_by_the_reconciliation(live, now):
    rt, garage, _, fake, _ = live
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now, amount=100, checkout=SUCCESS_ID)
    raw = json.dumps(SUCCESS).encode()
    mpesa.record(rt.db, mpesa.StkCallback.parse(SUCCESS), SUCCESS, raw, now)  # ...then the process died

    assert payments.reconcile_payments(now + payments.REDRIVE_AFTER).redriven == 1
    assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")
    assert payments.reconcile_payments(now + payments.REDRIVE_AFTER).redriven == 0


def test_a_ready_job_with_a_balance_offers_pay_now_and_the_push_collects_it(live, now):
    rt, garage, client, fake, sink = live
    visit = book(rt, garage, now=now, service="brake-pads")  # KES 4,500, deposit 1,000
    deposit = ask(rt, visit, now=now)
    post(client, sink.wait_for_request()[0].json)
    assert (payment(rt, deposit).amount_minor, status(rt, visit)) == (100000, "confirmed")
    with rt.db.uow() as uow:
        row = bk.locked_booking(uow.session, visit.booking_id)
        for to in ("received", "ready"):
            bk.move(uow.session, row, to, "staff:1", now)
        assert payments.offer_balance(uow.session, row, now)

    offer = told(rt, visit.address)[-1]
    assert offer.text == f"Ksh3,500 is left to pay for booking {visit.code}. Pay now, or at the shop when you collect it."
    assert offer.choices == [f"paybalance:{visit.booking_id}:mpesa", f"paybalance:{visit.booking_id}:mpesa:other"]
    with rt.db.uow() as uow:
        balance = payments.pay_balance(uow.session, visit.booking_id, "mpesa", now, customer_id=visit.customer_id)
    post(client, sink.wait_for_request(count=2)[1].json)

    p = payment(rt, balance.payment_id)
    assert (p.purpose, p.amount_minor, p.status, status(rt, visit)) == ("balance", 350000, "completed", "ready")
    assert told(rt, visit.address)[-1].ids == [payments.PAID_RECEIPT, payments.CREDITED]
    with rt.db.uow() as uow:
        assert payments.pay_balance(uow.session, visit.booking_id, "mpesa", now) is None  # nothing left


def test_full_round_trip_the_fake_daraja_calls_the_app_on_a_real_port(url, nairobi_spec, now):
    with FakeDaraja(callback_delay=0.05) as fake, served(url, MPESA_API_BASE=fake.url) as (rt, _):
        garage = loaded(rt.db, nairobi_spec)
        paid = book(rt, garage, now=now)
        twice = book(rt, garage, now=now, phone="+254712342222")  # the callback comes twice
        cancelled = book(rt, garage, now=now, phone="+254712341032")
        ids = [ask(rt, v, now=now) for v in (paid, twice, cancelled)]

        callbacks = fake.wait_callbacks(4)

        assert sorted(c["status_code"] for c in callbacks) == [200] * 4
        assert all(json.loads(c["response_text"]) == {"ResultCode": 0, "ResultDesc": "Accepted"} for c in callbacks)
        assert [payment(rt, i).status for i in ids] == ["completed", "completed", "failed"]
        assert [status(rt, v) for v in (paid, twice, cancelled)] == ["confirmed", "confirmed", "held"]
        assert payment(rt, ids[0]).receipt == fake.push(payment(rt, ids[0]).provider_ref)["receipt"]
        assert len(told(rt, twice.address)) == 1
        with rt.db.uow() as uow:
            assert uow.session.scalar(select(func.count()).select_from(InboxUpdate)) == 3


# -- the whole story, in the chat ----------------------------------------------------------------


@contextmanager
def chatting(url: str, **env):
    """Both example shops, Telegram and Twilio faked, the app on a real port (so a fake
    payment provider can call it back); yields the channel stories' Pitstop helper."""
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        chat_env = shop_env(telegram, twilio) | {k: v for k, v in SECRETS.items() if "_API_BASE" not in k}
        with served(url, **(chat_env | env)) as (rt, base):
            for file in (NAIROBI, ATYRAU):
                load_shop(rt.db, read_shop_file(file))
            yield Pitstop(create_app(rt), rt, telegram, twilio)


AMINA = 5550001


def book_on_telegram(chat: Pitstop, phone: str, service: str = "svc:1", start: bool = True) -> None:
    if start:
        chat.say(AMINA, "/start")
    for data in ("lang:en", "m:book", service, "done"):
        chat.tap(AMINA, data)
    chat.say(AMINA, "kcb 123a")
    chat.tap(AMINA, "skip")
    chat.tap(AMINA, chat.buttons(AMINA)[1][1])  # a day
    chat.tap(AMINA, chat.buttons(AMINA)[0][1])  # its first time
    chat.tap_button(AMINA, "confirm:")
    chat.tap(AMINA, "pay:mpesa")
    assert chat.texts(AMINA)[-1] == "M-Pesa needs your phone number. Share it with the button, or type it."
    chat.say(AMINA, phone)


def test_customer_books_on_telegram_and_pays_with_mpesa_end_to_end(url):
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        book_on_telegram(chat, "0712345678")
        [callback] = fake.wait_callbacks(1)

        assert callback["status_code"] == 200
        held, paid = chat.texts(AMINA)[-2:]
        assert "Check your phone: M-Pesa will ask you to pay Ksh3,500. Enter your PIN to confirm." in held
        receipt = fake.pushes()[0]["receipt"]
        assert paid.startswith(f"Payment received: Ksh3,500 (receipt {receipt}).\nBooking MM-1001 is confirmed for ")
        with chat.runtime.db.uow() as uow:
            row = uow.session.scalar(select(Booking))
            assert (row.code, row.status, row.channel) == ("MM-1001", "confirmed", "telegram")


def reprice(chat: Pitstop, code: str, price_minor: int) -> int:
    """Give a Mwangaza service another price (one in cents, say); its id."""
    from core.availability import touch_shop
    from core.models import Service, Shop

    with chat.runtime.db.uow() as uow:
        service = uow.session.scalar(select(Service).join(Shop, Shop.id == Service.shop_id).where(
            Service.code == code, Shop.slug == "mwangaza-motors"))  # fmt: skip
        service.price_minor = price_minor
        touch_shop(uow.session, service.shop_id)
        return service.id


def test_the_chat_says_the_whole_shillings_mpesa_will_ask_for(sqlite_url):
    with FakeDaraja(callback_delay=0.05) as fake, chatting(sqlite_url, MPESA_API_BASE=fake.url) as chat:
        reprice(chat, "oil-change", 349_950)  # M-Pesa takes whole shillings
        book_on_telegram(chat, "0712345678")
        fake.wait_callbacks(1)

        held = next(t for t in chat.texts(AMINA) if "M-Pesa will ask you to pay" in t)
        assert "M-Pesa will ask you to pay Ksh3,500. Enter your PIN to confirm." in held
        with chat.runtime.db.uow() as uow:
            assert uow.session.scalar(select(Payment.amount_minor)) == 350_000


def test_a_deposit_in_percent_is_said_and_asked_in_whole_shillings(sqlite_url):
    """Brake discs at Ksh8,999 with 30 % in advance: the summary said Ksh2,699.70 and
    M-Pesa asked Ksh2,700, leaving 30 cents over on the booking."""
    with FakeDaraja(callback_delay=0.05) as fake, chatting(sqlite_url, MPESA_API_BASE=fake.url) as chat:
        discs = reprice(chat, "brake-discs", 899_900)
        book_on_telegram(chat, "0712345678", service=f"svc:{discs}")
        fake.wait_callbacks(1)

        summary = next(t for t in chat.texts(AMINA) if t.startswith("Please check your booking:"))
        assert "Price: Ksh8,999\nPaid in advance: Ksh2,700\n" in summary
        with chat.runtime.db.uow() as uow:
            booking = uow.session.scalar(select(Booking))
            assert (booking.deposit_minor, booking.status) == (270_000, "confirmed")
            assert uow.session.scalar(select(Payment.amount_minor)) == 270_000



def test_at_no_tokens_the_whole_visit_in_cents_is_said_and_asked_in_whole_shillings(sqlite_url):
    """An oil change at Ksh3,499.50, all of it in advance: the summary said Ksh3,499.50,
    the booking kept 349,950 and M-Pesa took Ksh3,500."""
    from core.models import Customer

    with FakeDaraja(callback_delay=0.05) as fake, chatting(sqlite_url, MPESA_API_BASE=fake.url) as chat:
        reprice(chat, "oil-change", 349_950)
        chat.say(AMINA, "/start")
        with chat.runtime.db.uow() as uow:  # no tokens left this month: the shop's month, not UTC's
            amina = uow.session.scalar(select(Customer))
            month = chat.runtime.now().astimezone(ZoneInfo("Africa/Nairobi")).date().replace(day=1)
            amina.tokens, amina.tokens_reset_on = 0, month
        book_on_telegram(chat, "0712345678", start=False)
        fake.wait_callbacks(1)

        summary = next(t for t in chat.texts(AMINA) if t.startswith("Please check your booking:"))
        assert "Price: Ksh3,499.50\nPaid in advance: Ksh3,500\n" in summary
        with chat.runtime.db.uow() as uow:
            assert uow.session.scalar(select(Booking.deposit_minor)) == uow.session.scalar(select(Payment.amount_minor)) == 350_000

def test_a_cancelled_prompt_offers_to_try_again_and_the_customer_pays_at_the_shop(url):
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        book_on_telegram(chat, "0712341032")  # FakeDaraja: the customer cancels the prompt
        fake.wait_callbacks(1)

        failed = chat.texts(AMINA)[-1]
        assert failed.startswith("You cancelled the M-Pesa payment for booking MM-1001.\nYour time is still held until ")
        with chat.runtime.db.uow() as uow:
            booking_id = uow.session.scalar(select(Booking.id))
        assert chat.buttons(AMINA) == [("M-Pesa", f"payagain:{booking_id}:mpesa"),
                                       ("M-Pesa from another number", f"payagain:{booking_id}:mpesa:other"),
                                       ("Pay at the shop", f"payagain:{booking_id}:cash")]  # fmt: skip
        chat.tap(AMINA, f"payagain:{booking_id}:cash")

        booked = next(t for t in chat.texts(AMINA)[-2:] if t.startswith("Booked! Your code is MM-1001."))
        assert booked.splitlines()[1].startswith("Oil and filter change, ")  # the chat's own list is gone by now
        with chat.runtime.db.uow() as uow:
            assert uow.session.get(Booking, booking_id).status == "confirmed"


def test_a_deposit_cannot_be_skipped_by_paying_at_the_shop_after_a_cancelled_prompt(url):
    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        book_on_telegram(chat, "0712341032", service="svc:2")  # brake pads: Ksh1,000 paid in advance
        fake.wait_callbacks(1)

        assert chat.texts(AMINA)[-1].startswith("You cancelled the M-Pesa payment for booking MM-1001.")
        with chat.runtime.db.uow() as uow:
            booking_id = uow.session.scalar(select(Booking.id))
        assert chat.buttons(AMINA) == [("M-Pesa", f"payagain:{booking_id}:mpesa"),
                                       ("M-Pesa from another number", f"payagain:{booking_id}:mpesa:other")]  # fmt: skip
        chat.tap(AMINA, f"payagain:{booking_id}:cash")  # a button of an older message, or a forged one

        assert chat.texts(AMINA)[-1].startswith("This visit is paid in advance. Please choose another way to pay.")
        with chat.runtime.db.uow() as uow:
            assert uow.session.get(Booking, booking_id).status == "held"


def test_a_customer_without_a_phone_takes_a_waitlist_offer_with_a_deposit_and_pays_by_mpesa(url):
    from core import availability, waitlist
    from core.models import Customer, Service

    with FakeDaraja(callback_delay=0.05) as fake, chatting(url, MPESA_API_BASE=fake.url) as chat:
        chat.say(AMINA, "/start")
        chat.tap(AMINA, "lang:en")
        now = chat.runtime.now()
        with chat.runtime.db.uow() as uow:
            s = uow.session
            amina = s.scalar(select(Customer))
            assert amina.phone is None  # a Telegram customer who never paid by M-Pesa
            brakes = s.scalar(select(Service).where(Service.code == "brake-pads"))
            first = availability.free_slots(s, amina.shop_id, [brakes.id], (now + timedelta(days=1)).date(),
                                            (now + timedelta(days=8)).date(), now)[0]  # fmt: skip
        day = first.start.astimezone(ZoneInfo("Africa/Nairobi")).date()
        waitlist.join(chat.runtime.db, shop_id=amina.shop_id, customer_id=amina.id, day=day,
                      service_ids=(brakes.id,), now=now, channel="telegram")  # fmt: skip
        offer = waitlist.offer_freed(chat.runtime.db, amina.shop_id, day, now)
        assert chat.buttons(AMINA)[0] == ("Yes, I'll take it", f"offer:yes:{offer.held.booking_id}")

        chat.tap(AMINA, f"offer:yes:{offer.held.booking_id}")
        assert chat.texts(AMINA)[-1] == "M-Pesa needs your phone number. Share it with the button, or type it."
        assert fake.pushes() == []
        chat.say(AMINA, "0712 345 678")
        fake.wait_callbacks(1)

        [push] = fake.pushes()
        assert (push["phone"], push["amount"]) == ("254712345678", 1000)
        assert chat.texts(AMINA)[-1].startswith("Payment received: Ksh1,000")
        with chat.runtime.db.uow() as uow:
            row = uow.session.get(Booking, offer.held.booking_id)
            assert (row.status, uow.session.get(Customer, amina.id).phone) == ("confirmed", "+254712345678")


def test_a_booking_waiting_for_payment_can_be_paid_from_my_bookings_once_the_retry_message_is_gone(sqlite_url):
    """Kamau (WhatsApp) cancels the M-Pesa prompt by mistake, then looks at his booking
    before paying: its card offers the ways to pay, and "1" asks M-Pesa again."""
    from pitstop.fakes import twilio as ft

    kamau = "+254712341032"  # FakeDaraja: the customer cancels the prompt (1032)
    with FakeDaraja(callback_delay=0.05) as fake, chatting(sqlite_url, MPESA_API_BASE=fake.url) as chat:
        base = chat.runtime.settings.public_base_url

        def say(text):
            params = ft.inbound_text_params(f"whatsapp:{kamau}", text, profile_name="Kamau")
            path = "/webhooks/whatsapp/mwangaza-motors"
            headers, form = ft.signed_inbound(base + path, TWILIO_TOKEN, params)
            assert chat.client.post(path, data=form, headers=headers).status_code == 200
            return [m["params"].get("Body") for m in chat.twilio.messages(f"whatsapp:{kamau}")][-1]

        say("Habari")
        # English, book, oil change, done, plate, skip make, 3rd day, first time, confirm, M-Pesa
        for typed in ("1", "1", "1", "1", "KCB 123A", "skip", "3", "1", "1", "1"):
            say(typed)
        fake.wait_callbacks(1)
        for _ in range(50):
            if cancelled := [m for m in chat.twilio.messages(f"whatsapp:{kamau}")
                               if (m["params"].get("Body") or "").startswith("You cancelled the M-Pesa payment")]:
                break
            time.sleep(0.05)
        assert cancelled

        say("menu")
        say("2")  # My bookings
        card = say("1")  # MM-1001

        assert "Status: waiting for payment" in card
        assert card.endswith("1. M-Pesa\n2. M-Pesa from another number\n3. Pay at the shop\n4. Change the time\n"
                             "5. Cancel the booking\n6. Back")  # fmt: skip
        say("1")
        with chat.runtime.db.uow() as uow:
            assert uow.session.scalar(select(func.count()).select_from(Payment)) == 2  # asked again


def test_mpesa_not_set_up_fails_the_payment_and_tells_the_owners_once_a_day(url, nairobi_spec, now):
    with pitstop(url, MPESA_API_BASE="http://127.0.0.1:9", PUBLIC_BASE_URL="https://bot.example.com",
                 MWANGAZA_MPESA_CONSUMER_SECRET="") as rt:  # fmt: skip
        garage = loaded(rt.db, nairobi_spec)
        first = ask(rt, book(rt, garage, now=now), now=now)
        ask(rt, book(rt, garage, now=now, phone="+254712000557"), now=now)  # the next customer meets it too

        assert (payment(rt, first).status, payment(rt, first).failure_code) == ("failed", "not_configured")
        assert [t.text for t in owners_told(rt)] == [
            "The M-Pesa payment for booking MM-1001 could not be started: the setting MWANGAZA_MPESA_CONSUMER_SECRET "
            "is not set on the server. Until this is put right, customers cannot pay by M-Pesa: please check the "
            "shop's M-Pesa set-up."]  # fmt: skip


def test_a_customer_number_that_is_not_a_mobile_one_is_no_news_for_the_owner(live, now):
    rt, garage, _, _, _ = live
    pid = ask(rt, book(rt, garage, now=now, phone="+254201234567"), now=now)  # a Nairobi landline
    assert (payment(rt, pid).status, payment(rt, pid).failure_code, owners_told(rt)) == ("failed", "invalid_phone", [])


def test_the_owner_asked_to_return_money_is_told_the_number_it_came_from(live):
    """Settled by the STK query (no callback, so no receipt), the payment's reference is
    Daraja's CheckoutRequestID, which no statement shows: the paying number is."""
    rt, garage, _, fake, _ = live
    now = utcnow()
    visit = book(rt, garage, now=now, phone="+254712340000")  # FakeDaraja: pays, never calls back
    with rt.db.uow() as uow:
        uow.session.get(Customer, visit.customer_id).name = "Amina"
    pid = ask(rt, visit, now=now)
    fake.resolve_now(payment(rt, pid).provider_ref)
    payments.reconcile_payments(utcnow() + mpesa.QUERY_AFTER)
    assert (payment(rt, pid).status, payment(rt, pid).receipt) == ("completed", None)

    bk.cancel(rt.db, visit.booking_id, f"customer:{visit.customer_id}", now + timedelta(minutes=10))  # in time

    [report] = owners_told(rt)
    assert report.text.startswith("Refund due: Amina (+254712340000) cancelled booking MM-1001 in time")


def telegram_visit(rt, garage, now):
    with rt.db.uow() as uow:
        customer = customer_for(uow.session, garage.id, "telegram", "5550001", language="en", phone=PHONE).id
    for n in range(2, 16):
        d = now + timedelta(days=n)
        if d.weekday() < 5:
            held = bk.hold(rt.db, shop_id=garage.id, customer_id=customer, service_ids=(garage.services["oil-change"],),
                           start=garage.at(d.year, d.month, d.day, 10), now=now, channel="telegram",
                           payment_method="mpesa")  # fmt: skip
            if isinstance(held, bk.Held):
                return Visit(held.booking_id, held.code, customer, "5550001", held.starts_at)


@pytest.mark.parametrize("how", ["unconfirmed", "cancelled on the phone"])
def test_a_deposit_failure_after_the_hold_ended_reaches_the_customer(world, now, how, monkeypatch):
    rt, garage, client = world
    visit = telegram_visit(rt, garage, now)
    pid = ask(rt, visit, now=now, checkout=None if how == "unconfirmed" else "ws_CO_1")
    later = now + mpesa.GIVE_UP_AFTER + timedelta(seconds=1)  # the hold (15 + 4 minutes) is over
    monkeypatch.setattr(rt.clock, "now", lambda: later)  # the sender runs then too
    if how == "unconfirmed":
        with rt.db.uow() as uow:  # as _unknown leaves a push whose answer was cut off
            uow.session.execute(update(Payment).where(Payment.id == pid).values(
                provider_status="unknown", provider_ref=None, requested_at=now,
                next_check_at=now + mpesa.GIVE_UP_AFTER, give_up_at=now + mpesa.GIVE_UP_AFTER))
        payments.reconcile_payments(later)
    else:
        with rt.db.uow() as uow:
            payments.settle_failed(uow.session, *payments.lock(uow.session, pid), later,
                                   kind=payments.FailureKind.CANCELLED, code="1032")
    assert payment(rt, pid).status == "failed"

    with rt.db.uow() as uow:
        row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"payment:{pid}:failed"))
        assert row.status != "dropped", row.last_error




def test_a_push_whose_worker_died_waiting_for_its_answer_is_unconfirmed_and_the_owner_told(world, now):
    """The worker claimed the payment ('requesting') and was killed (a deploy) while Daraja
    had the push: the push may have reached the phone, as with a lost answer ('unknown')."""
    rt, garage, _ = world
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now)
    with rt.db.uow() as uow:  # as left by a worker killed inside Daraja(...).push(body)
        uow.session.execute(update(Payment).where(Payment.id == pid).values(
            provider_status="requesting", provider_ref=None, requested_at=now,
            next_check_at=now + mpesa.GIVE_UP_AFTER, give_up_at=now + mpesa.GIVE_UP_AFTER))
    payments.reconcile_payments(now + mpesa.GIVE_UP_AFTER + timedelta(seconds=1))

    assert payment(rt, pid).status == "failed"
    last = told(rt, visit.address)[-1].text
    assert "did not go through" not in last, last
    assert owners_told(rt), "nobody at the shop heard of it"


def test_safaricom_down_for_a_minute_is_not_called_the_shops_set_up(live, now):
    rt, garage, _, fake, _ = live
    fake.fail_next(3, status=503, path="processrequest")  # Service Unavailable, three pushes running
    visit = book(rt, garage, now=now)
    pid = ask(rt, visit, now=now)
    pushed = payment(rt, pid).requested_at  # the push job's own clock, a moment after `now`
    for seconds in (11, 45):
        payments.reconcile_payments(pushed + timedelta(seconds=seconds))
    assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "503.001.01")
    said = [t.text for t in owners_told(rt)]
    assert not any("check the shop's M-Pesa set-up" in t for t in said), said


def test_an_unconfirmed_balance_payment_does_not_invite_the_customer_to_pay_again(live, now):
    """The balance's push answer was lost ('unknown', no CheckoutRequestID): she may have
    paid. She is told the shop will put it right, and then 'Try again now' with Pay now."""
    from tests.integration.test_mpesa import ready_with_the_balance_asked

    rt = live[0]
    visit, balance = ready_with_the_balance_asked(live, now)
    with rt.db.uow() as uow:  # as _unknown leaves a push whose answer was cut off
        uow.session.execute(update(Payment).where(Payment.id == balance.payment_id).values(
            status="pending", provider_status="unknown", provider_ref=None, requested_at=now,
            next_check_at=now + mpesa.GIVE_UP_AFTER, give_up_at=now + mpesa.GIVE_UP_AFTER))
    payments.reconcile_payments(now + mpesa.GIVE_UP_AFTER + timedelta(seconds=1))

    last = told(rt, visit.address)[-1]
    assert last.text.startswith("We could not confirm with M-Pesa"), last.text
    assert "Try again now" not in last.text and not last.choices, (last.text, last.choices)
