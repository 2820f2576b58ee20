"""Kaspi stories: a payment link sent in the chat and polled until Kaspi says Processed
or Error (or the link runs out), and the classic check/pay protocol where Kaspi calls
us — idempotent on txn_id, answered in the shop's format (XML or JSON).

Everything runs against FakeKaspi (pitstop.fakes.kaspi) and the Atyrau example shop.
"""

from __future__ import annotations

import copy
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import booking as bk
from core import kaspi, owner, payments
from core.models import Booking, Payment
from core.shopfile import parse_shop
from pitstop.fakes.kaspi import FakeKaspi
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.booking_helpers import loaded
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.test_mpesa import (
    ask,
    book,
    inbox_rows,
    moves,
    payment,
    pitstop,
    served,
    status,
    told,
    utcnow,
)

LOGIN, PASSWORD = "kaspi", "s3cret-pass"
OWNER = "whatsapp:+77012000001"  # the Atyrau owner, from the shop file


def env_for(fake: FakeKaspi, scheme: str = "r1") -> dict:
    return {
        "KASPI_API_BASE": fake.base_url(scheme),
        "ZHAIYK_KASPI_API_KEY": fake.api_key,
        "ZHAIYK_KASPI_DEVICE_TOKEN": fake.device_token,
        "ZHAIYK_KASPI_BIN": fake.organization_bin,
        "ZHAIYK_KASPI_CLASSIC_LOGIN": LOGIN,
        "ZHAIYK_KASPI_CLASSIC_PASSWORD": PASSWORD,
    }


def atyrau(spec, response_format: str = "xml", allowed_ips=("194.187.247.152", "127.0.0.1")):
    """The Atyrau example, allowing the local fake's address (Kaspi's own stays listed)."""
    raw = copy.deepcopy(spec.raw)
    raw["payments"]["kaspi"].update(allowed_ips=list(allowed_ips), response_format=response_format)
    return parse_shop(raw)


@pytest.fixture
def fake():
    with FakeKaspi() as server:
        yield server


@pytest.fixture
def now():
    return utcnow()


@pytest.fixture
def shop(url, atyrau_spec, fake):
    with pitstop(url, **env_for(fake)) as rt:
        yield rt, loaded(rt.db, atyrau(atyrau_spec))


# -- the payment link --------------------------------------------------------------------------


def test_customer_gets_a_kaspi_link_in_the_chat_and_is_confirmed_when_kaspi_says_processed(shop, fake, now):
    rt, zhaiyk = shop
    visit = book(rt, zhaiyk, now=now, service="brake-pads")  # 15 000 ₸, deposit 5 000 ₸
    pid = ask(rt, visit, now=now, method="kaspi")  # the link job runs once the hold commits

    [create] = fake.requests(path="/r1/v01/qr/create-link")
    assert create.json == {"DeviceToken": fake.device_token, "Amount": 5000.0, "ExternalId": str(pid)}
    assert (create.header("Api-Key"), len(create.header("X-Request-ID"))) == (fake.api_key, 32)
    p = payment(rt, pid)
    kaspi_id = p.provider_ref
    assert (p.provider, p.status, p.link) == ("kaspi_qr", "pending", fake.link_base + fake.payment(kaspi_id).token)
    assert (p.check_interval_s, p.expires_at - p.requested_at) == (5, timedelta(seconds=180))
    [link] = told(rt, visit.address)
    assert link.ids == [kaspi.LINK, kaspi.LINK_UNTIL]
    assert link.text.startswith(f"Pay ₸5,000 with Kaspi here: {p.link}\nThe link works until ")

    fake.script(kaspi_id, ["Wait", "Processed"])
    assert payments.reconcile_payments(p.next_check_at - timedelta(seconds=1)).checked == 0  # not yet
    payments.reconcile_payments(p.next_check_at)
    assert (payment(rt, pid).status, payment(rt, pid).provider_status) == ("pending", "Wait")
    payments.reconcile_payments(payment(rt, pid).next_check_at)

    assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")
    assert moves(rt, visit)[-1] == ("held", "confirmed", "system:kaspi")
    assert told(rt, visit.address)[-1].ids == [payments.PAID, payments.CONFIRMED]
    assert len(fake.status_polls(kaspi_id)) == 2
    assert len({r.header("X-Request-ID") for r in fake.requests()}) == len(fake.requests())


def test_a_kaspi_payment_that_ends_in_error_offers_to_try_again(shop, fake, now):
    rt, zhaiyk = shop
    visit = book(rt, zhaiyk, now=now, service="brake-pads")
    pid = ask(rt, visit, now=now, method="kaspi")
    fake.script(payment(rt, pid).provider_ref, ["Wait", "Error"])

    payments.reconcile_payments(payment(rt, pid).next_check_at)
    payments.reconcile_payments(payment(rt, pid).next_check_at)

    assert (payment(rt, pid).status, payment(rt, pid).failure_code, status(rt, visit)) == ("failed", "Error", "held")
    failure = told(rt, visit.address)[-1]
    assert failure.text.split("\n")[0] == f"The Kaspi payment for booking {visit.code} did not go through."
    assert failure.choices == [f"payagain:{visit.booking_id}:kaspi"]  # not at the shop: a deposit is due


def test_a_payment_kaspi_could_not_be_asked_about_at_the_give_up_time_is_asked_again(shop, fake, now):
    rt, zhaiyk = shop
    visit = book(rt, zhaiyk, now=now, service="brake-pads")
    pid = ask(rt, visit, now=now, method="kaspi")
    fake.set_status(payment(rt, pid).provider_ref, "Processed")  # the customer paid
    fake.fail_next(1, status_code=-999, path="payment/status")  # the poll at the give-up time: no answer
    give_up = payment(rt, pid).give_up_at

    payments.reconcile_payments(give_up)
    assert (payment(rt, pid).status, payment(rt, pid).next_check_at) == ("pending", give_up + timedelta(minutes=5))
    payments.reconcile_payments(give_up + timedelta(minutes=5))

    assert payment(rt, pid).status == "completed"


def test_a_link_never_opened_expires(shop, fake, now):
    rt, zhaiyk = shop
    visit = book(rt, zhaiyk, now=now)
    pid = ask(rt, visit, now=now, method="kaspi")

    payments.reconcile_payments(payment(rt, pid).expires_at)

    assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "expired")
    assert told(rt, visit.address)[-1].ids[0] == payments.FAILURE_TEXT["expired"]


def test_a_link_kaspi_will_not_create_fails_and_the_owner_hears_why_once_a_day(shop, fake, now):
    rt, zhaiyk = shop
    fake.fail_next(2, status_code=-1501, path="create-link")  # device not found, in Kaspi's own (Russian) words
    visit = book(rt, zhaiyk, now=now)
    pid = ask(rt, visit, now=now, method="kaspi")
    ask(rt, book(rt, zhaiyk, now=now, phone="+77012000557"), now=now, method="kaspi")  # the next customer too

    assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "kaspi -1501")
    assert told(rt, visit.address)[-1].ids[0] == payments.FAILURE_TEXT["not_started"]
    # the owner of the Atyrau shop reads Russian (the shop file says so)
    assert [t.text for t in told(rt, OWNER)] == [
        f"Не удалось начать оплату Kaspi для записи {visit.code}: Kaspi не находит устройство сервиса или оно больше "
        "не активно (ответ провайдера: «Устройство с заданным идентификатором не найдено»). Пока это не исправлено, "
        "клиенты не могут платить через Kaspi: проверьте настройки Kaspi сервиса."]  # fmt: skip


def test_another_set_up_fault_the_same_day_after_the_first_was_mended_is_told_too(shop, fake, now):
    rt, zhaiyk = shop
    fake.fail_next(1, status_code=-1501, path="create-link")  # device not found: the owner is told
    ask(rt, book(rt, zhaiyk, now=now), now=now, method="kaspi")
    later = now + timedelta(hours=1)  # the device mended; now Kaspi says the trade point is disabled
    fake.fail_next(1, status_code=990000018, path="create-link")
    second = ask(rt, book(rt, zhaiyk, now=later, phone="+77012000557"), now=later, method="kaspi")

    assert payment(rt, second).failure_code == "kaspi 990000018"
    texts = [t.text for t in told(rt, OWNER)]
    assert len(texts) == 2 and "не принимает платежи для торговой точки" in texts[1], texts


def test_kaspi_unavailable_is_asked_again(shop, fake, now):
    rt, zhaiyk = shop
    fake.fail_next(1, status_code=-999, path="create-link")
    visit = book(rt, zhaiyk, now=now)
    pid = ask(rt, visit, now=now, method="kaspi")
    assert (payment(rt, pid).provider_status, payment(rt, pid).link) == ("retry", None)

    payments.reconcile_payments(payment(rt, pid).next_check_at)

    assert payment(rt, pid).link is not None
    assert told(rt, visit.address)[-1].ids == [kaspi.LINK, kaspi.LINK_UNTIL]


def test_a_late_kaspi_payment_whose_time_was_taken_is_returned_through_kaspi_on_r3(url, atyrau_spec, fake, now):
    with pitstop(url, **env_for(fake, "r3")) as rt:
        zhaiyk = loaded(rt.db, atyrau(atyrau_spec))
        then = now - timedelta(minutes=30)  # the 20-minute hold ran out 10 minutes ago
        visit = book(rt, zhaiyk, now=then, service="brake-pads")
        pid = ask(rt, visit, now=then, method="kaspi")
        for phone in ("+77011110001", "+77011110002"):  # both brake mechanics are now taken
            book(rt, zhaiyk, now=now - timedelta(minutes=1), phone=phone, service="brake-pads", start=visit.starts_at)
        fake.set_status(payment(rt, pid).provider_ref, "Processed")

        payments.reconcile_payments(payment(rt, pid).next_check_at)

        assert (payment(rt, pid).status, status(rt, visit)) == ("refunded", "expired")
        [refund] = fake.refunds()
        assert (refund["QrPaymentId"], refund["Amount"], refund["OrganizationBin"]) == (
            int(payment(rt, pid).provider_ref), 5000.0, fake.organization_bin)
        assert [t.ids for t in told(rt, visit.address)[1:]] == [[payments.REFUND_SLOT_TAKEN], [kaspi.REFUNDED]]
        assert [t.ids for t in told(rt, OWNER)] == [[payments.OWNER_REFUND_SLOT_TAKEN], [kaspi.OWNER_REFUNDED]]


def deposit_paid_by_kaspi(rt, atyrau_spec, fake, now):
    """Brake pads at Zhaiyk, the deposit paid by Kaspi QR: the visit and the payment."""
    zhaiyk = loaded(rt.db, atyrau(atyrau_spec))
    visit = book(rt, zhaiyk, now=now, service="brake-pads")
    pid = ask(rt, visit, now=now, method="kaspi")
    fake.set_status(payment(rt, pid).provider_ref, "Processed")
    payments.reconcile_payments(payment(rt, pid).next_check_at)
    return visit, pid


def test_a_kaspi_deposit_goes_back_through_kaspi_when_the_visit_is_cancelled_in_time_on_r3(url, atyrau_spec, fake,
                                                                                              now):  # fmt: skip
    with pitstop(url, **env_for(fake, "r3")) as rt:
        visit, pid = deposit_paid_by_kaspi(rt, atyrau_spec, fake, now)
        assert (payment(rt, pid).status, status(rt, visit)) == ("completed", "confirmed")

        bk.cancel(rt.db, visit.booking_id, f"customer:{visit.customer_id}", now + timedelta(minutes=10))

        assert (payment(rt, pid).status, status(rt, visit)) == ("refunded", "cancelled")
        [refund] = fake.refunds()
        assert (refund["QrPaymentId"], refund["Amount"]) == (int(payment(rt, pid).provider_ref), 5000.0)
        assert told(rt, visit.address)[-1].ids == [kaspi.REFUNDED]
        assert [t.ids for t in told(rt, OWNER)] == [[payments.OWNER_REFUND_CANCELLED], [kaspi.OWNER_REFUNDED]]


def test_on_r1_a_late_payment_stays_refund_due_for_the_owner(shop, fake, now):
    rt, zhaiyk = shop
    visit = book(rt, zhaiyk, now=now - timedelta(minutes=30))
    pid = ask(rt, visit, now=now - timedelta(minutes=30), method="kaspi")
    bk.cancel(rt.db, visit.booking_id, "customer:x", now)
    fake.set_status(payment(rt, pid).provider_ref, "Processed")
    payments.reconcile_payments(payment(rt, pid).next_check_at)
    assert payment(rt, pid).status == "refund_due"
    assert fake.refunds() == []
    assert told(rt, OWNER)[-1].ids[-1] == payments.OWNER_REFUND_HOW  # "...then write /refunded ZA-1001"


def test_a_kaspi_return_refused_on_r3_asks_the_owner_to_return_it_by_hand(url, atyrau_spec, fake, now):
    """The owner was told nothing to do, as Kaspi would return it: when Kaspi refuses,
    the owner is asked to after all, and the money is still due back."""
    with pitstop(url, **env_for(fake, "r3")) as rt:
        visit, pid = deposit_paid_by_kaspi(rt, atyrau_spec, fake, now)
        fake.fail_next(1, status_code=-99000011)

        bk.cancel(rt.db, visit.booking_id, f"customer:{visit.customer_id}", now + timedelta(minutes=10))

        assert (payment(rt, pid).status, fake.refunds()) == ("refund_due", [])
        assert [t.ids for t in told(rt, OWNER)] == [[payments.OWNER_REFUND_CANCELLED], [kaspi.OWNER_RETURN_BY_HAND]]
        assert told(rt, OWNER)[-1].text == (f"Запись {visit.code}: Kaspi не вернул оплату 5\xa0000\xa0₸ автоматически. "
                                            f"Пожалуйста, верните её сами, затем напишите /refunded {visit.code}.")  # fmt: skip


# -- the classic check/pay protocol --------------------------------------------------------------


@pytest.fixture
def classic(request, url, atyrau_spec, fake):
    """Pitstop served on a real port for Kaspi's classic calls; `response_format` from
    the test's parameter (xml by default)."""
    fmt = getattr(request, "param", "xml")
    with served(url, **env_for(fake)) as (rt, base):
        zhaiyk = loaded(rt.db, atyrau(atyrau_spec, fmt))
        endpoint = base.replace("http://", f"http://{LOGIN}:{PASSWORD}@") + "/webhooks/kaspi/zhaiyk-auto"
        yield rt, zhaiyk, endpoint


def test_kaspi_checks_a_booking_code_and_hears_the_sum_due(classic, fake, now):
    rt, zhaiyk, endpoint = classic
    visit = book(rt, zhaiyk, now=now, service="brake-pads")  # deposit 5 000 ₸

    answer = fake.call_check(endpoint, visit.code, "", txn_id="1234567890")
    typed = fake.call_check(endpoint, visit.code.lower().replace("-", ""), "5000.00", txn_id="1234567891")

    assert (answer.status_code, answer.format, answer.content_type) == (200, "xml", "application/xml; charset=utf-8")
    local = visit.starts_at.astimezone(zhaiyk_tz(rt, zhaiyk))
    assert answer.data == {"txn_id": "1234567890", "sum": "5000.00", "result": "0",
                           "comment": f"{visit.code} {local:%Y-%m-%d %H:%M}"}  # fmt: skip
    assert (typed.result, typed.data["sum"]) == (0, "5000.00")
    assert status(rt, visit) == "held"  # a check changes nothing
    assert [o for _, o in inbox_rows(rt, "kaspi")] == ["check: ok", "check: ok"]


def zhaiyk_tz(rt, zhaiyk):
    from zoneinfo import ZoneInfo

    return ZoneInfo(zhaiyk.timezone)


@pytest.mark.parametrize("account, result", [("ZA-999999", 5), ("MM-1001", 5), ("???", 4)])
def test_kaspi_checks_an_account_that_is_not_a_booking(classic, fake, account, result):
    rt, _, endpoint = classic
    answer = fake.call_check(endpoint, account, "100.00", txn_id="55")
    assert (answer.status_code, answer.result, answer.txn_id) == (200, result, "55")


def test_kaspi_pays_a_booking_once_however_often_it_says_so(classic, fake, now):
    rt, zhaiyk, endpoint = classic
    visit = book(rt, zhaiyk, now=now, service="brake-pads")

    # Kaspi repeats a request as it was, txn_date included (the fake would stamp a new one).
    first = fake.call_pay(endpoint, visit.code, "5000.00", txn_id="880001", txn_date="20261123120000")
    again = fake.call_pay(endpoint, visit.code, "5000.00", txn_id="880001", txn_date="20261123120000")

    assert (first.result, first.txn_id, first.data["sum"], first.comment) == (0, "880001", "5000.00", "OK")
    assert again.prv_txn == first.prv_txn
    p = payment(rt, int(first.prv_txn))
    assert (p.provider, p.provider_ref, p.amount_minor, p.status, p.receipt) == (
        "kaspi", "880001", 500000, "completed", "880001")
    assert status(rt, visit) == "confirmed"
    assert told(rt, visit.address)[-1].text.startswith("Payment received: ₸5,000 (receipt 880001).\n")
    assert len(told(rt, visit.address)) == 1
    assert [o.split(",")[0] for _, o in inbox_rows(rt, "kaspi")] == ["applied: paid"]
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Payment)) == 1

    reused = fake.call_pay(endpoint, visit.code, "6000.00", txn_id="880001")
    assert (reused.result, reused.comment) == (300, "txn_id already used for another payment")


@pytest.mark.parametrize("classic", ["json"], indirect=True)
def test_a_shop_that_wants_json_gets_json(classic, fake, now):
    rt, zhaiyk, endpoint = classic
    visit = book(rt, zhaiyk, now=now)  # oil change, 12 000 ₸, no deposit: paid in full

    check = fake.call_check(endpoint, visit.code, "12000", txn_id="7001")
    paid = fake.call_pay(endpoint, visit.code, "12000", txn_id="7002")

    assert (check.format, check.content_type, check.data["result"], check.data["sum"]) == (
        "json", "application/json", 0, 12000.0)
    assert paid.data == {"txn_id": "7002", "prv_txn": paid.prv_txn, "sum": 12000.0, "result": 0, "comment": "OK"}
    assert status(rt, visit) == "confirmed"


def test_a_sum_that_does_not_match_is_refused_and_the_owner_is_told(classic, fake, now):
    rt, zhaiyk, endpoint = classic
    visit = book(rt, zhaiyk, now=now, service="brake-pads")  # between 5 000 and 15 000 ₸

    small = fake.call_pay(endpoint, visit.code, "100.00", txn_id="9001")
    large = fake.call_pay(endpoint, visit.code, "20000.00", txn_id="9002")

    assert (small.result, large.result) == (241, 242)
    assert status(rt, visit) == "held"
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Payment)) == 0
    assert [o for _, o in inbox_rows(rt, "kaspi")] == [
        "refused: sum is less than the amount due", "refused: sum is more than the amount due"]
    # the owner reads Russian
    assert told(rt, OWNER)[0].text == (f"Уведомление об оплате от Kaspi по записи {visit.code} отклонено, ничего не "
                                       "изменено: в нём указано 100\xa0₸, а запрошено 5\xa0000\xa0₸.")  # fmt: skip


def test_kaspi_cannot_pay_a_cancelled_booking_or_one_paid_in_full(classic, fake, now):
    rt, zhaiyk, endpoint = classic
    cancelled, paid = book(rt, zhaiyk, now=now), book(rt, zhaiyk, now=now, phone="+77011110003")
    bk.cancel(rt.db, cancelled.booking_id, "customer:x", now)
    assert fake.call_pay(endpoint, paid.code, "12000", txn_id="1").result == 0

    assert fake.call_pay(endpoint, cancelled.code, "12000", txn_id="2").result == 79
    assert fake.call_check(endpoint, paid.code, "", txn_id="3").result == 7


def test_a_pay_for_a_hold_that_ran_out_confirms_it_while_the_time_is_free(classic, fake, now):
    rt, zhaiyk, endpoint = classic
    visit = book(rt, zhaiyk, now=now - timedelta(minutes=30))
    bk.sweep_expired_holds(rt.db, now)

    assert fake.call_pay(endpoint, visit.code, "12000", txn_id="4242").result == 0
    assert status(rt, visit) == "confirmed"


def test_kaspi_cannot_pay_a_hold_let_go_when_the_owner_closed_its_day(classic, fake, now):
    rt, zhaiyk, endpoint = classic
    visit = book(rt, zhaiyk, now=now - timedelta(minutes=30))
    bk.sweep_expired_holds(rt.db, now)  # its own mechanic and lift are still free...
    with rt.db.uow() as uow:  # ...but the owner has closed the day (/close)
        day = visit.starts_at.astimezone(zhaiyk_tz(rt, zhaiyk)).date()
        owner.set_day(uow.session, zhaiyk.id, day, True, "инвентаризация", now)

    assert fake.call_check(endpoint, visit.code, "12000", txn_id="4243").result == 79
    assert fake.call_pay(endpoint, visit.code, "12000", txn_id="4244").result == 79
    assert status(rt, visit) == "expired"


def test_twenty_concurrent_pays_of_one_txn_on_postgresql_record_one_payment(pg_only, atyrau_spec, fake, now):
    with served(pg_only, **env_for(fake)) as (rt, base):
        zhaiyk = loaded(rt.db, atyrau(atyrau_spec))
        endpoint = base.replace("http://", f"http://{LOGIN}:{PASSWORD}@") + "/webhooks/kaspi/zhaiyk-auto"
        visit = book(rt, zhaiyk, now=now)
        start, answers = threading.Barrier(20), []

        def pay():
            start.wait()
            answers.append(fake.call_pay(endpoint, visit.code, "12000.00", txn_id="77777",
                                        txn_date="20261123120000", timeout=30))  # one request, repeated

        threads = [threading.Thread(target=pay) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert {(a.result, a.prv_txn) for a in answers} == {(0, answers[0].prv_txn)}
        with rt.db.uow() as uow:
            assert uow.session.scalar(select(func.count()).select_from(Payment)) == 1
        assert [m[1] for m in moves(rt, visit)] == ["held", "confirmed"]
        assert len(told(rt, visit.address)) == 1


@pytest.mark.parametrize("who", ["stranger", "wrong password"])
def test_only_kaspi_may_call_the_check_pay_endpoint(url, atyrau_spec, fake, now, who):
    allowed = ("194.187.247.152",) if who == "stranger" else ("127.0.0.1",)
    password = PASSWORD if who == "stranger" else "guess"
    with served(url, **env_for(fake)) as (rt, base):
        zhaiyk = loaded(rt.db, atyrau(atyrau_spec, allowed_ips=allowed))
        visit = book(rt, zhaiyk, now=now)
        endpoint = base.replace("http://", f"http://{LOGIN}:{password}@") + "/webhooks/kaspi/zhaiyk-auto"

        answer = fake.call_pay(endpoint, visit.code, "12000", txn_id="1")

        assert (answer.status_code, answer.result) == (403, 300)
        assert status(rt, visit) == "held"
        assert inbox_rows(rt, "kaspi") == []


def test_a_shop_without_kaspi_has_no_check_pay_endpoint(url, nairobi_spec, fake):
    with served(url) as (rt, base):
        loaded(rt.db, nairobi_spec)
        assert fake.call_check(f"{base}/webhooks/kaspi/mwangaza-motors", "MM-1001", "1").status_code == 404


# -- the whole story, in the chat ----------------------------------------------------------------


def test_customer_books_on_whatsapp_and_pays_with_a_kaspi_link_end_to_end(url, fake):
    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        chat = start_pitstop(url, telegram, twilio, extra_env=env_for(fake))
        try:
            pay_by_kaspi_link_on_whatsapp(chat, twilio, fake, "+77051234567")
        finally:
            chat.runtime.close()


def pay_by_kaspi_link_on_whatsapp(chat, twilio, fake, phone):
    def bodies():
        return [m["params"]["Body"] for m in twilio.messages() if m["params"].get("To") == f"whatsapp:{phone}"]

    chat.whatsapp(phone, "Здравствуйте", slug="zhaiyk-auto")
    for typed in ("3", "1", "1", "1", "KDA 456B", "Toyota", "2", "1", "1"):  # English, oil change, ...
        chat.whatsapp(phone, typed, slug="zhaiyk-auto")
    assert bodies()[-1].endswith("How would you like to pay?\n1. Kaspi\n2. Pay at the shop")
    chat.whatsapp(phone, "1", slug="zhaiyk-auto")  # Kaspi

    with chat.runtime.db.uow() as uow:
        p = uow.session.scalar(select(Payment))
    assert "The payment request of ₸12,000 is on its way." in bodies()[-2]
    assert bodies()[-1].startswith(f"Pay ₸12,000 with Kaspi here: {p.link}\nThe link works until ")
    fake.open_link(p.provider_ref)  # the customer opens the link in the Kaspi app...
    payments.reconcile_payments(p.next_check_at)
    fake.set_status(p.provider_ref, "Processed")  # ...and confirms
    payments.reconcile_payments(p.next_check_at + timedelta(seconds=p.check_interval_s))

    assert bodies()[-1].startswith("Payment received: ₸12,000.\nBooking ZA-1001 is confirmed for ")
    with chat.runtime.db.uow() as uow:
        assert [(b.status, b.channel) for b in uow.session.scalars(select(Booking))] == [("confirmed", "whatsapp")]


def test_a_return_whose_answer_was_lost_asks_the_owner_to_check_not_to_pay_again(url, atyrau_spec, fake, now,
                                                                                  monkeypatch):  # fmt: skip
    """Kaspi made the return, but its answer never came (a read timeout): the owner was
    told Kaspi had not returned it, and asked to pay the customer back a second time."""
    from core.kaspi import Envelope, KaspiApi

    real = KaspiApi.refund

    def answer_lost(self, payment_id, amount_minor):
        real(self, payment_id, amount_minor)  # Kaspi returns the money...
        return Envelope(0, None, "ReadTimeout", None)  # ...and its answer never arrives

    with pitstop(url, **env_for(fake, "r3")) as rt:
        visit, pid = deposit_paid_by_kaspi(rt, atyrau_spec, fake, now)
        monkeypatch.setattr(KaspiApi, "refund", answer_lost)

        bk.cancel(rt.db, visit.booking_id, f"customer:{visit.customer_id}", now + timedelta(minutes=10))

        assert (len(fake.refunds()), payment(rt, pid).status) == (1, "refunding")
        assert [t.ids for t in told(rt, OWNER)] == [[payments.OWNER_REFUND_CANCELLED], [kaspi.OWNER_RETURN_UNKNOWN]]
        with rt.db.uow() as uow:  # the owner checks in Kaspi and closes it
            assert payments.mark_refunded(uow.session, visit.booking_id, "staff:1", now).amount_minor == 500_000
        assert payment(rt, pid).status == "refunded"


def test_a_shop_on_kaspi_r1_without_an_api_key_is_told_which_key_of_its_file_is_missing(atyrau_spec):
    from core.settings import MissingSetting
    from tests.conftest import make_settings

    raw = copy.deepcopy(atyrau_spec.raw)
    del raw["payments"]["kaspi"]["api_key_env"]
    settings = make_settings("sqlite://", KASPI_API_BASE="https://mtokentest.kaspi.kz:8543/r1/v01",
                             **{raw["payments"]["kaspi"]["device_token_env"]: "device-1"})  # fmt: skip

    with pytest.raises(MissingSetting) as missing:
        kaspi.config_for(settings, parse_shop(raw))
    assert str(missing.value) == ("environment variable named by payments.kaspi.api_key_env in the shop file "
                                  "(scheme r1) is not set; it is needed for Kaspi payments of zhaiyk-auto")
