"""A shop loaded before device_token_env was required is still read back from the database."""

import copy
import tomllib

from core.shopfile import parse_shop
from tests.conftest import ATYRAU


def test_a_stored_kaspi_table_without_device_token_env_is_still_read():
    raw = tomllib.loads(ATYRAU.read_text())
    stored = copy.deepcopy(raw)
    del stored["payments"]["kaspi"]["device_token_env"]  # what a load before 7 December accepted
    parse_shop(stored, stored=True)  # ShopFileError now: every message to the shop fails


def test_a_shop_loaded_before_still_answers_its_customers(sqlite_url, tmp_path):
    import pytest
    from sqlalchemy import select

    from core import availability as av
    from core.models import Shop, utcnow
    from pitstop.fakes.telegram import FakeTelegram
    from pitstop.fakes.twilio import FakeTwilio
    from tests.integration.channel_helpers import TWILIO_SID, TWILIO_TOKEN, start_pitstop
    from tests.integration.staff_helpers import Clocked

    with FakeTelegram() as telegram, FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        story = Clocked(start_pitstop(sqlite_url, telegram, twilio, {"PITSTOP_VAR_DIR": str(tmp_path / "var")}))
        try:
            with story.db.uow() as uow:  # as stored by a load before 7 December
                shop = uow.session.scalar(select(Shop).where(Shop.slug == "zhaiyk-auto"))
                config = copy.deepcopy(shop.config)
                del config["payments"]["kaspi"]["device_token_env"]
                shop.config = config
                av.touch_shop(uow.session, shop.id)
            try:
                story.wa("+77015550001", "Сәлем", utcnow(), slug="zhaiyk-auto", name="Асқар")
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"the shop's every message fails: {exc!r}")
            assert story.wa_bodies("+77015550001"), "no answer"
        finally:
            story.p.runtime.close()
