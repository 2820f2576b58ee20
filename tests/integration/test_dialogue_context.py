"""The dialogue's view of the shop (bot.context): built once per change of the shop, not
on every message, and never stale after a change."""

from bot.context import DbContext
from core.models import Customer
from core.shopfile import parse_shop
from core.shops import load_shop
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW
from tests.integration.booking_helpers import loaded, new_customer


def shop_seen_by_the_dialogue(db, shop_id: int, customer_id: int):
    with db.uow() as uow:
        return DbContext(uow.session, shop_id, uow.session.get(Customer, customer_id), NOW).shop


def test_the_dialogue_builds_the_shop_once_per_change_of_it(db, nairobi_spec):
    shop = loaded(db, nairobi_spec)
    amina = new_customer(db, shop, "5550101")

    first = shop_seen_by_the_dialogue(db, shop.id, amina)
    assert shop_seen_by_the_dialogue(db, shop.id, amina) is first  # the next message: the same, not rebuilt

    longer = nairobi_spec.booking.hold_minutes + 5
    load_shop(db, parse_shop({**nairobi_spec.raw, "booking": {**nairobi_spec.raw["booking"], "hold_minutes": longer}}))

    changed = shop_seen_by_the_dialogue(db, shop.id, amina)
    assert (first.hold_minutes, changed.hold_minutes) == (nairobi_spec.booking.hold_minutes, longer)
