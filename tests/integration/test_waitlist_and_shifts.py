"""A full day's waitlist, and a mechanic going off shift, on both backends."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import runner
from bot.model import Event
from core import availability, booking, staffing, waitlist
from core.booking import Held, SlotTaken
from core.messages import Reply, render_reply
from core.models import Booking, WaitlistEntry
from tests.integration.booking_helpers import MONDAY_9AM_NAIROBI as NOW
from tests.integration.booking_helpers import loaded, new_customer


@pytest.fixture
def garage(db, nairobi_spec):
    return loaded(db, nairobi_spec)


def book(db, garage, who, start, code="wheel-alignment"):
    held = booking.hold(db, shop_id=garage.id, customer_id=new_customer(db, garage, who),
                        service_ids=(garage.services[code],), start=start, now=NOW)  # fmt: skip
    if isinstance(held, Held):
        booking.confirm(db, held.booking_id, "system", NOW)
    return held


def fill_alignment_day(db, garage, day):
    """Book every alignment slot of the day (only Achieng aligns wheels)."""
    booked = []
    while True:
        with db.uow() as uow:
            free = availability.free_slots(uow.session, garage.id, [garage.services["wheel-alignment"]], day, day, NOW)
        if not free:
            return booked
        booked.append(book(db, garage, f"filler-{len(booked)}", free[0].start))


def test_first_in_line_gets_a_freed_slot_with_a_short_claim_hold(db, garage):
    tuesday = (NOW + timedelta(days=1)).date()
    booked = fill_alignment_day(db, garage, tuesday)
    # 45 minutes plus a 10-minute buffer on a 30-minute grid: one job an hour,
    # 08:00-12:00 before lunch (5) and 14:00-17:00 after it (4).
    assert len(booked) == 9

    first = new_customer(db, garage, "first")
    second = new_customer(db, garage, "second")
    ids = (garage.services["wheel-alignment"],)
    waitlist.join(db, shop_id=garage.id, customer_id=first, day=tuesday, service_ids=ids, now=NOW)
    waitlist.join(db, shop_id=garage.id, customer_id=second, day=tuesday, service_ids=ids, now=NOW + timedelta(minutes=1))
    assert waitlist.offer_freed(db, garage.id, tuesday, NOW) is None  # still full

    booking.cancel(db, booked[3].booking_id, "customer", NOW)
    offer = waitlist.offer_freed(db, garage.id, tuesday, NOW)
    assert offer.customer_id == first
    assert offer.held.starts_at == booked[3].starts_at
    assert offer.held.hold_expires_at == NOW + timedelta(minutes=10)  # claim_hold_minutes
    assert waitlist.offer_freed(db, garage.id, tuesday, NOW) is None  # the freed slot is held

    # The first customer lets the claim hold run out: the cron job offers it to the next.
    later = NOW + timedelta(minutes=11)
    offers = waitlist.offer_everywhere(db, later)
    assert [(o.customer_id, o.held.starts_at) for o in offers] == [(second, booked[3].starts_at)]
    with db.uow() as uow:
        statuses = dict(uow.session.execute(select(WaitlistEntry.customer_id, WaitlistEntry.status)).all())
    assert statuses == {first: "lapsed", second: "offered"}


def test_joining_twice_keeps_the_customers_place(db, garage):
    day = (NOW + timedelta(days=2)).date()
    who = new_customer(db, garage, "w")
    a = waitlist.join(db, shop_id=garage.id, customer_id=who, day=day, service_ids=(1,), now=NOW)
    b = waitlist.join(db, shop_id=garage.id, customer_id=who, day=day, service_ids=(1,), now=NOW)
    assert a == b


def test_a_mechanic_goes_off_shift_and_jobs_move_to_colleagues_or_need_a_new_time(db, garage):
    ten = garage.at(2026, 11, 24, 10)
    brakes = book(db, garage, "brakes", ten, "brake-pads")          # Otieno or Kiprono
    alignment = book(db, garage, "align", ten, "wheel-alignment")   # only Achieng can
    assert alignment.mechanic_id == garage.mechanics["Achieng"]

    outcome = staffing.go_off_shift(db, garage.mechanics["Achieng"], "staff:achieng", NOW)
    assert [type(o).__name__ for o in outcome] == ["Unassigned"]
    with db.uow() as uow:
        assert uow.session.get(Booking, alignment.booking_id).status == "needs_reschedule"

    who = brakes.mechanic_id
    name = next(n for n, i in garage.mechanics.items() if i == who)
    outcome = staffing.go_off_shift(db, who, f"staff:{name}", NOW)
    assert len(outcome) == 1 and type(outcome[0]).__name__ == "Reassigned"
    moved = outcome[0]
    assert moved.from_mechanic_id == who and moved.to_mechanic_id not in (who, garage.mechanics["Achieng"])
    assert moved.starts_at == ten
    with db.uow() as uow:
        job = uow.session.get(Booking, brakes.booking_id)
        assert (job.status, job.mechanic_id, job.bay_id) == ("confirmed", moved.to_mechanic_id, brakes.bay_id)

    # Nobody left to do brakes at ten: a new brake booking at that time is refused.
    assert isinstance(book(db, garage, "late", ten, "brake-pads"), SlotTaken)


def test_a_customer_joins_the_waitlist_for_a_full_day_in_chat(db, garage):
    tuesday = (NOW + timedelta(days=1)).date()
    fill_alignment_day(db, garage, tuesday)

    def say(text: str, event: Event | None = None) -> str:
        handled = runner.handle(db, shop_id=garage.id, channel="telegram", chat_id="4400",
                                event=event or Event.typed(text), now=NOW, language_hint="en")  # fmt: skip
        return "\n".join(render_reply(reply, "en")[0] for reply in handled.replies)

    say("", Event("start"))
    for line in ("english", "book", "wheel alignment", "that's all", "kcb 123a", "skip"):
        say(line)
    assert say("tuesday") == ("Tue 24 Nov is fully booked.\n"
                              "Shall I put you on the waitlist? If a time frees up, I will offer it to you first.")
    assert say("yes").startswith("You are on the waitlist for Tue 24 Nov.")

    with db.uow() as uow:
        entry = uow.session.scalar(select(WaitlistEntry))
        assert (entry.day, entry.service_ids, entry.status, entry.channel) == (
            tuesday, [garage.services["wheel-alignment"]], "waiting", "telegram")



def test_a_hold_whose_mpesa_payment_is_on_its_way_is_not_handed_to_the_waitlist(db, garage):
    """Amina holds the last alignment (15 minutes) and taps M-Pesa at minute 14; the
    cron's pass a minute later must not give her time to Baraka, who waits for the day,
    before Safaricom's callback says she paid."""
    from core import mpesa, payments
    from core.models import Payment

    day = (NOW + timedelta(days=1)).date()
    booked = fill_alignment_day(db, garage, day)
    booking.cancel(db, booked[4].booking_id, "customer", NOW)
    held = booking.hold(db, shop_id=garage.id, customer_id=new_customer(db, garage, "amina"),
                        service_ids=(garage.services["wheel-alignment"],), start=booked[4].starts_at, now=NOW,
                        payment_method="mpesa")  # fmt: skip
    baraka = new_customer(db, garage, "baraka")
    waitlist.join(db, shop_id=garage.id, customer_id=baraka, day=day,
                  service_ids=(garage.services["wheel-alignment"],), now=NOW)  # fmt: skip
    with db.uow() as uow:
        row = uow.session.get(Booking, held.booking_id)
        paying = payments.start(uow.session, row, "mpesa", row.price_minor, NOW + timedelta(minutes=14)).payment_id

    cron = NOW + timedelta(minutes=15, seconds=20)
    booking.sweep_expired_holds(db, cron)
    assert waitlist.offer_everywhere(db, cron) == []
    mpesa.apply_result(db, paying, mpesa.Paid("SKX0000001", 0), cron + timedelta(seconds=20), source="callback")

    with db.uow() as uow:
        assert uow.session.get(Payment, paying).status == "completed"
        assert uow.session.get(Booking, held.booking_id).status == "confirmed"


def test_a_slot_freed_16_days_ahead_reaches_the_customer_waiting_for_it(db, garage):
    day = (NOW + timedelta(days=16)).date()  # Nairobi books 30 days ahead
    booked = fill_alignment_day(db, garage, day)
    waiting = new_customer(db, garage, "waiting")
    waitlist.join(db, shop_id=garage.id, customer_id=waiting, day=day,
                  service_ids=(garage.services["wheel-alignment"],), now=NOW)  # fmt: skip
    booking.cancel(db, booked[2].booking_id, "customer", NOW)

    assert [o.customer_id for o in waitlist.offer_everywhere(db, NOW + timedelta(minutes=2))] == [waiting]


def test_a_waiting_customer_who_booked_the_day_herself_leaves_the_freed_time_to_the_next(db, garage):
    day = (NOW + timedelta(days=1)).date()
    booked = fill_alignment_day(db, garage, day)
    alignment = (garage.services["wheel-alignment"],)
    wanjiku, otieno = new_customer(db, garage, "wanjiku"), new_customer(db, garage, "otieno")
    waitlist.join(db, shop_id=garage.id, customer_id=wanjiku, day=day, service_ids=alignment, now=NOW)
    waitlist.join(db, shop_id=garage.id, customer_id=otieno, day=day, service_ids=alignment,
                  now=NOW + timedelta(minutes=1))  # fmt: skip
    for freed in (booked[1], booked[6]):
        booking.cancel(db, freed.booking_id, "customer", NOW + timedelta(minutes=5))
    own = booking.hold(db, shop_id=garage.id, customer_id=wanjiku, service_ids=alignment, start=booked[1].starts_at,
                       now=NOW + timedelta(minutes=6))  # fmt: skip
    booking.confirm(db, own.booking_id, "customer", NOW + timedelta(minutes=6))

    assert [o.customer_id for o in waitlist.offer_everywhere(db, NOW + timedelta(minutes=7))] == [otieno]
    with db.uow() as uow:
        assert uow.session.scalar(select(WaitlistEntry.status).where(WaitlistEntry.customer_id == wanjiku)) == "done"


def test_a_customer_booked_that_day_for_one_car_still_gets_the_freed_time_for_her_other_car(db, garage):
    from core.customers import add_vehicle
    from core.models import Customer

    day = (NOW + timedelta(days=1)).date()
    booked = fill_alignment_day(db, garage, day)
    wanjiku = new_customer(db, garage, "wanjiku")
    with db.uow() as uow:
        her = uow.session.get(Customer, wanjiku)
        probox, fielder = add_vehicle(uow.session, her, "KCA 111A").id, add_vehicle(uow.session, her, "KDD 222B").id
    oil = booking.hold(db, shop_id=garage.id, customer_id=wanjiku, service_ids=(garage.services["oil-change"],),
                       start=booked[0].starts_at + timedelta(hours=1), now=NOW, vehicle_id=probox)  # fmt: skip
    booking.confirm(db, oil.booking_id, "customer", NOW)
    waitlist.join(db, shop_id=garage.id, customer_id=wanjiku, day=day,
                  service_ids=(garage.services["wheel-alignment"],), now=NOW, vehicle_id=fielder)  # fmt: skip
    booking.cancel(db, booked[5].booking_id, "customer", NOW + timedelta(minutes=5))

    assert [o.customer_id for o in waitlist.offer_everywhere(db, NOW + timedelta(minutes=6))] == [wanjiku]


def test_an_oil_change_booked_for_the_car_does_not_end_its_wait_for_an_alignment_that_day(db, garage):
    from core.customers import add_vehicle
    from core.models import Customer

    day = (NOW + timedelta(days=1)).date()
    booked = fill_alignment_day(db, garage, day)
    wanjiku = new_customer(db, garage, "wanjiku")
    with db.uow() as uow:
        probox = add_vehicle(uow.session, uow.session.get(Customer, wanjiku), "KCA 111A").id
    oil = booking.hold(db, shop_id=garage.id, customer_id=wanjiku, service_ids=(garage.services["oil-change"],),
                       start=booked[0].starts_at + timedelta(hours=1), now=NOW, vehicle_id=probox)  # fmt: skip
    booking.confirm(db, oil.booking_id, "customer", NOW)
    waitlist.join(db, shop_id=garage.id, customer_id=wanjiku, day=day,  # "align its wheels too, while it is there"
                  service_ids=(garage.services["wheel-alignment"],), now=NOW, vehicle_id=probox)  # fmt: skip
    booking.cancel(db, booked[5].booking_id, "customer", NOW + timedelta(minutes=5))

    assert [o.customer_id for o in waitlist.offer_everywhere(db, NOW + timedelta(minutes=6))] == [wanjiku]


def test_a_second_wish_the_same_day_for_another_car_is_a_wish_of_its_own(db, garage):
    from core.customers import add_vehicle
    from core.models import Customer

    day = (NOW + timedelta(days=1)).date()
    wanjiku = new_customer(db, garage, "wanjiku")
    with db.uow() as uow:
        her = uow.session.get(Customer, wanjiku)
        probox, fielder = add_vehicle(uow.session, her, "KCA 111A").id, add_vehicle(uow.session, her, "KDD 222B").id
    alignment, pads = (garage.services["wheel-alignment"],), (garage.services["brake-pads"],)
    first = waitlist.join(db, shop_id=garage.id, customer_id=wanjiku, day=day, service_ids=alignment, now=NOW,
                          vehicle_id=probox)  # fmt: skip
    waitlist.join(db, shop_id=garage.id, customer_id=wanjiku, day=day, service_ids=pads, now=NOW, vehicle_id=fielder)
    again = waitlist.join(db, shop_id=garage.id, customer_id=wanjiku, day=day, service_ids=alignment + pads, now=NOW,
                          vehicle_id=probox)  # the Probox's wish, asked again with more: the same place in line  # fmt: skip

    assert again == first
    with db.uow() as uow:
        wishes = uow.session.execute(select(WaitlistEntry.vehicle_id, WaitlistEntry.service_ids)
                                     .where(WaitlistEntry.status == "waiting")).all()  # fmt: skip
        assert {(v, tuple(ids)) for v, ids in wishes} == {(probox, alignment + pads), (fielder, pads)}


def test_a_waitlist_offer_that_waited_out_its_hold_is_no_longer_to_be_sent(db, garage):
    from core import outbox
    from core.models import OutboxMessage

    day = (NOW + timedelta(days=1)).date()
    booked = fill_alignment_day(db, garage, day)
    waitlist.join(db, shop_id=garage.id, customer_id=new_customer(db, garage, "waiting"), day=day,
                  service_ids=(garage.services["wheel-alignment"],), now=NOW)  # fmt: skip
    booking.cancel(db, booked[2].booking_id, "customer", NOW)
    [offer] = waitlist.offer_everywhere(db, NOW + timedelta(minutes=2))

    with db.uow() as uow:
        row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("waitlist-offer:%")))
        assert outbox.outdated(uow.session, row, NOW + timedelta(minutes=3)) is None
        late = offer.held.hold_expires_at + timedelta(seconds=1)
        assert outbox.outdated(uow.session, row, late) == "the offered time is no longer held"


def test_a_wait_for_a_day_the_owner_closes_ends_and_the_customer_is_told(db, garage):
    from core import owner
    from core.messages import Reply
    from core.models import OutboxMessage

    tuesday, wednesday = (NOW + timedelta(days=1)).date(), (NOW + timedelta(days=2)).date()
    alignment = (garage.services["wheel-alignment"],)
    for who, day in (("waits-tuesday", tuesday), ("waits-wednesday", wednesday)):
        waitlist.join(db, shop_id=garage.id, customer_id=new_customer(db, garage, who), day=day, service_ids=alignment,
                      now=NOW, channel="telegram")  # fmt: skip

    with db.uow() as uow:
        owner.set_day(uow.session, garage.id, tuesday, True, "burst pipe", NOW)

    with db.uow() as uow:
        entries = uow.session.execute(select(WaitlistEntry.day, WaitlistEntry.status).order_by(WaitlistEntry.day)).all()
        assert entries == [(tuesday, "cancelled"), (wednesday, "waiting")]
        [ended] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("waitlist-ended:%")))
        text, _ = render_reply(Reply.from_json(ended.body), "en")
    assert text == ("Sorry: the shop will be closed on Tue 24 Nov, so your place on the waiting list for it has "
                    "ended. Please choose another day.")  # fmt: skip


def test_a_wait_for_a_saturday_the_new_shop_file_no_longer_opens_ends_and_the_customer_is_told(db, garage):
    import tomllib

    from core.messages import Reply
    from core.models import OutboxMessage
    from core.shopfile import parse_shop
    from core.shops import load_shop
    from tests.conftest import NAIROBI

    saturday, monday = (NOW + timedelta(days=5)).date(), (NOW + timedelta(days=7)).date()
    for who, day in (("waits-saturday", saturday), ("waits-monday", monday)):
        waitlist.join(db, shop_id=garage.id, customer_id=new_customer(db, garage, who), day=day,
                      service_ids=(garage.services["oil-change"],), now=NOW, channel="telegram")  # fmt: skip

    raw = tomllib.loads(NAIROBI.read_text())
    raw["hours"]["sat"] = "closed"
    load_shop(db, parse_shop(raw), NOW)

    with db.uow() as uow:
        entries = uow.session.execute(select(WaitlistEntry.day, WaitlistEntry.status).order_by(WaitlistEntry.day)).all()
        assert entries == [(saturday, "cancelled"), (monday, "waiting")]
        [ended] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("waitlist-ended:%")))
        text, _ = render_reply(Reply.from_json(ended.body), "en")
    assert text.startswith("Sorry: the shop will be closed on Sat 28 Nov, so your place on the waiting list")


def test_a_wait_for_a_service_the_shop_dropped_is_closed_and_holds_up_nobody_else(db, garage, nairobi_spec, tmp_path):
    from dataclasses import replace

    from core.messages import Reply
    from core.models import OutboxMessage
    from core.shops import load_shop

    day_a, day_b = (NOW + timedelta(days=1)).date(), (NOW + timedelta(days=2)).date()
    waitlist.join(db, shop_id=garage.id, customer_id=new_customer(db, garage, "waits-for-diagnosis"), day=day_a,
                  service_ids=(garage.services["diagnosis"],), now=NOW, channel="telegram")  # fmt: skip
    second = new_customer(db, garage, "waits-for-oil")
    waitlist.join(db, shop_id=garage.id, customer_id=second, day=day_b, service_ids=(garage.services["oil-change"],),
                  now=NOW, channel="telegram")  # fmt: skip
    load_shop(db, replace(nairobi_spec, services=[s for s in nairobi_spec.services if s.code != "diagnosis"]))

    offers = waitlist.offer_everywhere(db, NOW + timedelta(minutes=5))

    assert [o.customer_id for o in offers] == [second]  # Wednesday's free oil change reaches her
    with db.uow() as uow:
        entries = uow.session.execute(select(WaitlistEntry.day, WaitlistEntry.status).order_by(WaitlistEntry.day)).all()
    assert entries == [(day_a, "cancelled"), (day_b, "offered")]
    with db.uow() as uow:
        [ended] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("waitlist-ended:%")))
        text, _ = render_reply(Reply.from_json(ended.body), "en")
    assert text.startswith("Sorry: a service you were waiting for on Tue 24 Nov is no longer offered")


def test_a_mechanic_taken_out_of_the_shop_file_leaves_his_jobs_with_colleagues_or_waiting_for_a_new_time(
        db, garage, nairobi_spec):  # fmt: skip
    from dataclasses import replace

    from core.models import OutboxMessage, Staff
    from core.shops import load_shop

    oil = book(db, garage, "amina", garage.at(2026, 11, 25, 10), code="oil-change")
    with db.uow() as uow:
        leaving = uow.session.get(Staff, uow.session.get(Booking, oil.booking_id).mechanic_id)
        phone = leaving.phone
        for member in uow.session.scalars(select(Staff)):  # everyone reads the bot on Telegram
            member.verified_at, member.telegram_user_id = NOW, 6_100_000 + member.id
    report = load_shop(db, replace(nairobi_spec, staff=[s for s in nairobi_spec.staff if s.phone != phone]), NOW)

    assert report.mechanics_gone == [leaving.id]
    with db.uow() as uow:
        job = uow.session.get(Booking, oil.booking_id)
        assert (job.status, job.mechanic_id != leaving.id) == ("confirmed", True)  # a colleague has it
        told = uow.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("reassigned:%")))
        assert len(list(told)) == 1  # and the customer was told who
        [handed] = uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.dedupe_key.like("handed-on:%")))
        assert handed["texts"][0]["id"] == "{name} has left the shop: {code} on {when} ({vehicle}) is now your job."

    load_shop(db, nairobi_spec, NOW)  # he is put back in the file (taken out by mistake, or back from leave)
    with db.uow() as uow:
        back = uow.session.get(Staff, leaving.id)
        assert (back.active, back.on_shift) == (True, True)  # bookable again, not left off shift


def test_a_job_whose_car_is_late_goes_to_a_colleague_when_its_mechanic_goes_off_shift(db, garage):
    """At 10:05 the 10:00 car has not come: the job is still to be done, by whoever is
    there when it comes, not by the mechanic who went home."""
    ten = garage.at(2026, 11, 24, 10)
    brakes = book(db, garage, "brakes", ten, "brake-pads")  # Otieno or Kiprono
    who = brakes.mechanic_id
    name = next(n for n, i in garage.mechanics.items() if i == who)

    outcome = staffing.go_off_shift(db, who, f"staff:{name}", ten + timedelta(minutes=5))

    assert [(type(o).__name__, o.code) for o in outcome] == [("Reassigned", brakes.code)]
    with db.uow() as uow:
        job = uow.session.get(Booking, brakes.booking_id)
        assert (job.status, job.starts_at) == ("confirmed", ten)
        assert job.mechanic_id not in (who, garage.mechanics["Achieng"])


def test_shorter_hours_in_the_shop_file_let_go_of_holds_they_leave_out_and_the_owner_is_asked_about_visits(db, garage):
    """Tuesdays now close at 16:00. A time held at 16:30 could still be confirmed (paid
    at the shop, a waitlist offer taken): it is let go, and its customer told. A visit
    already booked at 16:00 is a promise: the owners are asked to call its customer."""
    import tomllib

    from core.models import OutboxMessage, Staff
    from core.shopfile import parse_shop
    from core.shops import load_shop
    from tests.conftest import NAIROBI

    with db.uow() as uow:
        for member in uow.session.scalars(select(Staff)):  # everyone reads the bot on Telegram
            member.verified_at, member.telegram_user_id = NOW, 6_100_000 + member.id
    morning = book(db, garage, "morning", garage.at(2026, 11, 24, 10), "oil-change")
    late = book(db, garage, "late", garage.at(2026, 11, 24, 16), "oil-change")
    held = booking.hold(db, shop_id=garage.id, customer_id=new_customer(db, garage, "holding"),
                        service_ids=(garage.services["oil-change"],), start=garage.at(2026, 11, 24, 16, 30), now=NOW)  # fmt: skip
    raw = tomllib.loads(NAIROBI.read_text())
    raw["hours"]["tue"] = {"open": "08:00", "close": "16:00", "breaks": [["13:00", "14:00"]]}

    report = load_shop(db, parse_shop(raw), NOW)

    assert report.outside_hours == [f"{late.code} on 2026-11-24 16:00"]
    with db.uow() as uow:
        s = uow.session
        statuses = {b: s.get(Booking, b).status for b in (morning.booking_id, late.booking_id, held.booking_id)}
        assert statuses == {morning.booking_id: "confirmed", late.booking_id: "confirmed", held.booking_id: "expired"}
        told = {row.dedupe_key.split(":")[0]: row for row in s.scalars(select(OutboxMessage))}
        assert render_reply(Reply.from_json(told["hours"].body), "en")[0] == (
            "Sorry: the shop has changed its opening hours, so the time we were holding for you on Tue 24 Nov, "
            "16:30 is no longer available. Please choose another time.")  # fmt: skip
        asked = [render_reply(Reply.from_json(row.body), "en")[0] for row in s.scalars(select(OutboxMessage))
                 if row.dedupe_key.startswith("outside-hours:")]  # fmt: skip
        assert asked == [f"The new opening hours leave out visits already booked: {late.code}. "
                         "Please contact those customers."]  # fmt: skip

    load_shop(db, parse_shop(raw), NOW)  # the same file again: nothing more
    with db.uow() as uow:
        assert len([k for k in uow.session.scalars(select(OutboxMessage.dedupe_key)) if k.startswith("outside-hours:")]) == 1


def test_a_load_that_changes_no_hours_asks_nothing_again_and_one_closing_a_day_asks_about_its_visits(db, garage):
    """The owner closed Wednesday with /close and was asked about its visit then; a later
    load changing a price asked again "outside the new opening hours". A day the file
    itself closes, which nobody was asked about, is reported."""
    import tomllib

    from core import owner
    from core.shopfile import parse_shop
    from core.shops import load_shop
    from tests.conftest import NAIROBI

    wednesday, thursday = garage.at(2026, 11, 25, 10), garage.at(2026, 11, 26, 10)
    book(db, garage, "amina", wednesday, "oil-change")
    on_thursday = book(db, garage, "brian", thursday, "oil-change")
    with db.uow() as uow:
        owner.set_day(uow.session, garage.id, wednesday.date(), True, "stock-taking", NOW)
    raw = tomllib.loads(NAIROBI.read_text())
    raw["services"][0]["price"] += 100

    priced = load_shop(db, parse_shop(raw), NOW)
    raw["closures"].append({"date": thursday.date(), "reason": "Burst pipe"})
    closing = load_shop(db, parse_shop(raw), NOW)

    assert (priced.changes != [], priced.hours_changed, priced.outside_hours) == (True, False, [])
    assert closing.outside_hours == [f"{on_thursday.code} on 2026-11-26 10:00"]
