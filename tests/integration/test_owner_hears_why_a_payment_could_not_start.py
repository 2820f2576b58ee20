"""Stories: a payment the provider refuses to start because of the shop's set-up, and
the owner reading why in their own language — what kind of fault it is, with the
provider's own words quoted for whoever takes it up with Safaricom or Kaspi.

FakeDaraja and FakeKaspi answer in the real formats (PROTOCOLS.md 1.3, 2.1): Daraja's
{requestId, errorCode, errorMessage}, Kaspi's {StatusCode, Message, Data}.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from core import payments
from core.models import Staff
from pitstop.fakes.kaspi import FakeKaspi
from tests.integration.booking_helpers import loaded
from tests.integration.test_kaspi import OWNER as ATYRAU_OWNER
from tests.integration.test_kaspi import atyrau, env_for
from tests.integration.test_mpesa import ask, book, owners_told, payment, pitstop, told, utcnow


@pytest.fixture
def now():
    return utcnow()


@pytest.fixture
def nairobi(url, nairobi_spec, daraja):
    """The Nairobi garage talking to FakeDaraja, with `env` overriding its secrets."""

    def start(**env):
        fake, sink = daraja
        return pitstop(url, MPESA_API_BASE=fake.url, PUBLIC_BASE_URL=sink.url, **env)

    return start


def owners_speak(rt, shop_id: int, language: str) -> None:
    with rt.db.uow() as uow:
        uow.session.execute(update(Staff).where(Staff.shop_id == shop_id, Staff.role == "owner")
                            .values(language=language))  # fmt: skip


# -- M-Pesa ------------------------------------------------------------------------------------


def test_a_shortcode_daraja_refuses_is_told_to_a_swahili_owner_in_swahili_once_a_day(nairobi, nairobi_spec, now):
    with nairobi(MWANGAZA_MPESA_SHORTCODE="17437900") as rt:  # one digit too many
        garage = loaded(rt.db, nairobi_spec)
        owners_speak(rt, garage.id, "sw")
        visit = book(rt, garage, now=now)
        pid = ask(rt, visit, now=now)
        ask(rt, book(rt, garage, now=now, phone="+254712000557"), now=now)  # the next customer meets it too

        p = payment(rt, pid)
        assert (p.status, p.failure_code, p.failure_reason) == (
            "failed", "400.002.02", "Bad Request - Invalid BusinessShortCode")  # fmt: skip
        assert told(rt, visit.address)[0].ids[0] == payments.FAILURE_TEXT["not_started"]
        assert [t.text for t in owners_told(rt)] == [
            "Malipo ya M-Pesa ya nafasi MM-1001 hayakuweza kuanzishwa: M-Pesa haikubali nambari ya Paybill au Till "
            'ya duka (mtoa huduma alisema: "Bad Request - Invalid BusinessShortCode"). Hadi hili lirekebishwe, '
            "wateja hawawezi kulipa kwa M-Pesa: tafadhali angalia mipangilio ya M-Pesa ya duka."]  # fmt: skip


def test_a_consumer_secret_daraja_refuses_is_told_as_refused_credentials(nairobi, nairobi_spec, now):
    """The OAuth call is refused (400.008.01): nothing reached Safaricom, so the push is
    tried again twice, then failed with what Daraja said, not as a network fault."""
    with nairobi(MWANGAZA_MPESA_CONSUMER_SECRET="not-the-secret") as rt:
        garage = loaded(rt.db, nairobi_spec)
        pid = ask(rt, book(rt, garage, now=now), now=now)
        assert (payment(rt, pid).status, payment(rt, pid).provider_status) == ("pending", "retry")
        pushed = payment(rt, pid).requested_at  # the push job's own clock, a moment after `now`
        for seconds in (11, 45):
            payments.reconcile_payments(pushed + timedelta(seconds=seconds))

        p = payment(rt, pid)
        assert (p.status, p.failure_code, p.failure_reason) == ("failed", "400.008.01", "Invalid Authentication passed")
        assert [t.text for t in owners_told(rt)] == [
            "The M-Pesa payment for booking MM-1001 could not be started: M-Pesa refused the shop's credentials "
            '(provider said: "Invalid Authentication passed"). Until this is put right, customers cannot pay by '
            "M-Pesa: please check the shop's M-Pesa set-up."]  # fmt: skip


def test_a_passkey_that_does_not_fit_the_shortcode_is_told_as_refused_credentials(nairobi, nairobi_spec, now):
    """Daraja answers a wrong passkey with 500.001.1001 "Wrong credentials": tried again
    as a 5xx, then the owner hears of it, though a 5xx is otherwise Safaricom's own."""
    with nairobi(MWANGAZA_MPESA_PASSKEY="0" * 64) as rt:
        garage = loaded(rt.db, nairobi_spec)
        pid = ask(rt, book(rt, garage, now=now), now=now)
        pushed = payment(rt, pid).requested_at  # the push job's own clock, a moment after `now`
        for seconds in (11, 45):
            payments.reconcile_payments(pushed + timedelta(seconds=seconds))

        assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "500.001.1001")
        assert [t.text for t in owners_told(rt)] == [
            "The M-Pesa payment for booking MM-1001 could not be started: M-Pesa refused the shop's credentials "
            '(provider said: "Wrong credentials"). Until this is put right, customers cannot pay by M-Pesa: please '
            "check the shop's M-Pesa set-up."]  # fmt: skip


def test_an_answer_we_do_not_know_is_told_with_daraja_s_own_words(nairobi, nairobi_spec, daraja, now):
    fake, _ = daraja
    fake.fail_next(1, status=404, error_code="404.001.01", message="Resource not found", path="processrequest")
    with nairobi() as rt:
        garage = loaded(rt.db, nairobi_spec)
        owners_speak(rt, garage.id, "sw")
        pid = ask(rt, book(rt, garage, now=now), now=now)

        assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "404.001.01")
        assert [t.text for t in owners_told(rt)] == [
            'Malipo ya M-Pesa ya nafasi MM-1001 hayakuweza kuanzishwa: M-Pesa ilitoa sababu hii: "Resource not '
            'found". Hadi hili lirekebishwe, wateja hawawezi kulipa kwa M-Pesa: tafadhali angalia mipangilio ya '
            "M-Pesa ya duka."]  # fmt: skip


# -- Kaspi -------------------------------------------------------------------------------------


@pytest.fixture
def kaspi():
    with FakeKaspi() as server:
        yield server


def test_an_api_key_kaspi_refuses_is_told_to_a_kazakh_owner_in_kazakh(url, atyrau_spec, kaspi, now):
    with pitstop(url, **(env_for(kaspi) | {"ZHAIYK_KASPI_API_KEY": "test_not-the-key"})) as rt:
        zhaiyk = loaded(rt.db, atyrau(atyrau_spec))
        owners_speak(rt, zhaiyk.id, "kk")
        visit = book(rt, zhaiyk, now=now)
        pid = ask(rt, visit, now=now, method="kaspi")

        assert (payment(rt, pid).status, payment(rt, pid).failure_code) == ("failed", "kaspi -10000")
        assert [t.text for t in told(rt, ATYRAU_OWNER)] == [
            f"{visit.code} жазылуы үшін Kaspi төлемін бастау мүмкін болмады: Kaspi сервистің тіркелгі деректерін "
            "қабылдамады (провайдер жауабы: «No client certificate / invalid credentials»). Бұл түзетілмейінше, "
            "клиенттер Kaspi арқылы төлей алмайды: сервистің Kaspi баптауларын тексеріңіз."]  # fmt: skip
