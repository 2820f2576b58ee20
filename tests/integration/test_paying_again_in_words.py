"""The ways of paying offered again (after a failed payment, or for the balance) are
understood by the words the booking's own "How would you like to pay?" step understands
("каспи", "наличными", "taslimu", "cash"), not only by their numbers and labels."""

import pytest
from sqlalchemy import func, select

from bot.understand.choices import pick_choice
from core import payments
from core.messages import remembered_choices
from core.models import Payment
from pitstop.fakes.kaspi import FakeKaspi
from pitstop.fakes.telegram import FakeTelegram
from pitstop.fakes.twilio import FakeTwilio
from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
from tests.integration.test_kaspi import env_for

PHONE = "+77051234567"


def test_typing_kaspi_in_russian_after_a_failed_kaspi_payment_pays_again(sqlite_url):
    with FakeKaspi() as fake, FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        chat = start_pitstop(sqlite_url, telegram, twilio, extra_env=env_for(fake))

        def bodies():
            return [m["params"].get("Body") for m in twilio.messages() if m["params"].get("To") == f"whatsapp:{PHONE}"]

        try:
            chat.whatsapp(PHONE, "Здравствуйте", slug="zhaiyk-auto")
            # Русский, book, oil change, done, plate, make, 2nd day, 1st time, confirm
            for typed in ("1", "1", "1", "1", "123 ABC 06", "Toyota", "2", "1", "1"):
                chat.whatsapp(PHONE, typed, slug="zhaiyk-auto")
            assert bodies()[-1].endswith("1. Kaspi\n2. Оплата в сервисе")
            chat.whatsapp(PHONE, "каспи", slug="zhaiyk-auto")  # understood here (PAY_WORDS)
            with chat.runtime.db.uow() as uow:
                p = uow.session.scalar(select(Payment))
            fake.script(p.provider_ref, ["Error"])
            payments.reconcile_payments(p.next_check_at)
            assert bodies()[-1].endswith("Попробуйте ещё раз или выберите другой способ оплаты.\n1. Kaspi\n2. Оплата в сервисе")

            chat.whatsapp(PHONE, "каспи", slug="zhaiyk-auto")  # the same word, to the retry notice

            with chat.runtime.db.uow() as uow:
                asked = uow.session.scalar(select(func.count()).select_from(Payment))
            assert asked == 2, bodies()[-1]
        finally:
            chat.runtime.close()


@pytest.mark.parametrize("lang,methods,typed,meant", [
    ("sw", ["mpesa", "cash"], "taslimu", "cash"),
    ("en", ["mpesa", "cash"], "cash", "cash"),
    ("ru", ["kaspi", "cash"], "наличными", "cash"),
    ("ru", ["kaspi", "cash"], "каспи", "kaspi"),
    ("kk", ["kaspi", "cash"], "қолма-қол", "cash"),
])
def test_the_retry_notice_understands_what_the_payment_step_understands(lang, methods, typed, meant):
    assert typed in payments.PAY_WORDS[meant]  # the booking's payment step takes this word
    choices = payments._with_other_number("payagain:1", methods)  # as settle_failed builds them
    offered = remembered_choices(choices, lang, payments.pay_words(choices))
    assert pick_choice(typed, offered) == f"payagain:1:{meant}"
