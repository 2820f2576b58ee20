"""A customer's own cars in chat, against the real database on both backends: a car
sold or typed wrong is removed from their list (and from booking), but stays the
shop's, with its history; one still booked stays; typed again, it comes back."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import runner
from bot.model import Event
from core import booking, shopfloor
from core.customers import add_vehicle, customer_for
from core.lifecycle import BookingStatus
from core.messages import render_reply
from core.models import Booking, Vehicle
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW
from tests.integration.booking_helpers import loaded
from tests.integration.staff_helpers import book

AMINA = "4501"


@pytest.fixture
def garage(db, nairobi_spec):
    return loaded(db, nairobi_spec)


class Chat:
    """Amina's chat with the garage: what she types or taps, and what she is shown."""

    def __init__(self, db, garage, chat_id: str = AMINA):
        self.db, self.garage, self.chat_id = db, garage, chat_id
        self.text, self.buttons = "", []
        self.send(Event("start")).type("english")

    def send(self, event: Event, minutes: int = 0):
        handled = runner.handle(self.db, shop_id=self.garage.id, channel="telegram", chat_id=self.chat_id,
                                event=event, now=NOW + timedelta(minutes=minutes), language_hint="en")  # fmt: skip
        shown = [render_reply(reply, "en") for reply in handled.replies]
        self.text = "\n".join(text for text, _ in shown)
        self.buttons = [button for _, buttons in shown for button in buttons]
        return self

    def type(self, text: str, minutes: int = 0):
        return self.send(Event.typed(text), minutes)

    def tap(self, label: str, minutes: int = 0):
        """Tap the button shown with this label."""
        return self.send(Event.tapped(next(cid for cid, shown in self.buttons if shown == label)), minutes)

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.buttons]


def cars_of(db, garage, address: str = AMINA) -> list[tuple[str, bool]]:
    """Every vehicle row of the customer: its plate, and whether it was removed."""
    with db.uow() as uow:
        customer = customer_for(uow.session, garage.id, "telegram", address, language="en")
        rows = uow.session.scalars(select(Vehicle).where(Vehicle.customer_id == customer.id).order_by(Vehicle.id))
        return [(v.plate, v.removed_at is not None) for v in rows]


def serviced(db, garage, plate: str, start) -> Booking:
    """A visit of Amina's car done and paid at the shop, in its service history."""
    visit = book(db, garage.id, AMINA, ["oil-change"], start, start - timedelta(days=1), plate=plate)
    with db.uow() as uow:
        uow.session.get(Booking, visit.id).status = BookingStatus.COMPLETED
    return visit


def test_customer_removes_a_car_they_sold_and_it_is_no_longer_offered_but_its_history_stays(db, garage):
    sold = serviced(db, garage, "KCB 123A", garage.at(2026, 11, 10, 10))
    with db.uow() as uow:
        add_vehicle(uow.session, customer_for(uow.session, garage.id, "telegram", AMINA, language="en"), "KDD 222B")
    chat = Chat(db, garage)

    chat.type("my vehicles").tap("KCB 123A")
    assert chat.text == "Service history of KCB 123A:\nTue 10 Nov: Oil and filter change (MM-1001)"
    assert chat.labels == ["Remove this car", "Back", "Main menu"]
    chat.tap("Remove this car")
    assert chat.text == "Remove KCB 123A from your vehicles? Its service history stays with the shop."
    assert chat.labels == ["Yes, remove it", "No, keep it"]
    chat.tap("Yes, remove it")

    assert chat.text == ("Removed KCB 123A from your vehicles.\n"
                         "Your vehicles. Choose one to see its service history.")  # fmt: skip
    assert chat.labels == ["KDD 222B", "Main menu"]
    assert cars_of(db, garage) == [("KCB 123A", True), ("KDD 222B", False)]
    with db.uow() as uow:  # the shop's record of the visit still names the car
        car = uow.session.get(Vehicle, uow.session.get(Booking, sold.id).vehicle_id)
        assert (car.plate, car.removed_at) == ("KCB 123A", NOW)
    chat.type("menu").type("book").type("oil change").type("that's all")
    assert chat.text == "Which vehicle is it for?"
    assert chat.labels == ["KDD 222B", "Another vehicle"]


def test_a_car_booked_in_cannot_be_removed_and_the_customer_is_told_which_booking(db, garage):
    serviced(db, garage, "KCB 123A", garage.at(2026, 11, 10, 10))
    visit = book(db, garage.id, AMINA, ["oil-change"], garage.at(2026, 11, 24, 10), NOW, plate="KCB 123A")
    chat = Chat(db, garage)

    chat.type("my vehicles").tap("KCB 123A").tap("Remove this car")

    assert chat.text == ("KCB 123A cannot be removed while it has a booking: MM-1002, Tue 24 Nov, 10:00. "
                         "Once that visit is over or cancelled, you can remove it.")  # fmt: skip
    assert chat.labels == ["Back", "Main menu"]
    chat.tap("Back")
    assert chat.text.startswith("Service history of KCB 123A:")
    assert cars_of(db, garage) == [("KCB 123A", False)]

    booking.cancel(db, visit.id, "customer", NOW + timedelta(minutes=5))  # once it is cancelled, the car may go
    chat.type("удалить", minutes=6)
    assert chat.text == "Remove KCB 123A from your vehicles? Its service history stays with the shop."


def test_a_car_booked_while_the_customer_was_asked_is_not_removed(db, garage):
    book(db, garage.id, AMINA, ["oil-change"], garage.at(2026, 11, 20, 10), garage.at(2026, 11, 19, 9), plate="KCB 123A")
    chat = Chat(db, garage)
    chat.type("my vehicles").tap("KCB 123A").type("ondoa")
    assert chat.labels == ["Yes, remove it", "No, keep it"]
    book(db, garage.id, AMINA, ["oil-change"], garage.at(2026, 11, 24, 10), NOW, plate="KCB 123A")  # another chat

    chat.type("yes", minutes=1)

    assert chat.text.startswith("KCB 123A cannot be removed while it has a booking: MM-1002, Tue 24 Nov, 10:00.")
    assert chat.labels == ["KCB 123A", "Main menu"]
    assert cars_of(db, garage) == [("KCB 123A", False)]


def test_a_car_at_the_shop_past_its_planned_time_still_cannot_be_removed(db, garage):
    visit = book(db, garage.id, AMINA, ["oil-change"], garage.at(2026, 11, 23, 10), NOW, plate="KCB 123A")
    with db.uow() as uow:
        shopfloor.receive(uow.session, visit.mechanic_id, visit.id, NOW + timedelta(hours=1))
    chat = Chat(db, garage)

    chat.type("my vehicles", minutes=300).tap("KCB 123A", minutes=300).type("remove", minutes=300)  # 14:00

    assert chat.text.startswith("KCB 123A cannot be removed while it has a booking: MM-1001, Mon 23 Nov, 10:00.")


def test_a_removed_car_typed_again_when_booking_comes_back_with_its_history_not_as_a_new_car(db, garage):
    serviced(db, garage, "KCB 123A", garage.at(2026, 11, 10, 10))
    chat = Chat(db, garage)
    chat.type("my vehicles").tap("KCB 123A").tap("Remove this car").tap("Yes, remove it")
    assert chat.text.startswith("Removed KCB 123A from your vehicles.\nYou have no saved vehicles yet.")

    chat.type("menu").type("book").type("oil change").type("that's all")
    assert chat.text.startswith("Type the registration plate of the vehicle")  # none saved to choose from
    chat.type("kcb123a").type("Toyota Fielder")
    assert chat.text.startswith("Saved KCB 123A.\nWhich day suits you?")

    assert cars_of(db, garage) == [("KCB 123A", False)]
    with db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Vehicle)) == 1
        assert uow.session.scalar(select(Vehicle.make)) == "Toyota Fielder"
    chat.type("menu").type("my vehicles").tap("KCB 123A · Toyota Fielder")
    assert chat.text == "Service history of KCB 123A:\nTue 10 Nov: Oil and filter change (MM-1001)"


def test_a_car_removed_while_it_waits_on_the_waitlist_gives_up_its_place(db, garage):
    """Else a time freed later would be held, and offered, for a car she no longer has."""
    from core import waitlist

    tuesday = (NOW + timedelta(days=1)).date()
    with db.uow() as uow:
        amina = customer_for(uow.session, garage.id, "telegram", AMINA, language="en")
        car, amina_id = add_vehicle(uow.session, amina, "KCB 123A").id, amina.id
    waitlist.join(db, shop_id=garage.id, customer_id=amina_id, day=tuesday,
                  service_ids=(garage.services["oil-change"],), now=NOW, vehicle_id=car)  # fmt: skip

    chat = Chat(db, garage).type("my vehicles").tap("KCB 123A").tap("Remove this car").tap("Yes, remove it")

    assert chat.text.startswith("Removed KCB 123A from your vehicles.\nIts place on the waiting list has ended too.\n")
    assert waitlist.offer_freed(db, garage.id, tuesday, NOW + timedelta(minutes=5)) is None


def test_a_removed_car_typed_again_is_the_same_car_with_the_make_she_gives_now(db, garage):
    """Its row comes back (its id, so its bookings and history): not a second car."""
    with db.uow() as uow:
        amina = customer_for(uow.session, garage.id, "telegram", AMINA, language="en")
        probox = add_vehicle(uow.session, amina, "KCB 123A", make="Toyota", model="Probox")
        fielder = add_vehicle(uow.session, amina, "KDD 222B", make="Toyota", model="Fielder")
        first_id, other_id = probox.id, fielder.id
        probox.removed_at = fielder.removed_at = NOW
    with db.uow() as uow:
        amina = customer_for(uow.session, garage.id, "telegram", AMINA, language="en")
        back = add_vehicle(uow.session, amina, "kcb123a", make="Toyota", model="Fielder")
        kept_make = add_vehicle(uow.session, amina, "KDD 222B")  # no make given: hers stays
        assert (back.id, back.plate, back.make, back.model, back.removed_at) == (
            first_id, "KCB 123A", "Toyota", "Fielder", None)  # fmt: skip
        assert (kept_make.id, kept_make.make, kept_make.model, kept_make.removed_at) == (
            other_id, "Toyota", "Fielder", None)  # fmt: skip
        assert add_vehicle(uow.session, amina, "KCB 123A") is back  # typed once more: the same car
    with db.uow() as uow:
        stored = uow.session.execute(select(Vehicle.id, Vehicle.plate, Vehicle.make, Vehicle.model,
                                            Vehicle.removed_at).order_by(Vehicle.id)).all()  # fmt: skip
    assert stored == [(first_id, "KCB 123A", "Toyota", "Fielder", None),
                      (other_id, "KDD 222B", "Toyota", "Fielder", None)]  # fmt: skip


def test_her_list_of_cars_read_later_in_the_same_transaction_has_the_new_one(db, garage):
    with db.uow() as uow:
        amina = customer_for(uow.session, garage.id, "telegram", AMINA, language="en")
        add_vehicle(uow.session, amina, "KCB 123A")
        fielder = add_vehicle(uow.session, amina, "KDD 222B", make="Toyota", model="Fielder", year=2012)

        assert [(v.plate, v.make, v.year) for v in amina.vehicles] == [("KCB 123A", None, None),
                                                                       ("KDD 222B", "Toyota", 2012)]  # fmt: skip
        assert amina.vehicles[1] is fielder is uow.session.get(Vehicle, fielder.id)
        assert fielder.customer is amina


def in_a_step_that_fails(session, act):
    """What `act` gave, done in a savepoint that the step's failure then rolls back."""
    done = []
    with pytest.raises(RuntimeError), session.begin_nested():
        done.append(act())
        raise RuntimeError("the step failed")
    return done[0]


def test_a_car_added_in_a_step_that_failed_is_forgotten_with_it(db, garage):
    """The step's savepoint rolled back: the car is gone from the session as from the
    database, and the next one typed in the same transaction is its own car (SQLite may
    give it the same id)."""
    with db.uow() as uow:
        s = uow.session
        amina = customer_for(s, garage.id, "telegram", AMINA, language="en")
        lost = in_a_step_that_fails(s, lambda: add_vehicle(s, amina, "KCB 123A", make="Toyota"))
        assert lost not in s
        assert [v.plate for v in amina.vehicles] == []
        fielder = add_vehicle(s, amina, "KDD 222B", make="Mazda")
        assert (fielder.plate, fielder.make) == ("KDD 222B", "Mazda")
    assert cars_of(db, garage) == [("KDD 222B", False)]


def test_a_removed_car_brought_back_in_a_step_that_failed_stays_removed(db, garage):
    with db.uow() as uow:
        amina = customer_for(uow.session, garage.id, "telegram", AMINA, language="en")
        add_vehicle(uow.session, amina, "KCB 123A", make="Toyota").removed_at = NOW
    with db.uow() as uow:
        s = uow.session
        amina = customer_for(s, garage.id, "telegram", AMINA, language="en")
        car = in_a_step_that_fails(s, lambda: add_vehicle(s, amina, "KCB 123A", make="Mazda"))
        assert (car.make, car.removed_at) == ("Toyota", NOW)
    assert cars_of(db, garage) == [("KCB 123A", True)]
