"""The conversation engine, pure: whole dialogues replayed as transcripts, no database."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import engine, whatsapp
from bot.model import (
    Booked,
    BookingView,
    Cancel,
    Done,
    Event,
    Hold,
    JoinWaitlist,
    MessageShop,
    PayBalance,
    SavePhone,
    SaveVehicle,
    SetLanguage,
    Taken,
    VehicleView,
)
from core.i18n import gettext
from core.messages import Choice, Msg, Reply, render_reply
from tests.unit.fake_context import NOW, FakeContext, at, example_shop


class Chat:
    """Plays a conversation: each line typed or tapped, each outcome fed back."""

    def __init__(self, ctx: FakeContext, lang: str = "en"):
        self.ctx, self.state, self.data, self.lang = ctx, "start", {}, lang
        self.commands: list = []
        self.shown: list[tuple[str, list[tuple[str, str]]]] = []
        self.notes: tuple = ()  # said first by the next step that speaks (as bot.runner does)

    def send(self, event: Event):
        result = engine.step(self.state, self.data, event, self.ctx)
        self.state, self.data = result.state, result.data
        self.commands += result.commands
        self.lang = self.data.get("lang") or self.lang
        self.notes += result.notes
        replies, self.notes = (engine.said_first(self.notes, result.replies), ()) if result.replies else ([], self.notes)
        self.shown = [render_reply(r, self.lang) for r in replies]
        return self

    def type(self, text: str):
        return self.send(Event.typed(text))

    def tap(self, choice: str):
        return self.send(Event.tapped(choice))

    def answer(self, word: str):
        """Tap the shown "yes", "no" or "confirm" button (its id names the question)."""
        return self.tap(next(cid for cid in self.ids if cid.startswith(f"{word}:")))

    def outcome(self, outcome):
        return self.send(Event("outcome", outcome=outcome))

    @property
    def text(self) -> str:
        return "\n".join(t for t, _ in self.shown)

    @property
    def choices(self) -> list[str]:
        return [label for _, cs in self.shown for _, label in cs]

    @property
    def ids(self) -> list[str]:
        return [cid for _, cs in self.shown for cid, _ in cs]


def test_first_contact_greets_and_offers_every_shop_language():
    chat = Chat(FakeContext()).send(Event("start"))
    assert chat.text == ("Hello! This is Mwangaza Motors. I can book your car in and keep you posted.\n"
                         "Which language do you prefer?")
    assert chat.choices == ["English", "Kiswahili", "Русский", "Қазақша"]


def test_customer_books_an_oil_change_typing_everything_in_english():
    chat = Chat(FakeContext()).send(Event("start")).type("english").type("book")
    assert chat.state == "services"
    chat.type("oil chnge")
    assert chat.text.startswith("Added: Oil change.")
    chat.type("that's all")
    assert chat.state == "plate"
    chat.type("kcb 123a").type("skip")
    assert chat.commands[-1] == SaveVehicle("KCB 123A", None)
    chat.outcome(Done("vehicle", {"vehicle_id": 3, "plate": "KCB 123A"}))
    assert chat.state == "day" and chat.text.startswith("Saved KCB 123A.")
    chat.type("tomorrow 10am")
    assert chat.state == "summary"
    assert chat.text == ("Please check your booking:\nServices: Oil change\nWhen: Tue 24 Nov, 10:00\n"
                         "Price: Ksh3,500\nFree cancellation until 24 hours before. Cancelling later, or not "
                         "coming, costs one of your monthly tokens.\nYou have 2 tokens left this month.")
    chat.type("yes")
    assert chat.choices == ["M-Pesa", "Pay at the shop"]
    chat.type("pay at the shop")
    assert chat.commands[-1] == Hold((1,), at(24, 10), 3, "cash")
    chat.outcome(Booked(9, "MM-1001", at(24, 10), True, 0, 0, "cash"))
    assert chat.state == "menu"
    assert chat.text.startswith("Booked! Your code is MM-1001.\nOil change, Tue 24 Nov, 10:00. Pay at the shop.")


def test_a_visit_of_two_services_chosen_at_once_with_a_deposit_is_paid_by_mpesa():
    ctx = FakeContext().with_vehicle()
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").type("1 and 2")
    assert chat.state == "vehicle"  # every service of the shop chosen: nothing left to add
    chat.tap("veh:3").tap("day:2026-11-25").tap(f"time:{at(25, 14).isoformat()}")
    assert "Paid in advance: Ksh1,000" in chat.text
    assert "Cancel in time and the money paid in advance is refunded; later, or not coming, and the shop keeps it." \
        in chat.text.split("\n")  # fmt: skip
    chat.answer("confirm")
    assert chat.choices == ["M-Pesa"]  # a deposit is due, so not "pay at the shop"
    chat.tap("pay:mpesa")
    assert chat.state == "phone"
    chat.type("0712 345 678")
    assert chat.commands[-2:] == [Hold((1, 2), at(25, 14), 3, "mpesa", "+254712345678"), SavePhone("+254712345678")]  # her row written last
    chat.outcome(Booked(9, "MM-1002", at(25, 14), False, 100000, 15, "mpesa"))
    assert chat.text.startswith("Your time Wed 25 Nov, 14:00 is held for 15 minutes while you pay. Code: MM-1002.\n"
                                "Check your phone: M-Pesa will ask you to pay Ksh1,000.")


def test_a_time_typed_at_the_time_step_is_read_as_a_time_not_matched_to_a_similar_button():
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book")
    chat.tap("svc:1").tap("done").tap("veh:3").tap("day:2026-11-25")
    assert chat.choices[:4] == ["10:00", "11:00", "14:00", "15:00"]
    chat.type("4:00")  # four in the afternoon, which is not free; "14:00" only looks like it
    assert (chat.state, chat.text.splitlines()[0]) == ("time", "16:00 is not free that day.")
    chat.type("2:00")
    assert (chat.state, chat.data["start"]) == ("summary", at(25, 14).isoformat())


def test_a_bare_number_that_is_both_a_button_and_a_free_hour_is_asked_about_on_telegram():
    ctx = FakeContext(numbered=False).with_vehicle()  # Telegram: buttons, no numbers shown
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done").tap("veh:3")
    chat.tap("day:2026-11-25")
    chat.type("2")  # the second button (11:00), or two o'clock (14:00)?
    assert (chat.state, chat.text.splitlines()[0], chat.choices) == (
        "time", "Which of these did you mean?", ["11:00", "14:00", "Another day"])
    chat.tap(f"time:{at(25, 14).isoformat()}")
    assert (chat.state, chat.data["start"]) == ("summary", at(25, 14).isoformat())
    numbered = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1")
    numbered.tap("done").tap("veh:3").tap("day:2026-11-25").type("2")  # WhatsApp shows "2. 11:00"
    assert (numbered.state, numbered.data["start"]) == ("summary", at(25, 11).isoformat())


def test_a_slot_taken_meanwhile_gets_an_apology_and_fresh_times():
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book")
    chat.tap("svc:1").tap("done").tap("veh:3").type("wednesday 10:00").answer("confirm").tap("pay:cash")
    chat.outcome(Taken(at(25, 10), (at(25, 11), at(25, 14))))
    assert chat.state == "time"
    assert chat.text.startswith("Sorry, 10:00 was taken by someone else a moment ago.\nHere are the nearest free times.")
    assert chat.choices == ["11:00", "14:00", "Another day"]


def test_a_full_day_offers_the_waitlist():
    ctx = FakeContext().with_vehicle()
    ctx.full_days.add(date(2026, 11, 26))
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done").tap("veh:3")
    chat.type("thursday")
    assert chat.state == "waitlist" and chat.text.startswith("Thu 26 Nov is fully booked.")
    chat.type("yes")
    assert chat.commands[-1] == JoinWaitlist(date(2026, 11, 26), (1,), 3)
    chat.outcome(Done("waitlist"))
    assert chat.text.startswith("You are on the waitlist for Thu 26 Nov.")


def booking_tomorrow(hours_ahead=26):
    return BookingView(9, "MM-1009", NOW + timedelta(hours=hours_ahead), "confirmed", ({"en": "Oil change"},), 350000, "KCB 123A", (1,))


def test_cancelling_early_is_free_and_said_so_before_confirming():
    ctx = FakeContext(my_bookings=[booking_tomorrow(30)])
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:bookings").tap("bk:9").tap("cancel")
    assert chat.text.endswith("Cancelling now is free.")
    chat.type("yes")
    assert chat.commands[-1] == Cancel(9)
    chat.outcome(Done("cancel", {"code": "MM-1009", "token_cost": 0, "tokens_left": 2}))
    assert chat.text.startswith("Cancelled MM-1009.\nWhat would you like to do?")


def test_a_cancel_button_left_from_before_the_car_came_in_says_so_at_once():
    ctx = FakeContext(my_bookings=[booking_tomorrow(30)])
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:bookings").tap("bk:9")
    ctx.my_bookings = [replace(booking_tomorrow(30), status="received")]  # the mechanic took the car in meanwhile
    chat.tap("cancel")
    assert (chat.state, chat.text.splitlines()[0]) == ("booking", "That booking can no longer be changed.")
    assert "Cancel the booking" not in chat.choices


@pytest.mark.parametrize("button", ["rm:cancel:9", "rm:move:9"])
def test_a_reminders_button_after_the_car_came_in_says_so_at_once(button):
    ctx = FakeContext(my_bookings=[replace(booking_tomorrow(2), status="received")])  # taken in early
    chat = Chat(ctx).send(Event("start")).tap("lang:en")
    before = len(chat.commands)
    chat.tap(button)
    assert (chat.state, chat.text.splitlines()[0]) == ("menu", "That booking can no longer be changed.")
    assert chat.commands[before:] == []


def test_cancelling_late_states_the_token_cost_before_confirming():
    ctx = FakeContext(my_bookings=[booking_tomorrow(5)])
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:bookings").tap("bk:9").tap("cancel")
    assert "costs one token. You will have 1 left this month." in chat.text
    chat.answer("yes").outcome(Done("cancel", {"code": "MM-1009", "token_cost": 1, "tokens_left": 1}))
    assert chat.text.startswith("Cancelled MM-1009.\nOne token was used. You have 1 left this month.")


def test_cancelling_late_a_visit_on_a_day_the_shop_closed_since_is_free():
    ctx = FakeContext(my_bookings=[booking_tomorrow(5)])
    ctx.is_open = lambda day: False  # the owner closed the day (/close) and phoned her
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:bookings").tap("bk:9").tap("cancel")
    assert chat.text.endswith("Cancelling now is free.")


def test_rescheduling_moves_the_booking_after_a_confirmation():
    ctx = FakeContext(my_bookings=[booking_tomorrow(30)])
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:bookings").tap("bk:9").tap("resched")
    assert chat.state == "day"
    chat.type("friday 3pm")
    assert chat.state == "resched_confirm" and chat.text == "Move MM-1009 to Fri 27 Nov, 15:00?"
    chat.type("yes")
    chat.outcome(Done("reschedule", {"code": "MM-1009"}))
    assert chat.text.startswith("Done. MM-1009 is now on Fri 27 Nov, 15:00.")


def test_back_menu_and_stop_work_in_the_middle_of_a_booking():
    chat = Chat(FakeContext()).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done")
    assert chat.state == "plate"
    chat.type("back")
    assert chat.state == "services"
    chat.type("stop")
    assert chat.state == "menu" and chat.text.startswith("Stopped. Nothing was changed.")
    chat.tap("m:book").type("menu")
    assert chat.state == "menu"


def test_the_language_can_be_changed_at_any_time():
    chat = Chat(FakeContext()).send(Event("start")).tap("lang:en").tap("m:book").type("/lang")
    assert chat.state == "language"
    chat.type("Русский")
    assert chat.commands[-1] == SetLanguage("ru") and chat.lang == "ru"


def test_an_idle_conversation_starts_over_gracefully():
    ctx = FakeContext()
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book")
    ctx.now = NOW + timedelta(hours=2)
    chat.type("1")
    assert chat.state == "menu"
    assert chat.text.startswith("Welcome back! We left off a while ago, so let's start again.")


def test_a_reminders_button_works_in_a_chat_left_mid_step_hours_ago():
    ctx = FakeContext().with_vehicle()
    ctx.my_bookings = [BookingView(5, "MM-1005", at(25, 10), "confirmed", ({"en": "Oil change"},), 350000,
                                   "KCB 123A", (1,))]  # fmt: skip
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:bookings")
    assert chat.state == "bookings"
    ctx.now = NOW + timedelta(hours=2)  # the reminder comes, and is tapped, long after
    chat.tap("rm:cancel:5")
    assert chat.state == "cancel_confirm"
    assert chat.text == "Cancel MM-1005 on Wed 25 Nov, 10:00?\nCancelling now is free."


def test_a_yes_left_on_an_earlier_question_does_not_cancel_another_booking():
    ctx = FakeContext().with_vehicle()
    ctx.my_bookings = [BookingView(5, "MM-1005", at(25, 10), "confirmed", ({"en": "Oil change"},), 350000,
                                   "KCB 123A", (1,)),
                       BookingView(6, "MM-1006", at(30, 10), "confirmed", ({"en": "Brake pads"},), 450000,
                                   "KCB 123A", (2,))]  # fmt: skip
    chat = Chat(ctx).send(Event("start")).type("English").type("My bookings").tap("bk:5").tap("resched")
    chat.tap("day:2026-11-27")
    chat.tap(chat.ids[0])
    assert chat.state == "resched_confirm"
    move_it = next(cid for cid in chat.ids if cid.startswith("yes:"))
    chat.type("menu").type("My bookings").tap("bk:6").tap("cancel")
    assert chat.state == "cancel_confirm"

    issued = len(chat.commands)
    chat.tap(move_it)  # scrolled up, and tapped "Yes, move it" on the question about MM-1005

    assert chat.commands[issued:] == []
    assert chat.state == "cancel_confirm"
    assert chat.text == ("That button belongs to an earlier question, so I did nothing.\n"
                         "Cancel MM-1006 on Mon 30 Nov, 10:00?\nCancelling now is free.")
    chat.answer("yes")
    assert chat.commands[issued:] == [Cancel(6)]


@pytest.mark.parametrize("typed, vehicle_id, plate", [("kcb-123a", 3, None), ("Probox", 3, None), ("№1", 3, None),
                                                      ("no. 1", 3, None), ("kcb 124a", None, "KCB 124A")])  # fmt: skip
def test_a_typed_plate_picks_the_saved_car_only_when_it_is_the_same_plate(typed, vehicle_id, plate):
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).type("English").type("book").type("1")
    chat.type("continue")
    assert chat.state == "vehicle"
    chat.type(typed)
    assert (chat.data.get("vehicle_id"), chat.data.get("plate")) == (vehicle_id, plate)


def test_back_while_moving_a_booking_goes_to_its_card_not_to_the_services():
    ctx = FakeContext().with_vehicle()
    ctx.my_bookings = [BookingView(5, "MM-1005", at(25, 10), "confirmed", ({"en": "Oil change"},), 350000,
                                   "KCB 123A", (1,))]  # fmt: skip
    chat = Chat(ctx).send(Event("start")).type("English").type("My bookings").type("1").type("Change the time")
    assert chat.state == "day"
    chat.type("back")
    assert chat.state == "booking"
    assert chat.text == ("Booking MM-1005\nServices: Oil change\nVehicle: KCB 123A\nWhen: Wed 25 Nov, 10:00\n"
                         "Status: confirmed\nPrice: Ksh3,500")


def test_a_closed_day_is_called_closed_not_full_and_no_waitlist_is_offered():
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1")
    chat.tap("done").tap("veh:3")
    chat.type("sunday")
    assert chat.state == "day"
    assert chat.text.startswith("We are closed on Sun 29 Nov.\nWhich day suits you?")


def test_no_time_left_today_is_said_so_and_no_waitlist_is_offered():
    ctx = FakeContext().with_vehicle()
    ctx.full_days.add(ctx.today())
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done").tap("veh:3")
    chat.type("today")
    assert chat.state == "day"
    assert chat.text.startswith("There is no free time left today.\nWhich day suits you?")


@pytest.mark.parametrize("lang, done", [("en", "done"), ("ru", "готово"), ("sw", "tayari"), ("kk", "болды")])
def test_done_ends_the_services_in_every_language(lang, done):
    chat = Chat(FakeContext(), lang).send(Event("start")).tap(f"lang:{lang}").tap("m:book").tap("svc:1")
    chat.type(done)
    assert chat.state == "plate"


@pytest.mark.parametrize("typed", ["наличными", "на месте", "оплачу на месте", "taslimu"])
def test_paying_at_the_shop_can_be_typed_the_way_people_say_it(typed):
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1")
    chat.tap("done").tap("veh:3").type("wednesday 10:00").answer("confirm")
    assert chat.state == "payment"
    chat.type(typed)
    assert chat.commands[-1].payment_method == "cash"


def test_a_time_typed_at_the_menu_is_kept_for_when_the_services_and_vehicle_are_chosen():
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en")
    chat.type("tomorrow 10am")
    assert chat.state == "services"
    chat.tap("svc:1").tap("done").tap("veh:3")
    assert chat.state == "summary"
    assert chat.data["start"] == at(24, 10).isoformat()


def test_tomorrow_typed_at_the_menu_just_before_midnight_is_still_that_tomorrow_after_it():
    ctx = FakeContext(now=at(23, 23, 58)).with_vehicle()  # Monday 23:58 in Nairobi
    chat = Chat(ctx).send(Event("start")).tap("lang:en")
    chat.type("tomorrow 10am")  # Tuesday 10:00
    ctx.now = at(23, 23, 58) + timedelta(minutes=4)  # the service and the car chosen after midnight
    chat.tap("svc:1").tap("done").tap("veh:3")
    assert chat.state == "summary"
    assert chat.data["start"] == at(24, 10).isoformat()  # not Wednesday


def test_a_menu_number_typed_with_please_is_that_item_not_two_oclock():
    chat = Chat(FakeContext()).send(Event("start")).tap("lang:en")
    chat.type("2 pls")  # "2. My bookings"
    assert chat.state == "bookings" and not chat.data.get("wanted")


@pytest.mark.parametrize("numbered, said", [
    (True, "I can only read text here. Please type your answer, or the number of a choice."),  # WhatsApp
    (False, "I can only read text and buttons here. Please type your answer or tap a button."),  # Telegram
])  # fmt: skip
def test_a_sticker_is_answered_in_the_channels_own_terms(numbered, said):
    chat = Chat(FakeContext(numbered=numbered)).send(Event("start")).tap("lang:en")
    chat.send(Event("unsupported"))
    assert chat.text.splitlines()[0] == said


def test_an_unclear_answer_to_the_summary_says_what_to_choose_without_buttons_on_whatsapp():
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1")
    chat.tap("done").tap("veh:3").tap("day:2026-11-25").type("2")
    chat.type("hmm")
    assert chat.text.splitlines()[:2] == ["Sorry, I did not get that.", "Choose Confirm to book, or Change the time."]


def test_a_day_tapped_whose_last_time_went_while_they_read_is_told_so_not_offered_a_waitlist():
    ctx = FakeContext(now=at(23, 14, 50)).with_vehicle()
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done").tap("veh:3")
    assert "day:2026-11-23" in chat.ids  # today: 15:00 is still free
    ctx.full_days = {date(2026, 11, 23)}  # taken while they read

    chat.tap("day:2026-11-23")

    assert chat.state == "day" and chat.text.startswith("There is no free time left today.")


def test_a_day_tapped_that_is_closed_is_called_closed():
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1")
    chat.tap("done").tap("veh:3")
    chat.tap("day:2026-11-29")  # a Sunday (as a day the owner closed after the list was shown)
    assert chat.state == "day" and chat.text.startswith("We are closed on Sun 29 Nov.")


@pytest.mark.parametrize("lang, pick, typed", [("ru", "русский", "хочу записаться"), ("kk", "қазақша", "жазылу керек"),
                                               ("kk", "қазақша", "жазылғым келеді")])  # fmt: skip
def test_i_want_to_book_said_in_russian_or_kazakh_starts_a_booking(lang, pick, typed):
    """"записаться" (to book) is also the stem of "Мои записи" (my bookings): the word
    itself wins over a word like it."""
    chat = Chat(FakeContext(language_hint=lang)).send(Event("start")).type(pick)
    chat.type(typed)
    assert chat.state == "services", chat.text


def test_paying_the_balance_from_another_number_comes_back_to_the_booking_in_progress():
    ctx = FakeContext().with_vehicle()
    ctx.customer = replace(ctx.customer, phone="+254712000000")
    chat = chat_in("en", ctx).tap("m:book").tap("svc:1").tap("done").tap("veh:3")  # choosing a day, when...
    chat.tap("paybalance:5:mpesa:other").type("0722 111 222")  # ...the car is ready: pay from his other line

    assert chat.commands[-1] == PayBalance(5, "mpesa", "+254722111222")  # for this payment: no SavePhone
    chat.outcome(Done("paybalance", {"amount": 350000, "method": "mpesa"}))
    assert (chat.state, chat.data.get("services")) == ("day", [1])


def test_a_customer_with_no_phone_paying_from_another_number_is_asked_for_it_once():
    chat = chat_in("en", FakeContext().with_vehicle())  # Telegram, no phone on file
    chat.tap("paybalance:5:mpesa:other").type("0722 111 222")
    assert chat.commands[-1] == PayBalance(5, "mpesa", "+254722111222")
    assert not [c for c in chat.commands if isinstance(c, SavePhone)]  # for this payment only


def test_leaving_which_number_for_the_menu_leaves_nothing_behind_for_the_next_payment():
    chat = chat_in("en", FakeContext().with_vehicle())
    chat.tap("paybalance:5:mpesa:other").type("menu")
    assert chat.state == "menu" and not {"new_phone", "after_phone", "pay_from"} & set(chat.data)


def test_an_offer_taken_while_which_number_was_asked_asks_for_his_own_number_and_keeps_it():
    from bot.model import AcceptOffer

    chat = chat_in("en", FakeContext(my_bookings=[held_offer(100000)]))  # Telegram, no phone on file
    chat.tap("paybalance:5:mpesa:other").tap("offer:yes:9")  # another number for the balance... no: the offer
    assert chat.text.startswith("M-Pesa needs your phone number.")
    chat.type("0712 345 678")
    assert chat.commands[-2:] == [AcceptOffer(9, "mpesa", "+254712345678"), SavePhone("+254712345678")]
    assert not {"new_phone", "pay_from"} & set(chat.data)


def test_a_booking_paid_by_mpesa_after_another_number_was_left_unanswered_is_held():
    chat = chat_in("en", FakeContext().with_vehicle())  # Telegram, no phone on file
    chat.tap("m:book").tap("svc:1").tap("done").tap("veh:3").tap("day:2026-11-25").type("2").answer("confirm")
    chat.tap("paybalance:5:mpesa:other").tap("rate:5:5")  # the rating, not the number
    chat.outcome(Done("rated", {"stars": 5}))
    chat.tap("pay:mpesa")
    assert chat.text.startswith("M-Pesa needs your phone number.")
    chat.type("0712 345 678")
    assert isinstance(chat.commands[-2], Hold) and chat.commands[-2].phone == "+254712345678" and chat.commands[-1] == SavePhone("+254712345678")


def test_a_balance_paid_from_another_number_while_his_own_number_was_asked_comes_back_to_that_question():
    chat = chat_in("en", FakeContext().with_vehicle())  # Telegram, no phone on file
    chat.tap("m:book").tap("svc:1").tap("done").tap("veh:3").tap("day:2026-11-25").type("2").answer("confirm")
    chat.tap("pay:mpesa")  # "M-Pesa needs your phone number", when the car-ready notice comes
    chat.tap("paybalance:5:mpesa:other").type("0722 111 222")
    assert chat.commands[-1] == PayBalance(5, "mpesa", "+254722111222")

    chat.outcome(Done("paybalance", {"amount": 350000, "method": "mpesa"}))

    assert (chat.state, chat.data.get("services")) == ("phone", [1])  # his booking's own question again


def test_pay_now_by_mpesa_from_the_menu_asks_for_the_number_once_and_returns_to_the_menu():
    chat = chat_in("en", FakeContext())  # Telegram, no phone on file, at the menu
    chat.tap("paybalance:5:mpesa").type("0712 345 678")
    assert chat.commands[-2:] == [PayBalance(5, "mpesa", "+254712345678"), SavePhone("+254712345678")]
    chat.outcome(Done("paybalance", {"amount": 350000, "method": "mpesa"}))
    assert chat.state == "menu"


def test_words_for_the_shop_typed_after_a_pause_still_go_to_the_shop():
    """The customer opened "Talk to the shop" and wrote 40 minutes later: the words were
    dropped with "Welcome back! ... let's start again", and nobody read them."""
    ctx = FakeContext()
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:shop")
    ctx.now = NOW + timedelta(minutes=40)
    chat.type("Can you also look at the aircon?")
    assert chat.commands[-1] == MessageShop("Can you also look at the aircon?")
    assert (chat.state, chat.text.splitlines()[0]) == ("menu", "Sent to the shop. They will answer you here.")


@pytest.mark.parametrize("typed, lang", [("kazakh", "kk"), ("казахский", "kk"), ("английский", "en"),
                                         ("Kiingereza", "en"), ("по-русски", "ru"), ("swahili", "sw")])
def test_a_language_named_in_another_language_is_understood(typed, lang):
    ctx = FakeContext()
    ctx.shop = replace(ctx.shop, languages=("en", "sw", "ru", "kk"))
    chat = Chat(ctx).send(Event("start"))
    chat.type(typed)
    assert (chat.state, chat.data.get("lang")) == ("menu", lang)


def test_changing_language_in_the_middle_of_a_booking_goes_on_with_it():
    """"language" typed at the day step went to the menu in Swahili, the booking lost."""
    ctx = FakeContext().with_vehicle()
    ctx.shop = replace(ctx.shop, languages=("en", "sw"))
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done").tap("veh:3")
    assert chat.state == "day"
    chat.type("language")
    chat.tap("lang:sw")
    assert (chat.state, chat.data["services"], chat.data["lang"]) == ("day", [1], "sw")
    assert chat.text.splitlines()[0] == gettext("sw", "Great, let's talk in English.")


def test_a_number_past_the_end_of_the_menu_is_asked_again_not_taken_for_an_hour():
    """"9" at a menu of six (on WhatsApp, numbered) started a booking for 09:00."""
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en")
    chat.type("9")
    assert (chat.state, chat.text.splitlines()[:2]) == ("menu", ["Sorry, I did not get that.",
                                                       "Please choose one of the options below."])
    chat.type("at 9")
    assert (chat.state, chat.data["wanted"]) == ("services", "at 9")


def test_a_reminder_answered_by_its_number_hours_later_is_carried_out():
    ctx = FakeContext().with_vehicle()
    ctx.my_bookings = [BookingView(5, "MM-1005", at(25, 10), "confirmed", ({"en": "Oil change"},), 350000,
                                   "KCB 123A", (1,))]  # fmt: skip
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:bookings")
    # the reminder came while the chat was mid-step (core.notices.remember_choices keeps the state)
    chat.data["offered"] = [["rm:cancel:5", ["Cancel the booking"]], ["rm:move:5", ["Choose a new time"]]]
    ctx.now = NOW + timedelta(hours=2)
    chat.type("1")  # on WhatsApp, the customer answers with the number
    assert chat.state == "cancel_confirm"
    assert chat.text == "Cancel MM-1005 on Wed 25 Nov, 10:00?\nCancelling now is free."


def test_anything_not_understood_gets_a_short_reprompt_saying_what_is_expected():
    chat = Chat(FakeContext()).send(Event("start")).tap("lang:en").tap("m:book")
    chat.type("purple elephant")
    assert chat.text.startswith("Sorry, I did not get that.\nType the number or the name of a service.")
    assert chat.state == "services"


STATES = sorted(engine.HANDLERS)
EVENTS = st.one_of(
    st.builds(Event.typed, st.text(max_size=40)),
    st.builds(Event.tapped, st.sampled_from(["lang:en", "m:book", "svc:1", "svc:2", "done", "veh:3", "veh:new", "back",
                                             "stop", "confirm", "pay:cash", "pay:mpesa", "yes", "no", "bk:9", "cancel",
                                             "resched", "day:2026-11-25", f"time:{at(25, 10).isoformat()}", "skip",
                                             "offer:yes:9", "rm:cancel:9", "payagain:9:mpesa", "zzz"])),
    st.just(Event("start")), st.just(Event("contact", phone="+254712345678")), st.just(Event("unsupported")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STATES), st.lists(EVENTS, min_size=1, max_size=6))
def test_any_event_in_any_state_gets_a_reply_and_leaves_a_valid_state(start, events):
    ctx = FakeContext(my_bookings=[booking_tomorrow(30)]).with_vehicle()
    data = {"lang": "en", "services": [1], "day": "2026-11-25", "start": at(25, 10).isoformat(), "booking_id": 9,
            "plate": "KCB 1A", "method": "cash", "code": "MM-1009"}
    state = start
    for event in events:
        result = engine.step(state, data, event, ctx)
        assert result.state in engine.HANDLERS
        assert result.replies or result.commands, (state, event)
        for reply in result.replies:
            render_reply(reply, "en")
        state, data = result.state, result.data


def test_pay_now_when_the_car_is_ready_works_from_any_state():
    from bot.model import PayBalance

    ctx = FakeContext()
    ctx.customer = replace(ctx.customer, phone="+254712345678")
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:vehicles")
    chat.tap("paybalance:9:mpesa")
    assert chat.commands[-1] == PayBalance(9, "mpesa")
    chat.outcome(Done("paybalance", {"amount": 800000, "method": "mpesa"}))
    assert chat.text.startswith("Check your phone: M-Pesa will ask you to pay Ksh8,000.")
    chat.tap("paybalance:9:bitcoin")
    assert chat.state == "menu" and chat.commands[-1] == PayBalance(9, "mpesa")



PHONE_PLEASE = "M-Pesa needs your phone number. Share it with the button, or type it."


def held_offer(deposit_minor: int) -> BookingView:
    """A waitlist offer: a freed time held for this customer."""
    return BookingView(9, "MM-1009", at(25, 10), "held", ({"en": "Brake pads"},), 450000, None, (2,), deposit_minor)


def test_accepting_an_offer_with_a_deposit_asks_a_customer_without_a_phone_for_their_number_first():
    from bot.model import AcceptOffer, SavePhone

    chat = Chat(FakeContext(my_bookings=[held_offer(100000)])).send(Event("start")).tap("lang:en")
    chat.tap("offer:yes:9")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    assert not any(isinstance(c, AcceptOffer) for c in chat.commands)
    chat.type("0712 345 678")
    assert chat.commands[-2:] == [AcceptOffer(9, "mpesa", "+254712345678"), SavePhone("+254712345678")]
    assert chat.state == "offer" and "after_phone" not in chat.data
    chat.outcome(Booked(9, "MM-1009", at(25, 10), False, 100000, 10, "mpesa", None, (2,)))
    assert chat.text.startswith("Your time Wed 25 Nov, 10:00 is held for 10 minutes while you pay. Code: MM-1009.")


def test_a_number_mpesa_cannot_prompt_is_asked_again_not_tried_and_failed():
    """Kamau writes from a Tanzanian WhatsApp number, which M-Pesa (Kenya) cannot prompt:
    asking for a Kenyan number beats a payment that can only fail, again and again."""
    from bot.model import AcceptOffer, CustomerInfo, SavePhone

    ctx = FakeContext(my_bookings=[held_offer(100000)], customer=CustomerInfo(7, "Kamau", "+255754123456", "en", 2))
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("offer:yes:9")
    assert (chat.state, chat.text) == ("phone", "M-Pesa needs a Kenyan mobile number, like 0712 345 678. Please type it.")
    chat.type("020 2345678")  # the garage's landline
    assert (chat.state, chat.text) == ("phone", "M-Pesa needs a Kenyan mobile number, like 0712 345 678. Please type it.")
    assert not any(isinstance(c, AcceptOffer | SavePhone) for c in chat.commands)
    chat.type("0712 345 678")
    assert chat.commands[-2:] == [AcceptOffer(9, "mpesa", "+254712345678"), SavePhone("+254712345678")]


def test_an_offer_without_a_deposit_is_taken_at_once_to_be_paid_at_the_shop():
    from bot.model import AcceptOffer

    chat = Chat(FakeContext(my_bookings=[held_offer(0)])).send(Event("start")).tap("lang:en")
    chat.tap("offer:yes:9")
    assert chat.commands[-1] == AcceptOffer(9, "cash") and chat.state == "offer"


def test_an_offer_is_paid_by_its_own_visits_rule_not_the_booking_the_chat_is_in():
    from bot.model import AcceptOffer

    chat = Chat(FakeContext(my_bookings=[held_offer(0)]).with_vehicle()).send(Event("start")).tap("lang:en")
    chat.tap("m:book").tap("svc:2").tap("done")  # brake pads, with a deposit, in the middle of a booking
    chat.tap("offer:yes:9")
    assert chat.commands[-1] == AcceptOffer(9, "cash")  # the offered oil change has none


def test_a_forged_vehicle_button_is_not_taken_for_another_customers_car():
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book")
    chat.tap("svc:1").tap("done")
    assert chat.ids[:1] == ["veh:3"]
    chat.tap("veh:4")  # not one of hers: someone else's id, typed into a forged button
    assert (chat.state, "vehicle_id" in chat.data) == ("vehicle", False)
    assert chat.text.startswith("Sorry, I did not get that.\nChoose a vehicle from the list, or type a new plate.")
    chat.tap("veh:3")
    assert (chat.state, chat.data["vehicle_id"]) == ("day", 3)


@pytest.mark.parametrize("forged", ["offer:yes:abc", "offer:", "rm:cancel", "payagain:12", "day:garbage", "time:x"])
def test_a_button_we_never_sent_is_answered_as_no_longer_valid(forged):
    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book")
    chat.tap("svc:1").tap("done").tap("veh:3")
    if forged.startswith("time:"):
        chat.tap("day:2026-11-25")
    chat.tap(forged)
    assert (chat.state, chat.text.splitlines()[0]) == ("menu", "That button is no longer valid.")


def test_a_forged_button_after_a_long_pause_is_answered_as_no_longer_valid_too():
    ctx = FakeContext().with_vehicle()
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done")
    ctx.now += timedelta(minutes=45)  # she comes back to the chat after a while
    chat.tap("offer:yes:abc")
    assert (chat.state, chat.text.splitlines()[0]) == ("menu", "That button is no longer valid.")


def test_a_language_the_shop_does_not_speak_is_not_taken_from_a_forged_button():
    chat = Chat(FakeContext(shop=replace(FakeContext().shop, languages=("en", "sw")))).send(Event("start"))
    chat.tap("lang:de-xx-very-long")
    assert "lang" not in chat.data or chat.data["lang"] in ("en", "sw")
    assert not any(c.lang not in ("en", "sw") for c in chat.commands if hasattr(c, "lang"))


def test_a_notice_answered_in_the_middle_of_a_booking_goes_back_to_the_question_it_interrupted():
    from bot.model import DecideExtra

    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en").tap("m:book")
    chat.tap("svc:1").tap("done").tap("veh:3")
    assert chat.state == "day"
    chat.tap("extra:yes:12")  # the extra work on another car, answered from its notice
    assert chat.commands[-1] == DecideExtra(12, True)
    chat.outcome(Done("extra", {"work": "Wiper blades", "approved": True, "total": 470000}))
    assert chat.text.startswith("Thank you: the extra work (Wiper blades) is approved. Your new total is Ksh4,700.\n"
                                "Which day suits you?")  # fmt: skip
    assert (chat.state, chat.data["services"], chat.data["vehicle_id"]) == ("day", [1], 3)


DAY_ASKED = "Which day suits you? Choose one, or type a date like \"Friday\" or \"25.12\"."


def choosing_a_day(ctx: FakeContext) -> Chat:
    """In the middle of a booking: an oil change for her car chosen, the day asked."""
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("m:book").tap("svc:1").tap("done").tap("veh:3")
    assert chat.state == "day"
    return chat


def test_the_balance_paid_by_mpesa_mid_booking_asks_her_number_then_goes_back_to_the_day():
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("paybalance:5:mpesa")  # the car she left yesterday is ready
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    chat.type("0712 345 678")
    assert chat.commands[-2:] == [PayBalance(5, "mpesa", "+254712345678"), SavePhone("+254712345678")]

    chat.outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))

    assert chat.text == ("Check your phone: M-Pesa will ask you to pay Ksh4,500. Enter your PIN to confirm.\n"
                         + DAY_ASKED)  # fmt: skip
    assert (chat.state, chat.data["services"], chat.data["vehicle_id"]) == ("day", [1], 3)


def test_back_from_the_number_asked_for_a_freed_time_goes_back_to_the_day():
    chat = choosing_a_day(FakeContext(my_bookings=[held_offer(100000)]).with_vehicle())
    chat.tap("offer:yes:9")
    assert chat.state == "phone"

    chat.tap("back")

    assert (chat.state, chat.text, chat.data["services"]) == ("day", DAY_ASKED, [1])
    assert "after_phone" not in chat.data


def test_a_number_given_for_a_freed_time_at_the_bookings_own_number_question_pays_the_booking_on():
    from bot.model import AcceptOffer

    chat = choosing_a_day(FakeContext(my_bookings=[held_offer(100000)]).with_vehicle())
    chat.tap("day:2026-11-25").tap(chat.ids[0]).answer("confirm").tap("pay:mpesa")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)  # her own booking's M-Pesa asks for it
    chat.tap("offer:yes:9").type("0712 345 678")  # given for the freed time, offered meanwhile
    assert chat.commands[-2:] == [AcceptOffer(9, "mpesa", "+254712345678"), SavePhone("+254712345678")]

    chat.outcome(Booked(9, "MM-1009", at(25, 10), False, 100000, 10, "mpesa", None, (2,)))

    assert chat.state == "payment" and chat.text.endswith("How would you like to pay?")
    chat.tap("pay:mpesa")
    assert isinstance(chat.commands[-1], Hold) and chat.commands[-1].payment_method == "mpesa"


def test_extra_work_answered_twice_mid_booking_says_why_not_and_goes_back_to_the_day():
    from bot.model import Refused

    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("extra:yes:12")

    chat.outcome(Refused("That work was already decided."))

    assert chat.text == "That work was already decided.\n" + DAY_ASKED
    assert (chat.state, chat.data["vehicle_id"]) == ("day", 3)


def test_a_reminder_of_a_visit_begun_tapped_mid_booking_says_so_and_asks_the_day_again():
    chat = choosing_a_day(FakeContext(my_bookings=[replace(booking_tomorrow(2), status="received")]).with_vehicle())
    chat.tap("rm:move:9")
    assert chat.text == "That booking can no longer be changed.\n" + DAY_ASKED
    assert (chat.state, chat.data["services"]) == ("day", [1])


def test_paying_a_held_booking_from_its_card_ends_at_the_menu_not_its_old_card():
    from bot.model import CustomerInfo

    held = BookingView(5, "MM-1005", at(25, 10), "held", ({"en": "Oil change"},), 350000, "KCB 123A", (1,))
    chat = chat_in("en", FakeContext(my_bookings=[held], customer=CustomerInfo(7, "Amina", "+254712345678", "en", 2)))
    chat.tap("m:bookings").tap("bk:5").tap("payagain:5:cash")

    chat.outcome(Booked(5, "MM-1005", at(25, 10), True, 0, 0, "cash", None, (1,)))

    assert chat.state == "menu" and chat.text.startswith("Booked! Your code is MM-1005.")
    assert chat.text.endswith("What would you like to do?")


@pytest.mark.parametrize("aside", ["language", "back from the language", "reply to the shop"])
def test_a_word_on_the_side_while_her_number_is_asked_for_a_freed_time_keeps_the_booking_half_made(aside):
    """Choosing a day, she takes a freed time and M-Pesa needs her number. Before giving
    it she changes the language (or asks for it and goes back, or answers the shop): the
    number is asked again, and once the freed time is taken her day is asked again, not
    the menu with her service and car gone."""
    from bot.model import AcceptOffer

    chat = choosing_a_day(FakeContext(my_bookings=[held_offer(100000)]).with_vehicle())
    chat.tap("offer:yes:9")
    if aside == "language":
        chat.type("language").tap("lang:en")
        assert (chat.state, chat.text) == ("phone", "Great, let's talk in English.\n" + PHONE_PLEASE)
    elif aside == "back from the language":
        chat.type("language").tap("back")
        assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    else:
        chat.tap("reply:shop").type("Is the garage open on Sunday?")
        assert (chat.state, chat.text) == ("phone", "Sent to the shop. They will answer you here.\n" + PHONE_PLEASE)
    chat.type("0712 345 678")
    assert chat.commands[-2:] == [AcceptOffer(9, "mpesa", "+254712345678"), SavePhone("+254712345678")]

    chat.outcome(Booked(9, "MM-1009", at(25, 10), False, 100000, 10, "mpesa", None, (2,)))

    assert chat.text == ("Your time Wed 25 Nov, 10:00 is held for 10 minutes while you pay. Code: MM-1009.\n"
                         "Check your phone: M-Pesa will ask you to pay Ksh1,000. Enter your PIN to confirm.\n" + DAY_ASKED)
    assert (chat.state, chat.data["services"], chat.data["vehicle_id"]) == ("day", [1], 3)


def test_back_from_writing_to_the_shop_in_the_middle_of_a_booking_goes_back_to_it():
    """Choosing a day, she taps Reply under the shop's answer, then the Back button under
    "Write your message": the menu came, her service and car gone."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("reply:shop")
    assert chat.ids == ["back"]

    chat.tap("back")

    assert (chat.state, chat.text, chat.data["services"], chat.data["vehicle_id"]) == ("day", DAY_ASKED, [1], 3)


EXTRA_FOUND = {"reply": Reply((Msg("Extra work found: discs."),), (Choice("extra:yes:7", "Approve"),)).to_json(),
               "offered": [["extra:yes:7", ["Approve", "1"]]], "outbox_id": 12}  # fmt: skip


def rated_with_extra_work_waiting() -> Chat:
    """Choosing a day, she rates a visit; extra work found before waits under the rating."""
    extra = dict(EXTRA_FOUND)
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.data |= {"notice": {"reply": {}, "offered": [["rate:5:5", ["5", "1"]]], "outbox_id": 13},
                  "notices_waiting": [extra]}  # fmt: skip
    return chat.tap("rate:5:5").outcome(Done("rated", {"stars": 5}))


@pytest.mark.parametrize("aside", ["help", "photo"])
def test_a_word_on_the_side_under_a_notice_waiting_since_before_keeps_the_booking_half_made(aside):
    """Choosing a day, she rates a visit; extra work found before still waits under it and
    is asked. "help" (or a photo) there asked the menu: her booking was gone, and so were
    the extra work's numbers. Now her day is asked (the notice's buttons still work), and
    once the extra work is answered too, the day again."""
    from bot.model import DecideExtra

    chat = rated_with_extra_work_waiting()
    assert chat.text == ("Thank you for rating your visit 5 of 5!\nOne more question is waiting for your answer:\n"
                         "Extra work found: discs.")  # fmt: skip
    assert chat.ids == ["extra:yes:7"]

    chat.type("help") if aside == "help" else chat.send(photo())

    assert (chat.state, chat.text.splitlines()[-1], chat.data["services"]) == ("day", DAY_ASKED, [1])
    chat.tap("extra:yes:7")
    assert chat.commands[-1] == DecideExtra(7, True)
    chat.outcome(Done("extra", {"work": "discs", "approved": True, "total": 1000000}))
    assert chat.text == ("Thank you: the extra work (discs) is approved. Your new total is Ksh10,000.\n" + DAY_ASKED)
    assert (chat.state, chat.data["services"], chat.data["vehicle_id"]) == ("day", [1], 3)


RATING = {"reply": Reply((Msg("How did we do? Please rate your visit."),), (Choice("rate:5:5", "5"),)).to_json(),
          "offered": [["rate:5:5", ["5", "1"]]], "outbox_id": 13}  # fmt: skip


@pytest.mark.parametrize("before", ["nothing", "stop", "a pause"])
def test_rating_with_the_button_of_a_rating_waiting_under_extra_work_asks_the_extra_work_again_not_the_rating(before):
    """The rating came, then extra work over it; she taps the rating's own stars (its
    message is still in the chat), after nothing else, after "stop", or after a pause.
    The rating she had just given was asked again as waiting, and the extra work's
    question forgotten."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"], "notices_waiting": [dict(RATING)]}
    if before == "stop":
        chat.type("stop")
    elif before == "a pause":
        chat.ctx.now += timedelta(minutes=40)

    chat.tap("rate:5:5").outcome(Done("rated", {"stars": 5}))

    assert "notices_waiting" not in chat.data
    if before == "nothing":  # the question asked when she rated
        assert chat.text == ("Thank you for rating your visit 5 of 5!\nOne more question is waiting for your "
                             "answer:\nExtra work found: discs.")  # fmt: skip
        assert chat.ids == ["extra:yes:7"]
    else:  # the chat started over forgot the question asked (its buttons still work), and the rating is given
        assert chat.text.startswith("Thank you for rating your visit 5 of 5!\nWhat would you like to do?")
        assert "rate:5:5" not in chat.ids


REMINDER = {"reply": Reply((Msg("Reminder: MM-1009 tomorrow."),), (Choice("rm:move:9", "Change the time"),
                                                                   Choice("rm:cancel:9", "Cancel the booking"))).to_json(),
            "offered": [["rm:move:9", ["Change the time", "1"]], ["rm:cancel:9", ["Cancel the booking", "2"]]],
            "outbox_id": 14}  # fmt: skip


def test_a_reminder_answered_already_is_not_asked_again_after_the_rating_waiting_under_it():
    """She taps "Change the time" on the reminder (it came over a rating), then, choosing
    the new day, the rating's stars still in the chat: after the thanks, her day again."""
    chat = chat_in("en", FakeContext(my_bookings=[booking_tomorrow(30)]).with_vehicle())
    chat.data |= {"notice": dict(REMINDER), "offered": REMINDER["offered"], "notices_waiting": [dict(RATING)]}
    chat.tap("rm:move:9")

    chat.tap("rate:5:5").outcome(Done("rated", {"stars": 5}))

    assert chat.text == "Thank you for rating your visit 5 of 5!\n" + DAY_ASKED
    assert (chat.state, chat.data["mode"]) == ("day", "reschedule")


def extra_work_over_a_reminder(booking=None) -> Chat:
    """The reminder of her visit came, then extra work (on another visit) over it: the
    extra work is asked, the reminder waits under it, its message still in the chat."""
    chat = chat_in("en", FakeContext(my_bookings=[booking or booking_tomorrow(30)]))
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"], "notices_waiting": [dict(REMINDER)]}
    return chat


def changed_with_the_reminders_button(chat: Chat, button: str) -> str:
    """She taps the reminder's Cancel (or Change the time) and goes through with it: what
    the change's answer says."""
    from bot.model import Reschedule

    chat.tap(button)
    if button.startswith("rm:cancel:"):
        chat.answer("yes")
        assert chat.commands[-1] == Cancel(9)
        chat.outcome(Done("cancel", {"code": "MM-1009", "token_cost": 0, "tokens_left": 2}))
        return "Cancelled MM-1009."
    chat.tap("day:2026-11-25").tap(f"time:{at(25, 14).isoformat()}").answer("yes")
    assert chat.commands[-1] == Reschedule(9, at(25, 14))
    chat.outcome(Done("reschedule", {"code": "MM-1009"}))
    return "Done. MM-1009 is now on Wed 25 Nov, 14:00."


@pytest.mark.parametrize("button", ["rm:cancel:9", "rm:move:9"])
def test_a_reminder_waiting_under_extra_work_answered_with_its_own_button_asks_the_extra_work_again_after(button):
    """She cancels (or moves) the visit with the reminder's button, under the extra work
    asked since. The chat starting over forgot the extra work's question (its numbers),
    and the reminder, answered, stayed waiting, to be asked again after the next notice.
    Now, as for any notice waiting whose button is tapped, the reminder waits no more and
    the extra work is asked again once the change is done."""
    chat = extra_work_over_a_reminder()

    said = changed_with_the_reminders_button(chat, button)

    assert chat.text == said + "\nOne more question is waiting for your answer:\nExtra work found: discs."
    assert (chat.state, chat.ids, chat.data["notice"]["offered"]) == ("menu", ["extra:yes:7"], EXTRA_FOUND["offered"])
    assert "notices_waiting" not in chat.data


def test_a_reminder_asked_over_a_rating_waiting_asks_the_rating_once_the_visit_is_cancelled():
    """The rating came, then the reminder over it; she cancels with the reminder's button:
    its answer is the cancellation, and the rating waiting under it is asked after it, as
    after any notice's answer."""
    chat = chat_in("en", FakeContext(my_bookings=[booking_tomorrow(30)]))
    chat.data |= {"notice": dict(REMINDER), "offered": REMINDER["offered"], "notices_waiting": [dict(RATING)]}

    said = changed_with_the_reminders_button(chat, "rm:cancel:9")

    assert chat.text == said + "\nOne more question is waiting for your answer:\nHow did we do? Please rate your visit."
    assert "notices_waiting" not in chat.data


def test_the_extra_work_asked_over_a_reminder_is_not_asked_again_once_it_no_longer_holds():
    """Cancelling with the reminder's button, she has the extra work decided meanwhile
    (by the mechanic's call): after the cancellation, the menu."""
    chat = extra_work_over_a_reminder()
    chat.ctx.outdated_notices.add(EXTRA_FOUND["outbox_id"])

    said = changed_with_the_reminders_button(chat, "rm:cancel:9")

    assert chat.text == said + "\nWhat would you like to do?"
    assert "notices_waiting" not in chat.data and "notice" not in chat.data


def test_the_button_of_a_reminder_waiting_under_extra_work_for_a_visit_begun_asks_the_extra_work_again():
    """The car came in early: the reminder's button can do nothing now. The extra work's
    numbers were taken by the menu's; now it is asked again at once, and the reminder
    waits no more."""
    chat = extra_work_over_a_reminder(replace(booking_tomorrow(2), status="received"))

    chat.tap("rm:cancel:9")

    assert chat.text == ("That booking can no longer be changed.\nOne more question is waiting for your answer:\n"
                         "Extra work found: discs.")  # fmt: skip
    assert (chat.state, chat.ids) == ("menu", ["extra:yes:7"])
    assert "notices_waiting" not in chat.data


def test_the_move_let_go_with_no_after_the_reminders_button_asks_the_extra_work_again():
    chat = extra_work_over_a_reminder()
    chat.tap("rm:move:9").tap("day:2026-11-25").tap(f"time:{at(25, 14).isoformat()}")

    chat.answer("no")

    assert chat.text == ("OK, your booking stays as it was.\nOne more question is waiting for your answer:\n"
                         "Extra work found: discs.")  # fmt: skip
    assert chat.ids == ["extra:yes:7"]


def waiting_notice(text: str, choices: list[tuple[str, str]], outbox_id: int) -> dict:
    """A notice as the chat keeps it: its message, and its choices numbered as shown."""
    reply = Reply((Msg(text),), tuple(Choice(cid, label) for cid, label in choices))
    offered = [[cid, [label, str(n)]] for n, (cid, label) in enumerate(choices, 1)]
    return {"reply": reply.to_json(), "offered": offered, "outbox_id": outbox_id}


FREED_TIME = waiting_notice("A time has freed up: Wed 25 Nov, 10:00.", [("offer:yes:9", "Yes, I'll take it"),
                                                                         ("offer:no:9", "No, thanks")], 15)  # fmt: skip
PAY_AGAIN = waiting_notice("The payment did not go through.", [("payagain:9:mpesa", "M-Pesa"),
                                                               ("payagain:9:mpesa:other", "Another number")], 16)  # fmt: skip
PAY_NOW = waiting_notice("Your car is ready. To pay: Ksh4,500.", [("paybalance:5:mpesa", "M-Pesa"),
                                                                  ("paybalance:5:mpesa:other", "Another number")], 17)  # fmt: skip
HELD = Booked(9, "MM-1009", at(25, 10), False, 100000, 10, "mpesa", None, (2,))
# A waiting notice's M-Pesa button, her number asked first, and what its payment's answer says.
NUMBER_FIRST = {
    "offer:yes:9": (FREED_TIME, HELD, "Your time Wed 25 Nov, 10:00 is held for 10 minutes while you pay. Code: "
                                      "MM-1009.\nCheck your phone: M-Pesa will ask you to pay Ksh1,000. Enter your PIN "
                                      "to confirm."),
    "payagain:9:mpesa": (PAY_AGAIN, HELD, "Your time Wed 25 Nov, 10:00 is held for 10 minutes while you pay. Code: "
                                          "MM-1009.\nCheck your phone: M-Pesa will ask you to pay Ksh1,000. Enter your "
                                          "PIN to confirm."),
    "paybalance:5:mpesa": (PAY_NOW, Done("paybalance", {"amount": 450000, "method": "mpesa"}),
                           "Check your phone: M-Pesa will ask you to pay Ksh4,500. Enter your PIN to confirm."),
    "paybalance:5:mpesa:other": (PAY_NOW, Done("paybalance", {"amount": 450000, "method": "mpesa"}),
                                 "Check your phone: M-Pesa will ask you to pay Ksh4,500. Enter your PIN to confirm."),
}  # fmt: skip


def extra_work_over(notice: dict) -> Chat:
    """A freed time (or a failed payment, or her balance) came, then extra work over it:
    the extra work is asked, the other waits under it, its message still in the chat.
    Telegram: no number of hers on file."""
    chat = chat_in("en", FakeContext(my_bookings=[held_offer(100000)]))
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"], "notices_waiting": [dict(notice)]}
    return chat


@pytest.mark.parametrize("button", NUMBER_FIRST)
def test_extra_work_asked_over_a_notice_whose_button_asks_her_number_first_is_asked_again_after_its_payment(button):
    """She taps the M-Pesa button of the notice waiting under the extra work: M-Pesa needs
    her number, she gives it, and the payment goes. The notice waiting was answered only
    once she had given her number, when the extra work's question was no longer the one
    open: after the payment came the menu, the extra work's question forgotten. Now, as
    for any waiting notice's button, the extra work waits from her tap in the answered
    one's place, and is asked again once the payment's answer is said."""
    notice, outcome, said = NUMBER_FIRST[button]
    chat = extra_work_over(notice)

    chat.tap(button)
    assert chat.state == "phone"
    chat.type("0712 345 678")
    paid = [c for c in chat.commands if type(c).__name__ in ("AcceptOffer", "RetryPayment", "PayBalance")]
    saved = [] if button.endswith(":other") else [SavePhone("+254712345678")]  # her own: saved after its payment
    assert len(paid) == 1 and paid[0].phone == "+254712345678" and chat.commands[-len(paid + saved):] == paid + saved
    chat.outcome(outcome)

    assert chat.text == said + "\nOne more question is waiting for your answer:\nExtra work found: discs."
    assert (chat.state, chat.ids, chat.data["notice"]["offered"]) == ("menu", ["extra:yes:7"], EXTRA_FOUND["offered"])
    assert "notices_waiting" not in chat.data
    assert [c for c in chat.commands if type(c).__name__ in ("AcceptOffer", "RetryPayment", "PayBalance")] == paid


def test_extra_work_decided_while_her_number_was_asked_for_a_freed_time_is_not_asked_again():
    """As above, the extra work decided meanwhile (by the mechanic's call): after the
    freed time is taken, the menu."""
    chat = extra_work_over(FREED_TIME)
    chat.tap("offer:yes:9").type("0712 345 678")
    chat.ctx.outdated_notices.add(EXTRA_FOUND["outbox_id"])

    chat.outcome(HELD)

    assert chat.text == NUMBER_FIRST["offer:yes:9"][2] + "\nWhat would you like to do?"
    assert "notices_waiting" not in chat.data and "notice" not in chat.data


def test_extra_work_approved_instead_of_her_number_for_the_freed_time_under_it_ends_at_the_menu():
    """She taps Yes under the freed time waiting under the extra work, then, instead of her
    number, approves the extra work with its own button: once it is approved (not before:
    refused, it would change nothing), the freed time is said not taken, and after the
    thanks comes the menu. The freed time, answered by her tap, waits no
    more, as one asked whose number question another notice replaced (its button still
    takes it): it was asked again after the thanks, answered only once her number came."""
    from bot.model import AcceptOffer, DecideExtra

    chat = extra_work_over(FREED_TIME)
    chat.tap("offer:yes:9").tap("extra:yes:7")
    assert chat.text == "" and chat.commands[-1] == DecideExtra(7, True)

    chat.outcome(Done("extra", {"work": "discs", "approved": True, "total": 1000000}))

    assert chat.text == (FREED_TIME_NOT_TAKEN + "\nThank you: the extra work (discs) is approved. Your new total is "
                         "Ksh10,000.\nWhat would you like to do?")  # fmt: skip
    assert "notices_waiting" not in chat.data and not any(isinstance(c, AcceptOffer) for c in chat.commands)


def test_a_rating_given_instead_of_her_number_for_a_freed_time_asks_the_extra_work_it_came_under():
    """She taps Yes under the freed time waiting under the extra work, then rates a visit
    (its message still in the chat) instead of giving her number: the freed time is said
    not taken (once the rating is given), and after the thanks the extra work is asked
    again, waiting since her tap."""
    chat = extra_work_over(FREED_TIME)
    chat.tap("offer:yes:9").tap("rate:5:5")
    assert chat.text == ""

    chat.outcome(Done("rated", {"stars": 5}))

    assert chat.text == (FREED_TIME_NOT_TAKEN + "\nThank you for rating your visit 5 of 5!\nOne more question is "
                         "waiting for your answer:\nExtra work found: discs.")  # fmt: skip
    assert (chat.ids, "notices_waiting" in chat.data) == (["extra:yes:7"], False)


FREED_TIME_NOT_TAKEN = "The freed time was not taken. To take it, answer \"Yes, I'll take it\" under its message again."


@pytest.mark.parametrize(("aside", "then", "after"), [
    ("language", Event.tapped("lang:en"), "Great, let's talk in English."),
    ("reply:shop", Event.typed("Is my car ready?"), "Sent to the shop. They will answer you here."),
])  # fmt: skip
def test_yes_to_a_freed_time_again_over_its_own_number_question_set_aside_asks_her_number_once(aside, then, after):
    """She says Yes to a freed time (a deposit by M-Pesa) and is asked her number; she asks
    for the language (or to write to the shop), and there taps Yes again: her number is
    asked now. Extra work is approved over it: the freed time is said to be not taken. Once
    the language was chosen (the message sent) her number was asked for it all the same:
    the first number question had stayed set aside under the aside."""
    chat = chat_in("en", FakeContext(my_bookings=[held_offer(100000)]))
    chat.tap("offer:yes:9").send(Event.typed(aside) if aside == "language" else Event.tapped(aside))
    chat.tap("offer:yes:9")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    chat.tap("extra:yes:7").outcome(Done("extra", {"work": "discs", "approved": True, "total": 650000}))
    assert chat.text.startswith(FREED_TIME_NOT_TAKEN + "\nThank you: the extra work (discs) is approved.")

    chat.send(then)

    assert (chat.state, chat.text) == ("menu", after + "\nWhat would you like to do?")


REMINDER_OF_8 = waiting_notice("Reminder: MM-1008 tomorrow.", [("rm:move:8", "Change the time"),
                                                               ("rm:cancel:8", "Cancel the booking")], 18)  # fmt: skip
# The visit of a reminder (booking 8) whose buttons can do nothing now.
VISIT_NO_LONGER_CHANGEABLE = {
    "begun": [replace(booking_tomorrow(2), id=8, code="MM-1008", status="received")],
    "cancelled": [replace(booking_tomorrow(30), id=8, code="MM-1008", status="cancelled")],
    "not hers": [],
}


@pytest.mark.parametrize("visit", VISIT_NO_LONGER_CHANGEABLE)
@pytest.mark.parametrize("reminder", ["in the chat", "asked over the number question"])
def test_a_reminders_button_that_can_change_nothing_while_her_number_is_asked_for_a_freed_time_asks_it_again(
        visit, reminder):
    """She said Yes to a freed time (a deposit by M-Pesa) and is asked her number; she
    taps a reminder's Cancel for a visit begun (or cancelled, or not hers), its message
    still in the chat, or the reminder come over the number question. "The freed time
    was not taken... That booking can no longer be changed. What would you like to do?":
    the payment in progress was dropped by a button that changes nothing. Now it says so
    and asks her number again; the deposit is asked for once, when she gives it."""
    from bot.model import AcceptOffer

    chat = chat_in("en", FakeContext(my_bookings=[held_offer(100000), *VISIT_NO_LONGER_CHANGEABLE[visit]]))
    chat.tap("offer:yes:9")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    if reminder == "asked over the number question":
        chat.data |= {"notice": dict(REMINDER_OF_8), "offered": REMINDER_OF_8["offered"]}

    chat.tap("rm:cancel:8")

    assert (chat.state, chat.text) == ("phone", "That booking can no longer be changed.\n" + PHONE_PLEASE)
    assert chat.data["after_phone"] == "offer:yes:9" and not any(isinstance(c, AcceptOffer) for c in chat.commands)
    chat.type("0712 345 678")
    assert [c for c in chat.commands if isinstance(c, AcceptOffer)] == [AcceptOffer(9, "mpesa", "+254712345678")]


def test_a_reminders_button_tapped_again_after_the_cancellation_asks_the_extra_work_again_not_the_menu():
    """She cancelled with the reminder's button under the extra work, and the extra work
    was asked again. She taps the reminder's Cancel once more: the menu came, the extra
    work's question dropped (on WhatsApp its "1" no longer approved it). Now the extra
    work is asked again, and "1" approves it."""
    from bot.model import DecideExtra

    chat = extra_work_over_a_reminder()
    changed_with_the_reminders_button(chat, "rm:cancel:9")
    assert chat.ids == ["extra:yes:7"]
    chat.ctx.my_bookings.clear()  # cancelled: no longer among her bookings

    chat.tap("rm:cancel:9")

    assert chat.text == "That booking can no longer be changed.\nExtra work found: discs."
    assert (chat.state, chat.ids) == ("menu", ["extra:yes:7"])
    chat.type("1")
    assert chat.commands[-1] == DecideExtra(7, True)


@pytest.mark.parametrize("button", ["rm:cancel:9", "rm:move:9"])
def test_extra_work_come_after_she_moved_on_from_the_reminder_is_asked_again_once_she_changes_the_visit_with_it(
        button):
    """The reminder came, she looked at her bookings (so it no longer waits), then extra
    work came. She cancels (or moves) the visit with the reminder's button, still in the
    chat: the menu came after, the extra work's question forgotten. Now it is asked
    again, as when the reminder was waiting under it."""
    chat = chat_in("en", FakeContext(my_bookings=[booking_tomorrow(30)]))
    chat.data |= {"notice": dict(REMINDER), "offered": REMINDER["offered"]}
    chat.tap("m:bookings")
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"]}  # came: the reminder's question was not open

    said = changed_with_the_reminders_button(chat, button)

    assert chat.text == said + "\nOne more question is waiting for your answer:\nExtra work found: discs."
    assert (chat.state, chat.ids) == ("menu", ["extra:yes:7"])
    assert "notices_waiting" not in chat.data


@pytest.mark.parametrize("waiting", ["extra work asked over the reminder", "a rating under the reminder"])
def test_the_cancellation_let_go_with_no_after_the_reminders_button_asks_the_notice_waiting_again(waiting):
    """She taps the reminder's Cancel, then "No, keep it": her booking's card came, and
    the notice waiting (the extra work asked when she tapped, or a rating the reminder
    came over) was never asked again, while "No" to the move asked it. Now "No" to the
    cancellation asks it too."""
    if waiting == "a rating under the reminder":
        chat = chat_in("en", FakeContext(my_bookings=[booking_tomorrow(30)]))
        chat.data |= {"notice": dict(REMINDER), "offered": REMINDER["offered"], "notices_waiting": [dict(RATING)]}
        asked, ids = "How did we do? Please rate your visit.", ["rate:5:5"]
    else:
        chat = extra_work_over_a_reminder()
        asked, ids = "Extra work found: discs.", ["extra:yes:7"]
    chat.tap("rm:cancel:9")

    chat.answer("no")

    assert chat.text == f"OK, your booking stays as it was.\nOne more question is waiting for your answer:\n{asked}"
    assert (chat.state, chat.ids) == ("menu", ids)
    assert not chat.data.keys() & {"notices_waiting", "booking_id", "reminder"}


def test_the_cancellation_let_go_with_no_shows_the_booking_once_the_extra_work_waiting_no_longer_holds():
    """As above, the extra work decided meanwhile (by the mechanic's call): her booking's
    card, as ever, and the extra work waits no more."""
    chat = extra_work_over_a_reminder()
    chat.tap("rm:cancel:9")
    chat.ctx.outdated_notices.add(EXTRA_FOUND["outbox_id"])

    chat.answer("no")

    assert chat.text.startswith("OK, your booking stays as it was.\nBooking MM-1009\n")
    assert (chat.state, "notices_waiting" in chat.data) == ("booking", False)


# An old notice's button, neither the extra work's nor waiting under it (its message still in
# the chat), the command it sends, and why the domain refuses it now.
OLD_BUTTONS = {
    "offer:no:9": ("DeclineOffer", "That offer is no longer open."),
    "offer:yes:9": ("AcceptOffer", "Sorry, that time is no longer held for you."),
    "payagain:8:cash": ("RetryPayment", "Sorry, that time is no longer held for you."),
    "paybalance:5:mpesa": ("PayBalance", "Nothing is left to pay for that booking."),
    "extra:no:8": ("DecideExtra", "That work was already decided."),
    "rate:4:5": ("RateJob", "That visit cannot be rated."),
    "receipt:pdf:4": ("SendReceipt", "That receipt is not available."),
}


def with_her_number(ctx: FakeContext) -> FakeContext:
    from bot.model import CustomerInfo

    ctx.customer = CustomerInfo(7, "Amina", "+254712345678", "en", 2)
    return ctx


@pytest.mark.parametrize("button", OLD_BUTTONS)
def test_an_old_notices_button_that_changes_nothing_under_extra_work_says_why_and_asks_the_extra_work_again(button):
    """Extra work is asked. She taps a button of an older notice still in the chat (a
    freed time gone, a payment or a balance settled, other extra work decided, a visit
    that cannot be rated): the domain refuses it. After why came the menu, the extra
    work's question forgotten (on WhatsApp its "1" no longer approved it). A button that
    changes nothing ends nothing: why, then the extra work again, and "1" approves it."""
    from bot.model import DecideExtra, Refused

    command, why = OLD_BUTTONS[button]
    chat = chat_in("en", with_her_number(FakeContext(my_bookings=[held_offer(0)])))
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"]}

    chat.tap(button)
    assert type(chat.commands[-1]).__name__ == command
    chat.outcome(Refused(why))

    assert chat.text == f"{why}\nExtra work found: discs."
    assert (chat.state, chat.ids, chat.data["notice"]) == ("menu", ["extra:yes:7"], EXTRA_FOUND)
    assert not chat.data.keys() & {"notices_waiting", "resume", "before_tap"}
    chat.type("1")
    assert chat.commands[-1] == DecideExtra(7, True)


@pytest.mark.parametrize("button", ["payagain:8:cash", "extra:no:8", "rate:4:5"])
def test_an_old_notices_button_that_changes_nothing_at_a_freed_times_number_question_asks_her_number_again(button):
    """She said Yes to a freed time (a deposit by M-Pesa), come under extra work, and is
    asked her number; she taps an older notice's button, which the domain refuses. "The
    freed time was not taken", and the menu: the payment she was giving her number for
    dropped by a button that changed nothing. Now why, and her number asked again; the
    deposit is asked for once, when she gives it, and then the extra work again."""
    from bot.model import AcceptOffer, Refused

    command, why = OLD_BUTTONS[button]
    chat = extra_work_over(FREED_TIME)
    chat.tap("offer:yes:9")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)

    chat.tap(button)
    assert (chat.text, type(chat.commands[-1]).__name__) == ("", command)
    chat.outcome(Refused(why))

    assert (chat.state, chat.text) == ("phone", f"{why}\n{PHONE_PLEASE}")
    assert chat.data["after_phone"] == "offer:yes:9" and not any(isinstance(c, AcceptOffer) for c in chat.commands)
    chat.type("0712 345 678")
    assert [c for c in chat.commands if isinstance(c, AcceptOffer)] == [AcceptOffer(9, "mpesa", "+254712345678")]
    chat.outcome(HELD)
    assert chat.text == NUMBER_FIRST["offer:yes:9"][2] + ("\nOne more question is waiting for your answer:\n"
                                                          "Extra work found: discs.")  # fmt: skip


def test_an_old_button_refused_in_the_middle_of_a_booking_under_extra_work_keeps_both():
    """Choosing a day, extra work came over the question; an old rating's stars, refused:
    why, and the extra work again, the day's question under it (a day typed is read by it)."""
    from bot.model import Refused

    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"]}

    chat.tap("rate:4:5").outcome(Refused("That visit cannot be rated."))

    assert (chat.state, chat.text, chat.ids) == ("day", "That visit cannot be rated.\nExtra work found: discs.",
                                                 ["extra:yes:7"])  # fmt: skip
    chat.type("Wednesday")
    assert (chat.state, chat.data["day"]) == ("time", "2026-11-25")


@pytest.mark.parametrize("button", ["offer:yes:9", "payagain:9:mpesa"])
@pytest.mark.parametrize("booking", ["booked since", "gone"])
def test_an_old_freed_times_or_payments_button_does_not_ask_her_number_for_a_time_no_longer_held(button, booking):
    """Extra work is asked; she taps Yes under a freed time (or M-Pesa under a failed
    payment) whose booking is no longer held for her, with no number of hers on file:
    M-Pesa's number question replaced the extra work's, for a payment that could never
    go. Now the button goes at once, changing nothing: why, and the extra work again."""
    from bot.model import Refused

    booked = [replace(held_offer(100000), status="confirmed")] if booking == "booked since" else []
    chat = chat_in("en", FakeContext(my_bookings=booked))
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"]}

    chat.tap(button)
    assert chat.state != "phone" and type(chat.commands[-1]).__name__ in ("AcceptOffer", "RetryPayment")
    chat.outcome(Refused("Sorry, that time is no longer held for you."))

    assert chat.text == "Sorry, that time is no longer held for you.\nExtra work found: discs."
    assert (chat.state, chat.ids) == ("menu", ["extra:yes:7"])


def test_a_freed_times_yes_tapped_again_at_its_number_question_once_booked_ends_that_question():
    """She said Yes to a freed time come under extra work, and is asked her number; the
    time is hers meanwhile (paid from her other phone). She taps its Yes again: why, and
    not her number asked again for a payment that cannot go: that question is over, and
    the extra work waiting since her first tap is asked again."""
    from bot.model import AcceptOffer, Refused

    chat = extra_work_over(FREED_TIME)
    chat.tap("offer:yes:9")
    chat.ctx.my_bookings[0] = replace(held_offer(100000), status="confirmed")

    chat.tap("offer:yes:9")
    assert chat.commands[-1] == AcceptOffer(9, "mpesa")
    chat.outcome(Refused("MM-1009 is already booked for you: Wed 25 Nov, 10:00."))

    assert chat.text == ("MM-1009 is already booked for you: Wed 25 Nov, 10:00.\nOne more question is waiting for "
                         "your answer:\nExtra work found: discs.")  # fmt: skip
    assert (chat.state, chat.ids) == ("menu", ["extra:yes:7"])
    assert not chat.data.keys() & {"after_phone", "resume", "notices_waiting", "before_tap"}


# An old notice's button that still does something (its message still in the chat, the notice
# not waiting): what its command's answer is, and what she is told.
OLD_BUTTONS_THAT_ACT = {
    "rate:4:5": (Done("rated", {"stars": 5}), "Thank you for rating your visit 5 of 5!"),
    "receipt:pdf:4": (Done("receipt", {"code": "MM-1004"}), "Your receipt for MM-1004 is on its way as a PDF."),
    "paybalance:5:mpesa": (Done("paybalance", {"amount": 450000, "method": "mpesa"}),
                           "Check your phone: M-Pesa will ask you to pay Ksh4,500. Enter your PIN to confirm."),
    "offer:yes:9": (Booked(9, "MM-1009", at(25, 10), True, 0, 0, "cash", None, (2,)),
                    "Booked! Your code is MM-1009.\nBrake pads, Wed 25 Nov, 10:00. Pay at the shop."),
}  # fmt: skip


@pytest.mark.parametrize("button", OLD_BUTTONS_THAT_ACT)
def test_an_old_notices_button_that_acts_under_extra_work_asks_the_extra_work_again_after(button):
    """Extra work is asked; she rates an earlier visit again with the stars still in the
    chat (or asks for its receipt, pays her balance, takes a freed time she had moved on
    from). After the answer came the menu, the extra work's question forgotten. Now the
    extra work waits from her tap, as under any other notice's button, and is asked again."""
    outcome, said = OLD_BUTTONS_THAT_ACT[button]
    chat = chat_in("en", with_her_number(FakeContext(my_bookings=[held_offer(0)])))
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"]}

    chat.tap(button).outcome(outcome)

    assert chat.text == f"{said}\nOne more question is waiting for your answer:\nExtra work found: discs."
    assert (chat.state, chat.ids, "notices_waiting" in chat.data) == ("menu", ["extra:yes:7"], False)


@pytest.mark.parametrize("button", ["rm:cancel:8", "rm:move:8"])
def test_a_reminders_button_at_a_freed_times_number_question_says_the_freed_time_was_not_taken(button):
    """She said Yes to a freed time (a deposit by M-Pesa) and is asked her number; she
    taps tomorrow's reminder's Cancel (or Change the time) instead. The change began, and
    the freed time's payment was dropped without a word: she might think the time hers.
    Now she is told it was not taken, and how to take it, as when another notice's
    button replaces that question."""
    from bot.model import AcceptOffer

    tomorrow = replace(booking_tomorrow(30), id=8, code="MM-1008")
    chat = chat_in("en", FakeContext(my_bookings=[held_offer(100000), tomorrow]))
    chat.tap("offer:yes:9")

    chat.tap(button)

    assert chat.shown[0][0] == FREED_TIME_NOT_TAKEN
    assert chat.state == ("cancel_confirm" if button.startswith("rm:cancel") else "day")
    assert not chat.data.keys() & {"after_phone", "new_phone", "pay_from", "resume"}
    assert not any(isinstance(c, AcceptOffer) for c in chat.commands)


def test_cancelling_from_my_bookings_under_a_notice_waiting_does_not_ask_it():
    """Only a reminder's own change is a notice's answer: a cancellation from My bookings,
    with a rating waiting since a "stop", ends at the menu as ever."""
    chat = chat_in("en", FakeContext(my_bookings=[booking_tomorrow(30)]))
    chat.data |= {"notices_waiting": [dict(RATING)]}
    chat.tap("m:bookings").tap("bk:9").tap("cancel").answer("yes")

    chat.outcome(Done("cancel", {"code": "MM-1009", "token_cost": 0, "tokens_left": 2}))

    assert chat.text == "Cancelled MM-1009.\nWhat would you like to do?"
    assert chat.data["notices_waiting"] == [RATING]


def test_paying_under_the_balance_asked_is_not_asked_again_for_a_copy_of_it_waiting():
    """The balance came, then extra work over it, then the balance again (the same
    buttons). She pays under the one asked: the older copy waiting shares its button and
    goes with it, and the extra work is asked next."""
    pay = [["paybalance:5:mpesa", ["M-Pesa", "1", "mpesa"]], ["paybalance:5:cash", ["Cash", "2"]]]

    def balance(text: str, outbox_id: int) -> dict:
        choices = (Choice("paybalance:5:mpesa", "M-Pesa"), Choice("paybalance:5:cash", "Cash"))
        return {"reply": Reply((Msg(text),), choices).to_json(), "offered": pay, "outbox_id": outbox_id}

    ctx = FakeContext().with_vehicle()
    ctx.customer = replace(ctx.customer, phone="+254712345678")
    chat = chat_in("en", ctx)
    chat.data |= {"notice": balance("To pay: Ksh4,500.", 16), "offered": pay,
                  "notices_waiting": [balance("To pay: Ksh4,000.", 15), dict(EXTRA_FOUND)]}  # fmt: skip

    chat.tap("paybalance:5:mpesa").outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))

    assert chat.text == ("Check your phone: M-Pesa will ask you to pay Ksh4,500. Enter your PIN to confirm.\n"
                         "One more question is waiting for your answer:\nExtra work found: discs.")  # fmt: skip
    assert "notices_waiting" not in chat.data


def test_a_word_under_a_notice_waiting_since_before_is_read_by_the_booking_it_came_over():
    """Under the waiting notice a day typed is her booking's day, as when a notice comes
    in the middle of a booking: she need not answer the notice first."""
    chat = rated_with_extra_work_waiting()

    chat.type("25.11")

    assert (chat.state, chat.data["day"], chat.data["services"]) == ("time", "2026-11-25", [1])


def test_letting_go_the_freed_time_she_was_moving_does_not_go_on_moving_it():
    """From My bookings she looks for another time for the freed time held for her, then
    taps "No" under its offer: it is cancelled. She was asked on for a day to move it to,
    and was refused at the end; now the menu follows."""
    ctx = FakeContext(my_bookings=[held_offer(0)]).with_vehicle()
    chat = chat_in("en", ctx).tap("m:bookings").tap("bk:9").tap("resched")
    assert (chat.state, chat.data["mode"], chat.data["booking_id"]) == ("day", "reschedule", 9)

    chat.tap("offer:no:9")
    ctx.my_bookings = []  # let go: cancelled
    chat.outcome(Done("cancel", {"code": "MM-1009", "token_cost": 0, "tokens_left": 2}))

    assert (chat.state, chat.text) == ("menu", "OK, I have let the time go.\nWhat would you like to do?")
    assert "mode" not in chat.data and "booking_id" not in chat.data


@pytest.mark.parametrize("sent", ["words", "photo"])
def test_a_reply_to_the_shop_written_after_the_pause_does_not_bring_back_an_old_summary(sent):
    """At the summary she taps Reply under the shop's answer and writes 90 minutes later:
    her words (or photo) go to the shop, and then the menu, as after the language chosen
    so late, or any step left 30 minutes (not the summary of an hour and a half ago)."""
    ctx = FakeContext().with_vehicle()
    chat = choosing_a_day(ctx).tap("day:2026-11-25").tap(f"time:{at(25, 10).isoformat()}")
    assert chat.state == "summary"
    chat.tap("reply:shop")
    ctx.now += timedelta(minutes=90)

    chat.type("Do you have Castrol oil?") if sent == "words" else chat.send(photo("Do you have Castrol oil?"))

    assert chat.commands[-1] == MessageShop("Do you have Castrol oil?", None if sent == "words" else PHOTO)
    assert (chat.state, chat.text) == ("menu", "Sent to the shop. They will answer you here.\nWhat would you like to do?")
    assert "services" not in chat.data and "start" not in chat.data


@pytest.mark.parametrize("sent", ["words", "photo"])
def test_her_reply_to_the_shops_answer_after_her_own_pause_goes_to_the_shop(sent):
    """Choosing a day at 09:00, the shop answers her at 09:20 (she asked earlier); at 09:45
    she writes back. It was answered "Welcome back! ... let's start again" and reached
    nobody, though at the menu it would have gone to the shop."""
    ctx = FakeContext().with_vehicle()
    chat = choosing_a_day(ctx)
    chat.data["shop_answered"] = (NOW + timedelta(minutes=20)).isoformat()
    ctx.now = NOW + timedelta(minutes=45)

    chat.type("Yes please, four tyres") if sent == "words" else chat.send(photo("Yes please, four tyres"))

    assert chat.commands[-1] == MessageShop("Yes please, four tyres", None if sent == "words" else PHOTO)
    assert (chat.state, chat.text) == ("menu", "Sent to the shop. They will answer you here.\nWhat would you like to do?")
    assert "services" not in chat.data  # the booking left half made 45 minutes ago is not brought back


@pytest.mark.parametrize("numbered", [True, False])
@pytest.mark.parametrize("typed", ["2", "1", "6"])
def test_a_bare_number_after_her_own_pause_within_two_hours_of_the_shops_answer_goes_to_the_shop(typed, numbered):
    """Read at the menu after her pause, a bare number is her reply like any words: no
    menu was shown to her since the day's list, so it picks no menu item (Book, My
    bookings...). It reaches the shop, and the menu is shown after."""
    ctx = FakeContext(numbered=numbered).with_vehicle()
    chat = choosing_a_day(ctx)
    chat.data["shop_answered"] = (NOW + timedelta(minutes=20)).isoformat()
    ctx.now = NOW + timedelta(minutes=45)

    chat.type(typed)

    assert chat.commands[-1] == MessageShop(typed)
    assert (chat.state, chat.text) == ("menu", "Sent to the shop. They will answer you here.\nWhat would you like to do?")


def test_after_a_pause_with_no_answer_of_the_shops_lately_the_chat_starts_afresh():
    ctx = FakeContext().with_vehicle()
    chat = choosing_a_day(ctx)
    chat.data["shop_answered"] = (NOW - timedelta(hours=2)).isoformat()  # over two hours before her words
    ctx.now = NOW + timedelta(minutes=45)

    chat.type("Yes please, four tyres")

    assert not [c for c in chat.commands if isinstance(c, MessageShop)]
    assert chat.text.startswith("Welcome back! We left off a while ago, so let's start again.")


@pytest.mark.parametrize("how", ["deep link", "book from my bookings"])
def test_a_new_booking_begun_while_moving_one_is_booked_not_moved(how):
    """Moving MM-1009, she opens a t.me/...?start=book link (or taps "Book a service" left
    on her bookings list): her new oil change ended as "Move MM-1009 to ...?"."""
    ctx = FakeContext(my_bookings=[held_offer(0)]).with_vehicle()
    chat = chat_in("en", ctx).tap("m:bookings").tap("bk:9").tap("resched")
    if how == "deep link":
        chat.send(Event("start", text="book"))
    else:
        chat.tap("back").tap("back").tap("m:book")
    assert chat.state == "services"

    chat.tap("svc:1").tap("done").tap("veh:3").tap("day:2026-11-25").tap(f"time:{at(25, 10).isoformat()}")

    assert chat.state == "summary" and chat.text.startswith("Please check your booking:\nServices: Oil change\n")
    assert "mode" not in chat.data and "booking_id" not in chat.data


def test_a_reminders_change_of_the_booking_she_is_already_moving_is_not_called_left_unfinished():
    """Moving MM-1009 from its card, she taps the reminder's "Change the time" for it: the
    same change begins again, and she was told that what she was doing was left
    unfinished, to start again from the menu."""
    ctx = FakeContext(my_bookings=[booking_tomorrow(30)]).with_vehicle()
    chat = chat_in("en", ctx).tap("m:bookings").tap("bk:9").tap("resched")

    chat.tap("rm:move:9")

    assert (chat.state, chat.text, chat.data["booking_id"], chat.data["mode"]) == ("day", DAY_ASKED, 9, "reschedule")


def test_trying_again_while_the_first_request_is_open_says_only_why_not():
    from bot.model import Refused, RetryPayment

    ctx = FakeContext()
    ctx.customer = replace(ctx.customer, phone="+254712345678")
    chat = Chat(ctx).send(Event("start")).tap("lang:en").tap("payagain:9:mpesa")
    assert (chat.commands[-1], chat.text) == (RetryPayment(9, "mpesa"), "")  # nothing promised before the answer
    chat.outcome(Refused("A payment request for {code} is already on its way. Please finish that one first.",
                         {"code": "MM-1001"}))  # fmt: skip
    assert chat.text.startswith("A payment request for MM-1001 is already on its way. Please finish that one first.\n"
                                "What would you like to do?")  # fmt: skip


def test_trying_mpesa_again_or_paying_the_balance_asks_for_a_missing_phone_and_back_leaves_it():
    from bot.model import PayBalance, RetryPayment, SavePhone

    chat = Chat(FakeContext(my_bookings=[held_offer(100000)])).send(Event("start")).tap("lang:en")  # held, unpaid
    chat.tap("payagain:9:mpesa")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    chat.type("+254 712 345 678")
    assert chat.commands[-2:] == [RetryPayment(9, "mpesa", "+254712345678"), SavePhone("+254712345678")]

    chat = Chat(FakeContext().with_vehicle()).send(Event("start")).tap("lang:en")
    chat.tap("paybalance:9:mpesa")
    assert chat.state == "phone"
    chat.tap("back")
    assert chat.state == "menu" and "after_phone" not in chat.data
    chat.tap("paybalance:9:mpesa").type("menu")
    assert chat.state == "menu"
    # a booking of their own afterwards asks the phone for itself, and then holds the time
    chat.tap("m:book").tap("svc:1").tap("done").tap("veh:3").tap("day:2026-11-25")
    chat.tap(f"time:{at(25, 14).isoformat()}").answer("confirm").tap("pay:mpesa")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    chat.type("0712345678")
    assert isinstance(chat.commands[-2], Hold) and chat.commands[-1] == SavePhone("+254712345678")
    assert not any(isinstance(c, PayBalance) for c in chat.commands)



# -- questions set aside one over another (data.resume) ---------------------------------------

def test_a_notices_number_asked_again_after_the_language_pays_when_she_says_so_with_the_number_given_meanwhile():
    """Choosing a day, she taps Pay now for her balance (M-Pesa needs her number), asks for
    the language there, and from the language question takes a freed time, giving her
    number for it. Once the language is chosen the balance's number question came back
    without its payment (the freed time's had taken its place): "How would you like to
    pay?" for a booking with no time, and "Sorry, something went wrong" at every answer.
    Then it paid at once, unasked. Now she is told her number is known and nothing paid;
    her tap pays the balance from it, and her day is asked again."""
    from bot.model import AcceptOffer

    chat = choosing_a_day(FakeContext(my_bookings=[held_offer(100000)]).with_vehicle())
    chat.tap("paybalance:5:mpesa")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    chat.type("language").tap("offer:yes:9").type("0712 345 678")
    assert chat.commands[-2:] == [AcceptOffer(9, "mpesa", "+254712345678"), SavePhone("+254712345678")]
    chat.outcome(Booked(9, "MM-1009", at(25, 10), False, 100000, 10, "mpesa", None, (2,)))
    assert chat.state == "language"

    chat.tap("lang:en")

    assert (chat.state, chat.text) == ("phone", "Great, let's talk in English.\n" + NUMBER_KNOWN)
    assert chat.choices == ["Pay now with M-Pesa", "Back"] and _balance_requests(chat) == []
    chat.tap("paybalance:5:mpesa")
    assert chat.commands[-1] == PayBalance(5, "mpesa", None)
    chat.outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))
    assert chat.text == ("Check your phone: M-Pesa will ask you to pay Ksh4,500. Enter your PIN to confirm.\n"
                         + DAY_ASKED)  # fmt: skip
    assert (chat.state, chat.data["services"], chat.data["vehicle_id"]) == ("day", [1], 3)


def test_back_from_another_number_asked_at_the_language_asks_the_balances_own_number_for_the_balance():
    """As above, with "M-Pesa from another number" tapped at the language question, then
    Back: the language chosen, her number asked for the balance was taken for a booking
    with no time (a crash). Now it pays the balance, and her day follows."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("paybalance:5:mpesa").type("language").tap("paybalance:5:mpesa:other").tap("back")
    assert chat.state == "language"
    chat.tap("lang:en")
    assert (chat.state, chat.text) == ("phone", "Great, let's talk in English.\n" + PHONE_PLEASE)

    chat.type("0712 345 678")

    assert chat.commands[-2:] == [PayBalance(5, "mpesa", "+254712345678"), SavePhone("+254712345678")]
    chat.outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))
    assert (chat.state, chat.data["services"]) == ("day", [1])


NUMBER_KNOWN = ("We have your number now: +254712345678. Nothing has been paid yet: tap below when you want M-Pesa "
                "to ask you to pay.")


def _balance_requests(chat: Chat) -> list[PayBalance]:
    return [c for c in chat.commands if isinstance(c, PayBalance)]


def test_a_freed_times_number_asked_again_with_the_number_known_takes_it_only_when_she_says_so():
    """Her balance's number question asked, she takes a freed time from the language
    question; then she is asked her number for the freed time, types "language" there,
    and gives her number for the balance, tapped again. Once the language is chosen the
    freed time's number question comes back: it is not taken unasked."""
    from bot.model import AcceptOffer

    chat = Chat(FakeContext(my_bookings=[held_offer(100000)])).send(Event("start")).tap("lang:en")
    chat.tap("offer:yes:9").type("language").tap("paybalance:5:mpesa").type("0712 345 678")
    chat.outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))
    assert chat.state == "language"

    chat.tap("lang:en")

    assert not any(isinstance(c, AcceptOffer) for c in chat.commands)
    assert (chat.state, chat.text) == ("phone", "Great, let's talk in English.\n" + NUMBER_KNOWN)
    assert chat.choices == ["Yes, I'll take it", "Back"]
    chat.tap("offer:yes:9")
    assert chat.commands[-1] == AcceptOffer(9, "mpesa")


def test_pay_now_tapped_again_at_the_language_question_asks_the_balance_once():
    """At the balance's number question she types "language"; at the language question she
    taps Pay now again and gives her number: the balance is asked for. Once she chose the
    language the first number question came back with its payment and, her number known,
    asked for the balance again (a second M-Pesa prompt, or "already on its way" /
    "Nothing is left to pay" out of the blue). Now her day is asked."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("paybalance:5:mpesa").type("language").tap("paybalance:5:mpesa").type("0712 345 678")
    assert _balance_requests(chat) == [PayBalance(5, "mpesa", "+254712345678")]
    chat.outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))
    assert chat.state == "language"

    chat.tap("lang:en")

    assert _balance_requests(chat) == [PayBalance(5, "mpesa", "+254712345678")]
    assert (chat.state, chat.text) == ("day", "Great, let's talk in English.\n" + DAY_ASKED)


def test_the_balance_paid_from_another_number_at_the_language_question_is_not_asked_again():
    """As above, with "M-Pesa from another number" at the language question: the balance
    asked from 0722..., she was asked for her own number for the balance she had just
    paid once the language was chosen. Now her day is asked."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("paybalance:5:mpesa").type("language").tap("paybalance:5:mpesa:other").type("0722 000 111")
    assert _balance_requests(chat) == [PayBalance(5, "mpesa", "+254722000111")]
    chat.outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))

    chat.tap("lang:en")

    assert (chat.state, chat.text) == ("day", "Great, let's talk in English.\n" + DAY_ASKED)
    assert _balance_requests(chat) == [PayBalance(5, "mpesa", "+254722000111")]


def test_reply_to_the_shop_then_pay_now_asks_the_balance_once():
    """The same by Reply: at the balance's number question she taps Reply, then Pay now
    again and gives her number; her words to the shop asked for the balance again. Now
    they go to the shop, and her day is asked."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("paybalance:5:mpesa").tap("reply:shop").tap("paybalance:5:mpesa").type("0712 345 678")
    chat.outcome(Done("paybalance", {"amount": 450000, "method": "mpesa"}))
    assert chat.state == "message_shop"

    chat.type("Is the car washed too?")

    assert chat.commands[-1] == MessageShop("Is the car washed too?", None)
    assert _balance_requests(chat) == [PayBalance(5, "mpesa", "+254712345678")]
    assert chat.state == "day"


def test_a_freed_time_whose_number_question_a_rating_replaced_is_said_to_be_not_taken():
    """At the menu she taps Yes under a freed time; M-Pesa needs her number; she rates a
    visit instead. The freed time was forgotten with only the thanks and the menu said:
    she might think it hers. Now she is told it was not taken, and how to take it, once the
    rating is given (refused, it would change nothing)."""
    from bot.model import RateJob

    chat = Chat(FakeContext(my_bookings=[held_offer(100000)])).send(Event("start")).tap("lang:en")
    chat.tap("offer:yes:9")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)

    chat.tap("rate:9:5")

    assert (chat.text, chat.commands[-1]) == ("", RateJob(9, 5))
    chat.outcome(Done("rated", {"stars": 5}))
    assert (chat.state, chat.text) == ("menu", FREED_TIME_NOT_TAKEN + "\nThank you for rating your visit 5 of 5!\n"
                                       "What would you like to do?")  # fmt: skip


def test_a_rating_given_while_a_freed_times_number_is_asked_leaves_her_number_for_her_own_booking():
    """At her own booking's "M-Pesa needs your phone number" she taps Yes under a freed time
    (her number is asked for it), then rates a visit instead. Her booking's number question
    came back still meaning the freed time: the number she typed took it, and her booking
    was dropped for the menu. Now the rating takes the freed time's question's place, and
    her number holds her own booking."""
    chat = choosing_a_day(FakeContext(my_bookings=[held_offer(100000)]).with_vehicle())
    chat.tap("day:2026-11-25").tap(chat.ids[0]).answer("confirm").tap("pay:mpesa")
    chat.tap("offer:yes:9").tap("rate:9:5")
    chat.outcome(Done("rated", {"stars": 5}))
    assert (chat.state, chat.text) == ("phone", FREED_TIME_NOT_TAKEN + "\nThank you for rating your visit 5 of 5!\n"
                                       + PHONE_PLEASE)  # fmt: skip

    chat.type("0712 345 678")

    assert chat.commands[-2:] == [Hold((1,), at(25, 10), 3, "mpesa", "+254712345678"), SavePhone("+254712345678")]


def test_a_message_written_to_the_shop_is_not_asked_for_again_once_the_language_is_chosen():
    """Choosing a day she taps Reply, asks for the language there, taps Reply again and
    sends her words. Once the language was chosen, "Write your message" came again, and
    her next words went to the shop; now her day is asked."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.tap("reply:shop").type("language").tap("reply:shop").type("Are you open on Sunday?")
    assert chat.commands[-1] == MessageShop("Are you open on Sunday?", None)
    assert chat.text == "Sent to the shop. They will answer you here.\nWhich language do you prefer?"

    chat.tap("lang:en")

    assert (chat.state, chat.text) == ("day", "Great, let's talk in English.\n" + DAY_ASKED)


@pytest.mark.parametrize("aside", ["language", "reply:shop"])
def test_a_notice_answered_long_after_over_the_language_or_the_shops_message_ends_at_the_menu(aside):
    """Choosing a day she asks for the language (or taps Reply); extra work is found and she
    approves it ("1") 40 minutes later. The language question (or "Write your message")
    of 40 minutes before came back; now the menu, as after any step left so long."""
    from bot.model import DecideExtra

    ctx = FakeContext().with_vehicle()
    chat = choosing_a_day(ctx)
    chat.type(aside) if aside == "language" else chat.tap(aside)
    chat.data |= {"notice": dict(EXTRA_FOUND, before=chat.data.get("offered")), "offered": EXTRA_FOUND["offered"]}
    ctx.now += timedelta(minutes=40)

    chat.type("1")
    assert chat.commands[-1] == DecideExtra(7, True)
    chat.outcome(Done("extra", {"work": "discs", "approved": True, "total": 1000000}))

    assert (chat.state, chat.text) == ("menu", "Thank you: the extra work (discs) is approved. Your new total is "
                                               "Ksh10,000.\nWhat would you like to do?")  # fmt: skip


def test_a_chat_saved_at_a_notice_asked_again_still_reads_a_day_typed_for_the_booking_under_it():
    """A chat saved before a notice asked again left it at the question it came over: at
    "notice_again", the day set aside as one name. The day she typed got the menu, her
    service and car dropped; now it is her booking's day, and the notice still answers."""
    from bot.model import DecideExtra

    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.state = "notice_again"
    chat.data |= {"resume": "day", "notice": EXTRA_FOUND, "offered": EXTRA_FOUND["offered"]}

    chat.type("25.11")

    assert (chat.state, chat.data["day"], chat.data["services"]) == ("time", "2026-11-25", [1])
    chat.tap("extra:yes:7")
    assert chat.commands[-1] == DecideExtra(7, True)


@pytest.mark.parametrize("answer", ["pay:cash", "back"])
def test_a_payment_asked_with_no_time_chosen_asks_the_day_never_fails(answer):
    """A booking's way to pay asked again without its time (a question brought back
    without what it needs): paying, or Back to the summary, raised "Sorry, something went
    wrong" at each answer; now the day is asked, with the service and car kept."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.state = "payment"

    chat.tap(answer)

    assert (chat.state, chat.text, chat.data["services"]) == ("day", DAY_ASKED, [1])
    assert not any(isinstance(c, Hold) for c in chat.commands)


def test_a_customer_who_opens_in_swahili_is_greeted_and_answered_in_swahili():
    ctx = FakeContext(language_hint=None)  # WhatsApp says nothing of the language
    chat = Chat(ctx).type("Habari, nataka kuweka miadi kesho saa nne")
    assert chat.text.startswith("Habari! Hapa ni Mwangaza Motors.") and chat.state == "start"
    chat.type("nataka kuweka nafasi")
    assert chat.data["lang"] == "sw" and chat.commands[-1] == SetLanguage("sw")
    assert not chat.text.startswith("Sorry")


# -- the same stories, typed in each language -----------------------------------------------

TYPED = {  # what a person types at each step, per language
    "en": {"book": "book", "oil": "oil change", "done": "that's all", "skip": "skip", "when": "tomorrow 10am",
           "yes": "yes", "cash": "pay at the shop", "thursday": "thursday", "friday": "friday 3pm"},
    "sw": {"book": "weka nafasi", "oil": "kubadilisha oili", "done": "hiyo tu", "skip": "ruka",
           "when": "kesho saa nne", "yes": "ndiyo", "cash": "lipa ukifika gereji", "thursday": "alhamisi",
           "friday": "ijumaa saa tisa"},
    "ru": {"book": "записаться", "oil": "замена масла", "done": "это всё", "skip": "пропустить",
           "when": "завтра в 10", "yes": "да", "cash": "оплата в сервисе", "thursday": "в четверг",
           "friday": "пятница 15:00"},
    "kk": {"book": "жазылу", "oil": "май ауыстыру", "done": "болды", "skip": "өткізіп жіберу",
           "when": "ертең 10:00", "yes": "иә", "cash": "сервисте төлеу", "thursday": "бейсенбі",
           "friday": "жұма 15:00"},
}


def chat_in(lang: str, ctx=None) -> Chat:
    return Chat(ctx or FakeContext()).send(Event("start")).tap(f"lang:{lang}")


@pytest.mark.parametrize("lang", ["en", "sw", "ru", "kk"])
def test_a_customer_books_by_typing_in_their_own_language(lang):
    words = TYPED[lang]
    chat = chat_in(lang).type(words["book"]).type(words["oil"])
    assert chat.state == "services" and chat.data["services"] == [1], chat.text
    chat.type(words["done"]).type("KCB 123A").type(words["skip"])
    chat.outcome(Done("vehicle", {"vehicle_id": 3, "plate": "KCB 123A"}))
    chat.type(words["when"])
    assert chat.state == "summary", chat.text
    chat.type(words["yes"])
    chat.type(words["cash"])
    assert chat.commands[-1] == Hold((1,), at(24, 10), 3, "cash")
    chat.outcome(Booked(9, "MM-1001", at(24, 10), True, 0, 0, "cash"))
    assert chat.text.startswith(gettext(lang, "Booked! Your code is {code}.", code="MM-1001"))


@pytest.mark.parametrize("lang", ["sw", "ru"])
def test_cancelling_late_in_another_language_states_the_cost_first(lang):
    chat = chat_in(lang, FakeContext(my_bookings=[booking_tomorrow(5)])).tap("m:bookings").tap("bk:9").tap("cancel")
    assert gettext(lang, "Cancelling now is free.") not in chat.text
    chat.type(TYPED[lang]["yes"])
    assert chat.commands[-1] == Cancel(9)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_rescheduling_in_another_language(lang):
    chat = chat_in(lang, FakeContext(my_bookings=[booking_tomorrow(30)])).tap("m:bookings").tap("bk:9").tap("resched")
    chat.type(TYPED[lang]["friday"])
    assert chat.state == "resched_confirm", chat.text
    chat.type(TYPED[lang]["yes"])
    from bot.model import Reschedule

    assert chat.commands[-1] == Reschedule(9, at(27, 15))


@pytest.mark.parametrize("lang", ["sw", "kk"])
def test_the_waitlist_in_another_language(lang):
    ctx = FakeContext().with_vehicle()
    ctx.full_days.add(date(2026, 11, 26))
    chat = chat_in(lang, ctx).tap("m:book").tap("svc:1").tap("done").tap("veh:3").type(TYPED[lang]["thursday"])
    assert chat.state == "waitlist", chat.text
    chat.type(TYPED[lang]["yes"])
    assert chat.commands[-1] == JoinWaitlist(date(2026, 11, 26), (1,), 3)


@pytest.mark.parametrize("lang", ["ru", "sw"])
def test_a_slot_taken_meanwhile_in_another_language(lang):
    chat = chat_in(lang, FakeContext().with_vehicle()).tap("m:book").tap("svc:1").tap("done").tap("veh:3")
    chat.tap("day:2026-11-25").tap(f"time:{at(25, 10).isoformat()}").answer("confirm").tap("pay:cash")
    chat.outcome(Taken(at(25, 10), (at(25, 11),)))
    assert chat.state == "time" and chat.choices[0] == "11:00"
    assert chat.text.startswith(gettext(lang, "Sorry, {time} was taken by someone else a moment ago.", time="10:00"))


def test_a_deep_link_to_book_starts_a_booking_once_the_language_is_chosen():
    chat = Chat(FakeContext()).send(Event("start", text="book"))
    assert chat.state == "start"
    chat.tap("lang:en")
    assert chat.state == "services"
    assert chat.text.startswith("Great, let's talk in English.\nWhich service do you need?")


def test_a_deep_link_with_a_booking_code_opens_that_booking_and_a_strangers_code_does_not():
    chat = chat_in("en", FakeContext(my_bookings=[booking_tomorrow(30)]))
    chat.send(Event("start", text="MM-1009"))
    assert chat.state == "booking" and chat.text.startswith("Booking MM-1009")
    chat.send(Event("start", text="MM-4444"))
    assert chat.state == "menu"


def test_after_a_notice_is_answered_only_the_waiting_notices_still_true_are_asked_again():
    """Under the rating wait a reminder (no longer true: the car is on the lift) and extra
    work to approve (still asked): after the rating, the extra work comes back, and the
    reminder is dropped on the way."""
    extra = dict(EXTRA_FOUND)
    reminder = {"reply": Reply((Msg("Reminder: your visit"),), (Choice("rm:cancel:5", "Cancel"),)).to_json(),
                "offered": [["rm:cancel:5", ["Cancel", "1"]]], "outbox_id": 11}  # fmt: skip
    chat = chat_in("en", FakeContext(outdated_notices={11}))
    chat.data |= {"notice": {"reply": {}, "offered": [["rate:5:5", ["5", "1"]]], "outbox_id": 13},
                  "notices_waiting": [extra, reminder]}  # fmt: skip

    chat.tap("rate:5:5").outcome(Done("rated", {"stars": 5}))

    assert chat.text == "Thank you for rating your visit 5 of 5!\nOne more question is waiting for your answer:\nExtra work found: discs."
    assert chat.ids == ["extra:yes:7"] and chat.data["offered"] == extra["offered"]
    assert "notices_waiting" not in chat.data

    chat.tap("extra:yes:7").outcome(Done("extra", {"approved": True, "work": "discs", "total": 1000000}))
    assert chat.state == "menu" and "Reminder" not in chat.text


@pytest.mark.parametrize("lang, greeting, thanks", [("en", "Hello", "thank you so much"), ("sw", "Habari za asubuhi", "Asante sana"),
                                                    ("ru", "Добрый день!", "спасибо большое"), ("kk", "Сәлеметсіз бе", "Рахмет")])  # fmt: skip
def test_a_greeting_or_thanks_at_the_menu_is_answered_in_kind_not_with_sorry(lang, greeting, thanks):
    menu = gettext(lang, "What would you like to do?")

    assert chat_in(lang).type(greeting).text == gettext(lang, "Hello!") + "\n" + menu
    assert chat_in(lang).type(thanks).text == gettext(lang, "You're welcome!") + "\n" + menu
    assert chat_in(lang).type("ok").text == menu


@pytest.mark.parametrize("typed", ["hi, tomorrow 10am", "good", "so", "hello, where is the shop?"])
def test_only_a_whole_greeting_is_small_talk(typed):
    from bot.understand import small_talk

    assert small_talk(typed) is None


def books_the_day_she_was_choosing(chat: Chat) -> Chat:
    """The day and time tapped, confirmed, paid at the shop: booked."""
    chat.tap("day:2026-11-25").tap(f"time:{at(25, 14).isoformat()}").answer("confirm").tap("pay:cash")
    return chat.outcome(Booked(9, "MM-1002", at(25, 14), True, 0, 0, "cash"))


def starts_over(chat: Chat, how: str) -> Chat:
    """The chat starts over: "menu" or "stop" typed, 40 minutes away, or the booking made."""
    if how == "a pause":
        chat.ctx.now += timedelta(minutes=40)
        return chat
    return books_the_day_she_was_choosing(chat) if how == "a booking made" else chat.type(how)


@pytest.mark.parametrize("how", ["menu", "stop", "a pause", "a booking made"])
def test_a_notice_waiting_under_another_is_asked_again_however_the_chat_started_over(how):
    """Choosing a day, she is asked to rate a visit, extra work found before waiting under
    it. The chat starts over, then she rates the visit: the extra work is asked again, as
    after "menu". After "stop", a pause or the booking made it was forgotten with the
    booking half made, never to be asked again (a notice coming after a pause kept it)."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    rating = [["rate:5:5", ["5", "1"]]]
    chat.data |= {"notice": {"reply": {}, "offered": rating, "outbox_id": 13}, "offered": rating,
                  "notices_waiting": [dict(EXTRA_FOUND)]}  # fmt: skip

    starts_over(chat, how).tap("rate:5:5").outcome(Done("rated", {"stars": 5}))

    assert chat.text == ("Thank you for rating your visit 5 of 5!\nOne more question is waiting for your answer:\n"
                         "Extra work found: discs.")  # fmt: skip
    assert (chat.state, chat.ids) == ("menu", ["extra:yes:7"])


def test_back_from_the_language_question_mid_booking_returns_to_the_booking():
    chat = chat_in("en", FakeContext().with_vehicle()).tap("m:book").tap("svc:1").tap("done")
    assert chat.state == "vehicle"

    chat.type("language").type("back")

    assert (chat.state, chat.data["services"]) == ("vehicle", [1])
    assert chat.text == "Which vehicle is it for?"


def test_help_mid_booking_explains_then_asks_the_same_question_again():
    chat = chat_in("en", FakeContext().with_vehicle()).tap("m:book").tap("svc:1").tap("done")

    chat.type("help")

    assert (chat.state, chat.data["services"]) == ("vehicle", [1])
    assert chat.text.startswith("I can book your car in, show and change your bookings, and keep your vehicles.")
    assert chat.text.endswith("Which vehicle is it for?")


@pytest.mark.parametrize("lang, typed", [("en", "ok tomorrow 10am"), ("ru", "давай завтра"), ("ru", "хорошо, завтра"),
                                         ("sw", "sawa kesho"), ("kk", "жарайды ертең"), ("en", "fine, friday")])  # fmt: skip
def test_a_time_led_by_a_yes_word_at_the_menu_starts_a_booking(lang, typed):
    chat = chat_in(lang).type(typed)
    assert (chat.state, chat.data.get("wanted")) == ("services", typed)


@pytest.mark.parametrize("lang, typed", [("en", "sure"), ("ru", "конечно"), ("sw", "haya"), ("kk", "жарайды")])
def test_a_word_that_does_not_answer_an_open_notice_asks_the_notice_again_not_the_menu(lang, typed):
    from core import notices
    from core.messages import remembered_choices

    extra = Reply((Msg("Extra work found on MM-1001: discs, Ksh 6,500. Do you approve this work?"),),
                  (Choice("extra:yes:7", Msg("Approve")), Choice("extra:no:7", Msg("Decline"))))  # fmt: skip
    offered = remembered_choices(extra.choices, lang, {"extra:yes:7": notices.YES_ALIASES, "extra:no:7": notices.NO_ALIASES})
    chat = chat_in(lang)
    chat.data |= {"offered": offered, "notice": {"reply": extra.to_json(), "offered": offered, "outbox_id": 1}}

    chat.type(typed)

    assert chat.text == gettext(lang, "Sorry, I did not get that.") + "\n" + extra.texts[0].id
    assert chat.ids == ["extra:yes:7", "extra:no:7"] and chat.data["offered"] == offered


@pytest.mark.parametrize("earlier_notice", [False, True])
def test_back_from_another_number_on_a_held_bookings_card_returns_to_the_card(earlier_notice):
    from bot.model import CustomerInfo

    held = BookingView(5, "MM-1005", at(25, 10), "held", ({"en": "Oil change"},), 350000, "KCB 123A", (1,), 100000)
    chat = chat_in("en", FakeContext(my_bookings=[held], customer=CustomerInfo(7, "Amina", "+254712345678", "en", 2)))
    if earlier_notice:  # an earlier visit's rating, still in the chat's memory
        rating = Reply((Msg("How was your visit MM-0900?"),), tuple(Choice(f"rate:1:{i}", str(i)) for i in range(1, 6)))
        chat.data |= {"notice": {"reply": rating.to_json(), "offered": [[c.id, [c.label]] for c in rating.choices]}}
    chat.tap("m:bookings").tap("bk:5").tap("payagain:5:mpesa:other")
    assert chat.state == "phone"

    chat.tap("back")

    assert chat.state == "booking" and chat.text.startswith("Booking MM-1005")


@pytest.mark.parametrize("typed, lang", [("русский язык", "ru"), ("казахский язык", "kk"), ("қазақ тілі", "kk"),
                                         ("орыс тілі", "ru")])  # fmt: skip
def test_a_language_named_with_the_word_for_language_is_understood(typed, lang):
    chat = chat_in("en").tap("m:lang").type(typed)
    assert chat.data["lang"] == lang


def test_a_language_chosen_half_an_hour_after_it_was_asked_is_taken():
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:lang")
    ctx.now = NOW + timedelta(minutes=40)

    chat.tap("lang:sw")

    assert chat.data["lang"] == "sw"


def test_talk_to_the_shop_left_open_for_days_does_not_swallow_the_next_message():
    ctx = FakeContext()
    chat = chat_in("sw", ctx).tap("m:shop")
    ctx.now = NOW + timedelta(days=4)

    chat.type("weka nafasi")  # "book": back days later, to book

    assert not [c for c in chat.commands if isinstance(c, MessageShop)]
    assert chat.state == "menu"


def test_the_words_for_the_shop_written_within_two_hours_are_sent():
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:shop")
    ctx.now = NOW + timedelta(minutes=50)

    chat.type("Do you have Michelin tyres for a Probox?")

    assert chat.commands[-1] == MessageShop("Do you have Michelin tyres for a Probox?")


@pytest.mark.parametrize("typed", ["123 АВС 06", "123abc06"])  # Cyrillic letters that look Latin; no spaces
def test_my_vehicles_knows_a_plate_typed_as_the_booking_does_and_not_one_character_off(typed):
    from bot.model import CustomerInfo, VehicleView

    cars = (VehicleView(3, "123 ABC 06", None), VehicleView(4, "124 ABC 06", None))
    chat = chat_in("ru", FakeContext(customer=CustomerInfo(7, "Алия", None, "ru", 2), vehicles=cars)).tap("m:vehicles")

    chat.type(typed)
    assert chat.text.startswith(gettext("ru", "Service history of {plate}:", plate="123 ABC 06"))
    chat.type("125 ABC 06")
    assert chat.text.startswith(gettext("ru", "Sorry, I did not get that."))


def test_paying_online_for_a_visit_with_no_deposit_says_the_whole_price_is_paid_in_advance():
    chat = chat_in("en", FakeContext().with_vehicle())
    chat.tap("m:book").tap("svc:1").tap("done").tap("veh:3").tap("day:2026-11-25").type("2").answer("confirm")

    assert chat.text == ("Paying online now pays the whole price in advance: cancel in time and it is refunded; "
                         "later, or not coming, and the shop keeps it.\nHow would you like to pay?")  # fmt: skip


@pytest.mark.parametrize("lang, word", [("en", "remove"), ("ru", "удалить"), ("kk", "жою"), ("sw", "ondoa")])
def test_a_customer_removes_a_car_by_typing_the_word_in_their_own_language(lang, word):
    from bot.model import RemoveVehicle

    chat = chat_in(lang, FakeContext().with_vehicle()).tap("m:vehicles").tap("veh:3")
    assert chat.choices == [gettext(lang, "Remove this car"), gettext(lang, "Back"), gettext(lang, "Main menu")]

    chat.type(word)
    assert chat.text == gettext(lang, "Remove {plate} from your vehicles? Its service history stays with the shop.",
                                plate="KCB 123A")  # fmt: skip
    chat.type({"en": "yes", "ru": "да", "kk": "иә", "sw": "ndiyo"}[lang])
    assert chat.commands[-1] == RemoveVehicle(3)
    chat.outcome(Done("vehicle_removed", {"plate": "KCB 123A"}))
    assert chat.state == "vehicles"
    assert chat.text.startswith(gettext(lang, "Removed {plate} from your vehicles.", plate="KCB 123A"))


def test_a_car_kept_is_said_to_stay_and_its_page_is_shown_again():
    chat = chat_in("en", FakeContext().with_vehicle()).tap("m:vehicles").tap("veh:3").tap("remove:3")

    chat.answer("no")

    assert chat.state == "my_vehicle" and chat.text == "OK, KCB 123A stays in your vehicles.\n" \
        "Service history of KCB 123A:\nNo visits yet."  # fmt: skip
    assert not [c for c in chat.commands if type(c).__name__ == "RemoveVehicle"]


def test_a_car_with_a_visit_to_come_is_not_offered_for_removal_and_back_returns_to_its_page():
    from bot.model import BookingRef

    ctx = FakeContext(keeping={3: BookingRef(9, "MM-1009", at(25, 10))}).with_vehicle()
    chat = chat_in("en", ctx).tap("m:vehicles").tap("veh:3").tap("remove:3")

    assert chat.text == ("KCB 123A cannot be removed while it has a booking: MM-1009, Wed 25 Nov, 10:00. "
                         "Once that visit is over or cancelled, you can remove it.")  # fmt: skip
    assert chat.choices == ["Back", "Main menu"]
    chat.type("yes")  # nothing was asked: no removal
    assert chat.text.startswith("Sorry, I did not get that.\nChoose Back to return to the car, or Main menu.")
    chat.tap("back")
    assert chat.state == "my_vehicle" and chat.text.startswith("Service history of KCB 123A:")
    assert not [c for c in chat.commands if type(c).__name__ == "RemoveVehicle"]


def two_cars() -> FakeContext:
    ctx = FakeContext()
    ctx.vehicles = (VehicleView(3, "KCB 123A", None), VehicleView(4, "KDD 222B", None))
    return ctx


def test_another_car_tapped_or_typed_on_a_cars_page_opens_that_cars_page():
    chat = chat_in("en", two_cars()).tap("m:vehicles").tap("veh:3")
    chat.tap("veh:4")  # the list's button, still on screen above the page
    assert chat.text.startswith("Service history of KDD 222B:")
    chat.type("kcb 123a")
    assert (chat.state, chat.text.splitlines()[0]) == ("my_vehicle", "Service history of KCB 123A:")


def test_the_remove_button_under_one_cars_page_does_not_remove_the_car_open_now():
    chat = chat_in("en", two_cars()).tap("m:vehicles").tap("veh:3").tap("back").tap("veh:4")
    chat.tap("remove:3")  # under KCB 123A's page, tapped while KDD 222B's is open
    assert chat.state == "my_vehicle"
    assert chat.text.startswith("That button belongs to an earlier question, so I did nothing.\n"
                                "Service history of KDD 222B:")  # fmt: skip


PHOTO = "telegram:AgACphoto1"


def photo(caption: str = "") -> Event:
    return Event("photo", text=caption, photo=PHOTO)


def test_a_photo_for_the_shop_sent_in_the_middle_of_a_booking_goes_with_its_words_and_the_booking_goes_on():
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:book").tap("svc:1").tap("reply:shop")
    ctx.now = NOW + timedelta(minutes=20)  # a photo takes finding

    chat.send(photo("  The noise comes from here  "))

    assert chat.commands[-1] == MessageShop("The noise comes from here", PHOTO)
    assert (chat.state, chat.data["services"]) == ("services", [1])
    assert chat.text.splitlines()[0] == "Sent to the shop. They will answer you here."


def test_a_photo_with_a_notice_open_says_where_photos_go_and_asks_the_notice_again():
    extra = Reply((Msg("Extra work found on MM-1001: discs, Ksh 6,500. Do you approve this work?"),),
                  (Choice("extra:yes:7", Msg("Approve")), Choice("extra:no:7", Msg("Decline"))))  # fmt: skip
    offered = [["extra:yes:7", ["Approve"]], ["extra:no:7", ["Decline"]]]
    chat = chat_in("en")
    chat.data |= {"offered": offered, "notice": {"reply": extra.to_json(), "offered": offered, "outbox_id": 1}}

    chat.send(photo())

    assert not [c for c in chat.commands if isinstance(c, MessageShop)]
    assert chat.text == ("This photo was not sent to anyone. To send a photo to the shop, choose \"Talk to the shop\" "
                         "in the menu, then send the photo.\n" + extra.texts[0].id)  # fmt: skip
    assert chat.ids == ["extra:yes:7", "extra:no:7"] and chat.data["offered"] == offered


def test_a_photo_after_a_long_pause_in_a_booking_says_where_photos_go_as_it_starts_over():
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:book")
    ctx.now = NOW + timedelta(hours=1)

    chat.send(photo("my car"))

    assert chat.state == "menu" and not [c for c in chat.commands if isinstance(c, MessageShop)]
    assert chat.text.startswith("Welcome back! We left off a while ago, so let's start again.\n"
                                "This photo was not sent to anyone.")  # fmt: skip


# -- a service named in words, in one message -----------------------------------------------

OIL_NAMES = {"en": "Oil change", "sw": "Kubadilisha oili", "ru": "Замена масла", "kk": "Май ауыстыру"}


def added(lang: str, services: str) -> str:
    return (gettext(lang, "Added: {services}.", services=services) + "\n"
            + gettext(lang, "Anything else? Choose another service, or continue."))  # fmt: skip


@pytest.mark.parametrize("lang, typed", [
    ("ru", "записаться на замену масла"), ("ru", "хочу поменять масло"), ("ru", "нужна замена масла"),
    ("ru", "Масло поменять!"), ("ru", "ЗАМЕНЫ МАСЛА"), ("ru", "запишите меня на замену масла"),
    ("en", "book an oil change"), ("en", "I need an oil change"), ("en", "oil change"),
    ("kk", "май ауыстыруға жазылу"),
    ("sw", "nataka kubadilisha oil"), ("sw", "weka nafasi ya kubadilisha oil"),
])  # fmt: skip
def test_a_service_named_at_the_menu_starts_its_booking_at_anything_else(lang, typed):
    chat = chat_in(lang).type(typed)

    assert (chat.state, chat.data["services"]) == ("services", [1])
    assert chat.text == added(lang, OIL_NAMES[lang])
    assert chat.ids[0] == "done" and "svc:1" not in chat.ids  # as if tapped: "that's all", or another


def test_every_service_named_at_the_menu_goes_on_to_the_vehicle():
    chat = chat_in("ru", FakeContext().with_vehicle()).type("записаться на замену масла и колодки")
    assert (chat.state, chat.data["services"]) == ("vehicle", [1, 2])
    assert chat.text == gettext("ru", "Which vehicle is it for?")


def test_a_booking_begun_in_words_goes_on_as_a_tapped_one():
    chat = chat_in("en").type("book an oil change").type("that's all").type("KCB 123A").type("skip")
    chat.outcome(Done("vehicle", {"vehicle_id": 3, "plate": "KCB 123A"})).type("tomorrow 10am").type("yes")
    chat.type("pay at the shop")
    assert chat.commands[-1] == Hold((1,), at(24, 10), 3, "cash")


def test_a_first_message_naming_a_service_is_booked_once_the_language_is_chosen():
    chat = Chat(FakeContext(language_hint=None)).type("Здравствуйте, хочу записаться на замену масла")
    assert chat.state == "start"  # the language is asked first, as always
    assert chat.text.endswith(gettext("ru", "Which language do you prefer?"))

    chat.tap("lang:ru")

    assert (chat.state, chat.data["services"]) == ("services", [1])
    assert chat.text == gettext("ru", "Great, let's talk in English.") + "\n" + added("ru", "Замена масла")
    assert chat.commands == [SetLanguage("ru")]


def test_a_whole_request_typed_at_the_services_question_is_read_as_at_the_menu():
    chat = chat_in("en").tap("m:book").type("book an oil change")
    assert (chat.state, chat.data["services"]) == ("services", [1])
    assert chat.text == added("en", "Oil change")


def test_words_typed_instead_of_the_language_say_what_is_wanted_now():
    chat = Chat(FakeContext(language_hint=None)).type("замена масла").type("мои записи")
    assert chat.state == "bookings" and "requested" not in chat.data


@pytest.mark.parametrize("typed", ["записаться", "book", "weka nafasi", "жазылу"])
def test_words_that_only_ask_to_book_still_show_the_services(typed):
    chat = chat_in("en").type(typed)
    assert (chat.state, chat.data["services"]) == ("services", [])
    assert chat.text == "Which service do you need? You can choose several."


@pytest.mark.parametrize("typed", ["записаться на шиномонтаж", "замена", "change my booking", "oil change, how much?",
                                   "отменить запись на замену масла", "9", "hello, where is the shop?"])  # fmt: skip
def test_words_at_the_menu_that_name_no_service_get_the_same_answer_as_before(typed):
    chat = chat_in("en").type(typed)
    assert chat.state == "menu" and not chat.data.get("services")
    assert chat.text == ("Sorry, I did not get that.\nPlease choose one of the options below.\n"
                         "What would you like to do?")  # fmt: skip


@pytest.mark.parametrize("lang, typed, state", [("kk", "менің жазылуларым", "bookings"), ("ru", "мои записи", "bookings"),
                                                ("en", "talk to the shop", "message_shop"), ("sw", "magari yangu", "vehicles"),
                                                ("ru", "спасибо", "menu"), ("kk", "сәлем", "menu")])  # fmt: skip
def test_the_other_menu_words_are_not_taken_for_a_booking(lang, typed, state):
    chat = chat_in(lang).type(typed)
    assert chat.state == state and "services" not in chat.data


def shop_answered_a_minute_ago(lang: str) -> Chat:
    chat = chat_in(lang)
    chat.data["shop_answered"] = (NOW - timedelta(minutes=1)).isoformat()
    return chat


@pytest.mark.parametrize("typed", ["замена масла когда?", "замена масла", "oil change"])
def test_a_service_named_in_reply_to_the_shops_answer_goes_to_the_shop(typed):
    """Within two hours of the shop's answer, words about a service are part of that
    talk ("замена масла когда?"), as any words the menu does not take are."""
    chat = shop_answered_a_minute_ago("ru").type(typed)
    assert chat.commands[-1] == MessageShop(typed)
    assert chat.state == "menu" and "services" not in chat.data


@pytest.mark.parametrize("typed", ["записаться на замену масла", "book an oil change"])
def test_asking_to_book_a_service_after_the_shops_answer_books_it(typed):
    """As "book" does: words that ask to book are a booking, whatever was said before."""
    chat = shop_answered_a_minute_ago("ru").type(typed)
    assert (chat.state, chat.data["services"]) == ("services", [1])
    assert not [c for c in chat.commands if isinstance(c, MessageShop)]


def test_a_service_named_while_a_notice_asks_about_extra_work_is_not_a_new_booking():
    from core import notices
    from core.messages import remembered_choices

    extra = Reply((Msg("Extra work found on MM-1001: brake pads, Ksh 4,500. Do you approve this work?"),),
                  (Choice("extra:yes:7", Msg("Approve")), Choice("extra:no:7", Msg("Decline"))))  # fmt: skip
    offered = remembered_choices(extra.choices, "en", {"extra:yes:7": notices.YES_ALIASES,
                                                       "extra:no:7": notices.NO_ALIASES})  # fmt: skip
    chat = chat_in("en")
    chat.data |= {"offered": offered, "notice": {"reply": extra.to_json(), "offered": offered, "outbox_id": 1}}

    chat.type("brake pads")

    assert "services" not in chat.data and chat.ids == ["extra:yes:7", "extra:no:7"]


# -- the example shops' own names, typed at the menu ------------------------------------------

ATYRAU, ATYRAU_IDS = example_shop("atyrau-service")
NAIROBI, NAIROBI_IDS = example_shop("nairobi-garage")
NOT_UNDERSTOOD_AT_THE_MENU = ("Sorry, I did not get that.", "Please choose one of the options below.",
                              "What would you like to do?")  # fmt: skip


def at_the_menu_of(shop, lang: str) -> Chat:
    return chat_in(lang, FakeContext(shop=shop))


def not_understood_at_the_menu(lang: str) -> str:
    return "\n".join(gettext(lang, line) for line in NOT_UNDERSTOOD_AT_THE_MENU)


@pytest.mark.parametrize("lang, typed", [("ru", "проверить запись"), ("ru", "хочу проверить запись"),
                                         ("en", "check my booking"), ("en", "check my bookings"),
                                         ("kk", "жазылуды тексеру")])  # fmt: skip
def test_asking_to_check_a_booking_shows_my_bookings_not_a_battery_check(lang, typed):
    """Atyrau's "Проверка аккумулятора и электрики" shares only the verb with "проверить запись"."""
    chat = at_the_menu_of(ATYRAU, lang).type(typed)
    assert chat.state == "bookings" and "services" not in chat.data
    assert chat.text == gettext(lang, "You have no upcoming bookings.")


@pytest.mark.parametrize("lang, typed", [("en", "repair"), ("ru", "ремонт"), ("kk", "жөндеу"), ("ru", "хочу ремонт")])
def test_a_word_for_the_work_alone_books_no_service(lang, typed):
    """"ремонт" is the work of "Ремонт подвески", but says nothing of what to repair."""
    chat = at_the_menu_of(ATYRAU, lang).type(typed)
    assert "services" not in chat.data and chat.text == not_understood_at_the_menu(lang)


@pytest.mark.parametrize("typed", ["проверка", "check", "хочу проверить", "тексеру"])
def test_a_check_alone_is_no_battery_check(typed):
    chat = at_the_menu_of(ATYRAU, "en").type(typed)
    assert "services" not in chat.data and chat.state == "bookings"


def test_asking_to_check_a_booking_after_the_shops_answer_is_no_battery_check():
    """"записаться" once asked to book whatever followed, within the shop's two hours too."""
    chat = at_the_menu_of(ATYRAU, "ru")
    chat.data["shop_answered"] = (NOW - timedelta(minutes=1)).isoformat()
    chat.type("проверить запись")
    assert chat.state == "bookings" and "services" not in chat.data


def test_checking_the_battery_still_books_the_battery_check():
    chat = at_the_menu_of(ATYRAU, "ru").type("проверка аккумулятора")
    assert chat.data["services"] == [ATYRAU_IDS["battery-check"]]
    assert chat.text == added("ru", "Проверка аккумулятора и электрики")


@pytest.mark.parametrize("typed, code, name", [("kubadilisha pedi", "brake-pads", "Kubadilisha pedi za breki"),
                                               ("kubadilisha tairi", "tyre-change", "Kubadilisha matairi (manne)"),
                                               ("kubadilisha betri", "battery", "Kubadilisha betri")])  # fmt: skip
def test_changing_a_part_in_swahili_books_that_part(typed, code, name):
    """"kubadilisha" begins half of Nairobi's services: the part named decides, not the
    likeness of the whole ("kubadilisha pedi" was "Kubadilisha betri", Ksh 12,000)."""
    chat = at_the_menu_of(NAIROBI, "sw").type(typed)
    assert chat.data["services"] == [NAIROBI_IDS[code]] and chat.text == added("sw", name)


def test_changing_the_brakes_in_swahili_is_not_understood_as_there_are_two():
    chat = at_the_menu_of(NAIROBI, "sw").type("kubadilisha breki")
    assert "services" not in chat.data and chat.text == not_understood_at_the_menu("sw")

    chat.tap("m:book").type("kubadilisha breki")  # pads or discs: asked again, at the list too
    assert chat.data["services"] == [] and chat.text.startswith(gettext("sw", "Sorry, I did not get that.") + "\n")


@pytest.mark.parametrize("lang, typed", [("en", "I booked an oil change"), ("ru", "записался на замену масла"),
                                         ("en", "my oil change booking"), ("ru", "записан на замену масла"),
                                         ("ru", "мои записи на замену масла")])  # fmt: skip
def test_a_booking_already_made_named_in_reply_to_the_shop_goes_to_the_shop(lang, typed):
    chat = at_the_menu_of(ATYRAU, lang)
    chat.data["shop_answered"] = (NOW - timedelta(minutes=1)).isoformat()
    chat.type(typed)
    assert "services" not in chat.data and chat.commands[-1] == MessageShop(typed)


@pytest.mark.parametrize("shop, lang, typed", [(NAIROBI, "en", "my oil change booking"),
                                               (NAIROBI, "en", "I booked an oil change"),
                                               (ATYRAU, "ru", "записалась на замену масла"),
                                               (NAIROBI, "en", "bookings oil change")])  # fmt: skip
def test_a_booking_already_made_is_not_a_new_booking_at_the_menu(shop, lang, typed):
    chat = at_the_menu_of(shop, lang).type(typed)
    assert "services" not in chat.data and chat.text == not_understood_at_the_menu(lang)


@pytest.mark.parametrize("shop, lang, typed, code, name", [
    (ATYRAU, "kk", "майды ауыстыру", "oil-change", "Май мен сүзгіні ауыстыру"),
    (ATYRAU, "kk", "майды ауыстырғым келеді", "oil-change", "Май мен сүзгіні ауыстыру"),
    (ATYRAU, "kk", "майды ауыстыруға жазылғым келеді", "oil-change", "Май мен сүзгіні ауыстыру"),
    (ATYRAU, "ru", "Я хотел бы записаться на замену масла", "oil-change", "Замена масла и фильтра"),
    (ATYRAU, "en", "I would like to book a wheel alignment", "wheel-alignment", "Wheel alignment"),
    (NAIROBI, "sw", "ninataka kubadilisha oili", "oil-change", "Kubadilisha oili na chujio"),
    (NAIROBI, "sw", "nahitaji kubadilisha oili", "oil-change", "Kubadilisha oili na chujio"),
])  # fmt: skip
def test_common_ways_of_asking_name_the_service(shop, lang, typed, code, name):
    chat = at_the_menu_of(shop, lang).type(typed)
    ids = ATYRAU_IDS if shop is ATYRAU else NAIROBI_IDS
    assert chat.data["services"] == [ids[code]] and chat.text == added(lang, name)


@pytest.mark.parametrize("typed", ["menu", "help"])
def test_a_first_messages_request_is_forgotten_once_the_menu_is_asked_for(typed):
    chat = Chat(FakeContext(language_hint=None)).type("замена масла").type(typed)
    chat.tap("m:lang" if chat.state == "menu" else "lang:ru")
    if chat.state == "language":
        chat.tap("lang:ru")
    assert (chat.state, chat.data.get("services")) == ("menu", None)
    assert chat.text == gettext("ru", "Great, let's talk in English.") + "\n" + gettext("ru", "What would you like to do?")


def test_a_photo_after_words_to_the_shop_with_a_notice_open_reaches_the_shop_too():
    extra = Reply((Msg("Extra work found on MM-1001: discs, Ksh 6,500. Do you approve this work?"),),
                  (Choice("extra:yes:7", Msg("Approve")), Choice("extra:no:7", Msg("Decline"))))  # fmt: skip
    offered = [["extra:yes:7", ["Approve"]], ["extra:no:7", ["Decline"]]]
    chat = chat_in("en")
    chat.data |= {"offered": offered, "notice": {"reply": extra.to_json(), "offered": offered, "outbox_id": 1},
                  "shop_answered": (NOW - timedelta(minutes=1)).isoformat()}  # fmt: skip
    chat.type("Why do the discs need changing?")  # to the shop, and the notice is asked again

    chat.send(photo("the receipt from last year"))

    assert chat.commands[-1] == MessageShop("the receipt from last year", PHOTO)
    assert chat.text == "Sent to the shop. They will answer you here.\n" + extra.texts[0].id
    assert chat.ids == ["extra:yes:7", "extra:no:7"]  # the notice's question, open again


def test_a_plate_written_under_a_photo_of_the_car_answers_the_plate_question():
    chat = chat_in("en").tap("m:book").tap("svc:1").type("that's all")
    assert chat.state == "plate"

    chat.send(photo("KDA 123A"))

    assert chat.state == "make" and chat.data["plate"] == "KDA 123A", chat.text
    assert chat.text.startswith("This photo was not sent to anyone. To send a photo to the shop, choose \"Talk to "
                                "the shop\" in the menu, then send the photo.\n")  # fmt: skip
    assert not [c for c in chat.commands if isinstance(c, MessageShop)]


SENT_AT_THE_MENU = "Sent to the shop. They will answer you here.\nWhat would you like to do?"


@pytest.mark.parametrize("how", ["menu", "stop", "a booking made"])
def test_words_for_the_shop_after_its_answer_reach_it_however_the_chat_started_over(how):
    """The shop answered her a minute ago; she was choosing a day for a booking. The chat
    starts over, and the words she types next, within two hours of the answer, are her
    reply to the shop, as after "menu". After "stop" or the booking made they were "not
    understood": the talk with the shop was forgotten with the booking half made."""
    chat = choosing_a_day(FakeContext().with_vehicle())
    chat.data["shop_answered"] = (NOW - timedelta(minutes=1)).isoformat()

    starts_over(chat, how).type("Do you have Castrol oil?")

    assert chat.commands[-1] == MessageShop("Do you have Castrol oil?")
    assert (chat.state, chat.text) == ("menu", SENT_AT_THE_MENU)


@pytest.mark.parametrize("how", ["menu", "a booking made"])
def test_a_photo_minutes_after_words_to_the_shop_reaches_it_however_the_chat_started_over(how):
    """Choosing a day, she writes to the shop (Reply), and her booking goes on. The chat
    starts over, and a photo she sends two minutes later is for the shop too, as after
    "menu". After the booking made it reached nobody. ("stop" ends her writing: below.)"""
    ctx = FakeContext().with_vehicle()
    chat = choosing_a_day(ctx).tap("reply:shop").type("Do you have Castrol oil?")
    starts_over(chat, how)
    ctx.now += timedelta(minutes=2)

    chat.send(photo())

    assert chat.commands[-1] == MessageShop("", PHOTO)
    assert (chat.state, chat.text) == ("menu", SENT_AT_THE_MENU)


@pytest.mark.parametrize("stop", ["stop", "cancel", "стоп", "тоқта", "sitisha"])
def test_a_photo_after_stop_typed_minutes_after_words_to_the_shop_reaches_nobody(stop):
    """She writes to the shop, then types "stop" (in any of the four languages): her talk
    with it is over. A photo a minute later went to the shop all the same, for ten minutes
    after her words; now it is told it reached nobody, and how to send one."""
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:shop").type("My tyre looks flat")
    chat.type(stop)
    assert chat.text == "Stopped. Nothing was changed.\nWhat would you like to do?"
    ctx.now += timedelta(minutes=1)

    chat.send(photo())

    assert [c for c in chat.commands if isinstance(c, MessageShop)] == [MessageShop("My tyre looks flat")]
    assert (chat.state, chat.text) == ("menu", "This photo was not sent to anyone. To send a photo to the shop, choose "
                                       "\"Talk to the shop\" in the menu, then send the photo.\nWhat would you like to do?")


def test_after_stop_a_photo_within_two_hours_of_the_shops_answer_still_reaches_it():
    """"stop" ends her own writing, not the shop's answer's two hours: a photo at the menu
    then is her reply to it, as her words are."""
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:shop").type("My tyre looks flat")
    chat.data["shop_answered"] = (NOW + timedelta(minutes=1)).isoformat()
    chat.type("stop")
    ctx.now += timedelta(minutes=2)

    chat.send(photo())

    assert chat.commands[-1] == MessageShop("", PHOTO)
    assert (chat.state, chat.text) == ("menu", SENT_AT_THE_MENU)


@pytest.mark.parametrize("later, to_the_shop", [(timedelta(minutes=10), True), (timedelta(minutes=11), False)])
def test_what_follows_words_to_the_shop_within_ten_minutes_goes_to_it_too(later, to_the_shop):
    """Words, then a photo (an album: a photo at a time), then more words: back at the
    menu after the first, the rest went to nobody, or was 'not understood'."""
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:shop").type("My tyre looks flat")
    ctx.now = NOW + later

    chat.send(photo())
    chat.type("the front left one")

    sent = [c for c in chat.commands if isinstance(c, MessageShop)][1:]
    assert sent == ([MessageShop("", PHOTO), MessageShop("the front left one")] if to_the_shop else [])
    assert chat.state == "menu"


def test_a_photo_minutes_after_words_to_the_shop_in_the_middle_of_a_booking_goes_and_the_booking_goes_on():
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:book").tap("svc:1").tap("reply:shop").type("Do you have Castrol oil?")
    assert chat.state == "services"
    ctx.now = NOW + timedelta(minutes=5)

    chat.send(photo())

    assert chat.commands[-1] == MessageShop("", PHOTO)
    assert (chat.state, chat.data["services"]) == ("services", [1])
    assert chat.text.splitlines()[0] == "Sent to the shop. They will answer you here."
    chat.type("Do you fit tyres too?")  # words there answer the booking's question, not the shop
    assert chat.commands[-1] == MessageShop("", PHOTO)


def album_photo(album: str, caption: str = "", n: int = 1) -> Event:
    """One photo of a Telegram album: a message a photo, each with the album's id."""
    return Event("photo", text=caption, photo=f"telegram:AgACalbum{album}-{n}", album=album)


def test_the_rest_of_an_album_sent_to_the_shop_goes_to_it_without_a_word_each():
    chat = chat_in("en").tap("m:shop")

    chat.send(album_photo("77", "The tyre, three sides", 1))
    assert chat.text.startswith("Sent to the shop. They will answer you here.\n") and chat.state == "menu"
    menu = (chat.data["offered"], chat.data["wrote_shop"])
    for n in (2, 3):
        chat.send(album_photo("77", n=n))
        assert (chat.shown, chat.state, chat.data["offered"], chat.data["album"]) == ([], "menu", menu[0], "77")

    assert [c for c in chat.commands if isinstance(c, MessageShop)] == [
        MessageShop("The tyre, three sides", "telegram:AgACalbum77-1"), MessageShop("", "telegram:AgACalbum77-2"),
        MessageShop("", "telegram:AgACalbum77-3")]  # fmt: skip


@pytest.mark.parametrize("between", ["another album", "a photo alone", "words"])
def test_what_comes_after_an_album_is_answered_as_ever(between):
    """Only the album's own photos, one after another, go without a word."""
    chat = chat_in("en").tap("m:shop").send(album_photo("77", "The tyre"))

    if between == "words":
        chat.type("The front left one").send(album_photo("77", n=2))
    else:
        chat.send(album_photo("78") if between == "another album" else photo())

    assert chat.text.startswith("Sent to the shop. They will answer you here.\n")
    assert len([c for c in chat.commands if isinstance(c, MessageShop)]) == (3 if between == "words" else 2)


def test_the_rest_of_an_album_that_reached_nobody_is_not_said_so_again():
    chat = chat_in("en").tap("m:book")

    chat.send(album_photo("77", "my car"))
    assert chat.text.startswith("This photo was not sent to anyone.") and chat.state == "services"
    chat.send(album_photo("77", n=2))

    assert (chat.shown, chat.state) == ([], "services")
    assert chat.tap("svc:1").text.startswith("Added: Oil change.")
    assert not [c for c in chat.commands if isinstance(c, MessageShop)]


def test_words_under_a_later_photo_of_an_album_that_reached_nobody_are_read():
    """Telegram takes words under any photo of an album: a plate there answers the plate question."""
    chat = chat_in("en").tap("m:book").tap("svc:1").type("that's all")
    chat.send(album_photo("77"))
    assert chat.text.startswith("This photo was not sent to anyone.") and chat.state == "plate"

    chat.send(album_photo("77", "KDA 123A", 2))

    assert chat.state == "make" and chat.data["plate"] == "KDA 123A", chat.text


def test_a_photo_of_an_album_long_after_the_rest_is_answered():
    """A photo of the album minutes later (Telegram delivered it again after a fault) is
    told where it went: more than ten minutes on, it is no longer for the shop."""
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:shop").send(album_photo("77"))
    ctx.now = NOW + timedelta(minutes=11)

    chat.send(album_photo("77", n=2))

    assert chat.text.startswith("This photo was not sent to anyone.")
    assert len([c for c in chat.commands if isinstance(c, MessageShop)]) == 1


def whatsapp_photo(n: int, words: str = "") -> Event:
    """The `n`th photo of a WhatsApp send, as the webhook makes it: Twilio posts each photo
    as a message of its own, nothing saying which were sent together."""
    inbound = whatsapp.parse({"MessageSid": f"MM{n}", "From": "whatsapp:+254712345678", "Body": words,
                              "NumMedia": "1", "MediaUrl0": f"https://api.twilio.com/Media/ME{n}",
                              "MediaContentType0": "image/jpeg"})  # fmt: skip
    return inbound.photo_event(inbound.event or Event("unsupported"))


def test_whatsapp_photos_sent_together_to_the_shop_go_to_it_and_are_said_sent_once():
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:shop").send(whatsapp_photo(1, "The tyre, three sides"))
    assert chat.text.startswith("Sent to the shop. They will answer you here.\n") and chat.state == "menu"

    for n in (2, 3):
        ctx.now += timedelta(seconds=20)
        chat.send(whatsapp_photo(n))
        assert (chat.shown, chat.state) == ([], "menu")

    assert [c for c in chat.commands if isinstance(c, MessageShop)] == [
        MessageShop("The tyre, three sides", "whatsapp:https://api.twilio.com/Media/ME1"),
        MessageShop("", "whatsapp:https://api.twilio.com/Media/ME2"),
        MessageShop("", "whatsapp:https://api.twilio.com/Media/ME3")]  # fmt: skip


def test_whatsapp_photos_sent_together_at_a_question_are_said_to_reach_nobody_once():
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:book").send(whatsapp_photo(1))
    assert chat.text.startswith("This photo was not sent to anyone.") and chat.state == "services"

    ctx.now += timedelta(seconds=2)
    chat.send(whatsapp_photo(2))

    assert (chat.shown, chat.state) == ([], "services")
    assert chat.tap("svc:1").text.startswith("Added: Oil change.")
    assert not [c for c in chat.commands if isinstance(c, MessageShop)]


@pytest.mark.parametrize("between", ["half a minute and more", "words under it", "words", "a button"])
def test_a_whatsapp_photo_not_sent_with_the_one_before_is_answered(between):
    """Words under a photo, words or a button between, or a pause longer than a send takes
    end the photos sent together: the next photo is answered, as any photo is, and one
    sent with it is not answered again."""
    ctx = FakeContext()
    chat = chat_in("en", ctx).tap("m:book").send(whatsapp_photo(1))
    ctx.now += timedelta(seconds=31 if between.startswith("half") else 2)
    if between == "words":
        chat.type("hello")
    elif between == "a button":
        chat.tap("svc:1")

    chat.send(whatsapp_photo(2, "my car" if between == "words under it" else ""))
    assert chat.text.startswith("This photo was not sent to anyone.")
    ctx.now += timedelta(seconds=30)
    chat.send(whatsapp_photo(3))

    assert chat.shown == []


def test_words_to_the_shop_longer_than_a_caption_go_whole():
    words = "The noise starts at 60 km/h. " * 140  # 4060 characters: a Telegram message holds 4096

    chat = chat_in("en").tap("m:shop").type(words)

    assert chat.commands[-1] == MessageShop(words.strip())


def test_words_for_the_shop_with_a_file_that_is_no_photo_go_and_the_customer_hears_the_file_did_not():
    chat = chat_in("en").tap("m:shop")

    chat.send(Event("text", text="The invoice you asked for", other_file=True))

    assert chat.commands[-1] == MessageShop("The invoice you asked for")
    assert chat.text.startswith("Sent to the shop. They will answer you here.\n"
                                "Your file was not passed on: only words and photos reach the shop.\n")  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "sw", "ru", "kk"])
def test_a_service_typed_under_a_file_that_is_no_photo_is_chosen_and_the_file_said_not_passed_on_once(lang):
    """The words were read as typed, and nothing said the file went nowhere."""
    chat = chat_in(lang).type(TYPED[lang]["book"])

    chat.send(Event("text", text=TYPED[lang]["oil"], other_file=True))

    assert chat.state == "services" and chat.data["services"] == [1]
    note = gettext(lang, engine.FILE_NOT_PASSED_ON)
    assert note != engine.FILE_NOT_PASSED_ON or lang == "en"
    assert chat.text.startswith(note + "\n") and chat.text.count(note) == 1


@pytest.mark.parametrize("first", [Event("unsupported", other_file=True),
                                   Event("text", text="My brakes squeal, here is the last quote", other_file=True),
                                   Event("photo", photo=PHOTO, other_file=True)], ids=["alone", "words", "a photo"])
def test_a_file_in_a_first_message_is_greeted_and_said_not_passed_on_with_nothing_said_of_the_rest(first):
    """The greeting answers a first message whatever it carried: its words and its photo
    reached nobody either, so she is not told that words and photos reach the shop."""
    chat = Chat(FakeContext()).send(first)

    assert chat.text == ("Your file was not passed on.\n"
                         "Hello! This is Mwangaza Motors. I can book your car in and keep you posted.\n"
                         "Which language do you prefer?")


@pytest.mark.parametrize("lang", ["en", "sw", "ru", "kk"])
def test_the_file_of_a_first_message_is_said_not_passed_on_in_each_language(lang):
    chat = Chat(FakeContext(language_hint=lang), lang).send(Event("unsupported", other_file=True))

    note = gettext(lang, engine.FILE_NOT_PASSED_ON_AT_FIRST)
    assert note != engine.FILE_NOT_PASSED_ON_AT_FIRST or lang == "en"
    assert chat.text.startswith(note + "\n")


FILE_ALONE = Event("unsupported", other_file=True)  # a PDF, a voice note, a video: no words with it
AT_EACH_STEP = {  # the step: the buttons that lead there, and its question
    "menu": ([], "What would you like to do?"),
    "plate": (["m:book", "svc:1", "done"], "Type the registration plate of the vehicle, for example KCB 123A."),
    "message_shop": (["m:shop"], "Write your message and the shop will answer you here."),
}


@pytest.mark.parametrize("numbered", [True, False], ids=["whatsapp", "telegram"])
@pytest.mark.parametrize("at_step", AT_EACH_STEP)
def test_a_file_alone_later_in_a_chat_is_said_not_passed_on_and_the_question_asked_again_nothing_more(
        at_step, numbered):  # fmt: skip
    """"Only words and photos reach the shop", then "I can only read text here": in "Talk to
    the shop", where photos do reach it, the second undid the first."""
    taps, question = AT_EACH_STEP[at_step]
    chat = Chat(FakeContext(numbered=numbered)).send(Event("start")).tap("lang:en")
    for choice in taps:
        chat.tap(choice)
    offered, done = chat.ids, len(chat.commands)

    chat.send(FILE_ALONE)

    assert chat.state == at_step
    assert chat.text == f"Your file was not passed on: only words and photos reach the shop.\n{question}"
    assert chat.ids == offered and chat.commands[done:] == []


@pytest.mark.parametrize("lang", ["en", "sw", "ru", "kk"])
def test_a_file_alone_in_talk_to_the_shop_is_answered_without_i_can_only_read_text_in_each_language(lang):
    chat = chat_in(lang).tap("m:shop")
    asked = chat.text

    chat.send(FILE_ALONE)

    assert chat.text == f"{gettext(lang, engine.FILE_NOT_PASSED_ON)}\n{asked}"


def test_a_make_typed_under_a_file_saves_the_car_and_the_note_waits_for_the_answer_that_follows():
    """The make's step only asks core to save the car: the note said then would be a message
    of its own before "Saved"; it goes first in that answer instead (bot.runner likewise)."""
    chat = chat_in("en").tap("m:book").tap("svc:1").type("that's all").type("kcb 123a")
    assert chat.state == "make"

    result = engine.step(chat.state, chat.data, Event("text", text="Toyota Axio", other_file=True), chat.ctx)

    assert (result.replies, result.commands) == ([], [SaveVehicle("KCB 123A", "Toyota Axio")])
    assert result.notes == (Msg(engine.FILE_NOT_PASSED_ON),)
    chat.send(Event("text", text="Toyota Axio", other_file=True))
    assert chat.shown == []
    chat.outcome(Done("vehicle", {"vehicle_id": 3, "plate": "KCB 123A"}))
    assert chat.text.startswith("Your file was not passed on: only words and photos reach the shop.\nSaved KCB 123A.")
    assert len(chat.shown) == 1 and chat.text.count("Your file") == 1


def test_the_notes_of_a_silent_step_go_first_in_the_first_message_that_says_something():
    note, saved, asked = Msg(engine.FILE_NOT_PASSED_ON), Msg("Saved KCB 123A."), Msg("Which day?")
    day = (Choice("day:2026-11-24", Msg("Tue 24 Nov")),)

    assert engine.said_first((note,), [Reply((saved,)), Reply((asked,), day)]) == [
        Reply((note, saved)), Reply((asked,), day)]  # fmt: skip
    assert engine.said_first((note,), [Reply(()), Reply((), day)]) == [Reply(()), Reply((note,), day)]
    assert engine.said_first((note,), []) == [Reply((note,))]
    assert engine.said_first((), [Reply((saved,))]) == [Reply((saved,))]


# -- a service and the time wanted, in one message ------------------------------------------

WHAT_AND_WHEN = [
    (NAIROBI, "en", "oil change tomorrow 10am", at(24, 10)),
    (NAIROBI, "en", "book an oil change for friday at 3pm", at(27, 15)),
    (ATYRAU, "ru", "замена масла завтра в 10", at(24, 10)),
    (ATYRAU, "ru", "завтра в 10 замена масла", at(24, 10)),
    (ATYRAU, "kk", "май ауыстыру ертең сағат 10-да", at(24, 10)),
    (NAIROBI, "sw", "kubadilisha oili kesho saa nne asubuhi", at(24, 10)),  # saa nne: the fourth hour of the day
]
OIL_CHANGE_IN = {"en": "Oil and filter change", "ru": "Замена масла и фильтра", "kk": "Май мен сүзгіні ауыстыру",
                 "sw": "Kubadilisha oili na chujio"}  # fmt: skip


def oil_change_of(shop) -> int:
    return (ATYRAU_IDS if shop is ATYRAU else NAIROBI_IDS)["oil-change"]


@pytest.mark.parametrize("shop, lang, typed, start", WHAT_AND_WHEN)
def test_a_service_and_a_time_typed_at_the_menu_book_that_service_at_that_time(shop, lang, typed, start):
    chat = chat_in(lang, FakeContext(shop=shop).with_vehicle()).type(typed)
    assert (chat.state, chat.data["services"]) == ("services", [oil_change_of(shop)])
    assert chat.text == added(lang, OIL_CHANGE_IN[lang])  # anything else? asked, as for the service alone

    chat.tap("done").tap("veh:3")

    assert (chat.state, chat.data["start"]) == ("summary", start.isoformat())
    assert chat.text.startswith(gettext(lang, "Please check your booking:"))


@pytest.mark.parametrize("shop, lang, typed, start", WHAT_AND_WHEN)
def test_a_service_and_a_time_typed_at_the_services_question_book_that_time_too(shop, lang, typed, start):
    chat = chat_in(lang, FakeContext(shop=shop)).tap("m:book").type(typed)
    assert (chat.state, chat.data["services"]) == ("services", [oil_change_of(shop)])

    chat.tap("done").type("KCB 123A").tap("skip").outcome(Done("vehicle", {"vehicle_id": 3, "plate": "KCB 123A"}))

    assert (chat.state, chat.data["start"]) == ("summary", start.isoformat())
    assert chat.text.startswith(gettext(lang, "Saved {plate}.", plate="KCB 123A") + "\n"
                                + gettext(lang, "Please check your booking:"))  # fmt: skip


@pytest.mark.parametrize("shop, lang, typed", [
    (NAIROBI, "en", "oil change tomorrow 9am"), (ATYRAU, "ru", "замена масла завтра в 9"),
    (ATYRAU, "kk", "май ауыстыру ертең сағат 9-да"), (NAIROBI, "sw", "kubadilisha oili kesho saa tatu asubuhi"),
])  # fmt: skip
def test_a_time_named_with_a_service_that_is_not_free_shows_the_free_times_of_that_day(shop, lang, typed):
    chat = chat_in(lang, FakeContext(shop=shop).with_vehicle()).type(typed).tap("done").tap("veh:3")
    assert (chat.state, chat.data["day"], chat.data["services"]) == ("time", "2026-11-24", [oil_change_of(shop)])
    assert chat.text.splitlines()[0] == gettext(lang, "{time} is not free that day.", time="09:00")
    assert chat.ids == [f"time:{at(24, h).isoformat()}" for h in (10, 11, 14, 15)] + ["back"]


def test_a_day_named_with_a_service_when_the_shop_is_closed_asks_for_another_day():
    chat = chat_in("ru", FakeContext(shop=ATYRAU).with_vehicle()).type("замена масла в воскресенье в 10")
    chat.tap("done").tap("veh:3")
    assert (chat.state, chat.data["services"]) == ("day", [ATYRAU_IDS["oil-change"]])
    assert chat.text.splitlines()[0] == gettext("ru", "We are closed on {day}.", day="вс 29 нояб.")


def test_a_first_message_naming_a_service_and_a_time_books_both_once_the_language_is_chosen():
    chat = Chat(FakeContext(shop=ATYRAU, language_hint=None).with_vehicle()).type("Здравствуйте, замена масла завтра в 10")
    assert chat.state == "start"

    chat.tap("lang:ru")
    assert (chat.state, chat.data["services"]) == ("services", [ATYRAU_IDS["oil-change"]])
    chat.tap("done").tap("veh:3")

    assert (chat.state, chat.data["start"]) == ("summary", at(24, 10).isoformat())


@pytest.mark.parametrize("shop, lang, typed", [
    (NAIROBI, "en", "brake pads oil change tomorrow 10am"),  # two names run together: which?
    (NAIROBI, "sw", "kubadilisha breki kesho saa nne"),  # pads or discs
    (ATYRAU, "ru", "отменить запись на замену масла завтра в 10"),  # no booking asked for
])  # fmt: skip
def test_a_time_with_words_that_name_no_one_service_books_no_service(shop, lang, typed):
    """As before: the time is kept and the service asked, never one guessed."""
    chat = at_the_menu_of(shop, lang).type(typed)
    assert (chat.state, chat.data["services"], chat.data["wanted"]) == ("services", [], typed)


@pytest.mark.parametrize("lang, typed", [("ru", "замена масла 10"), ("en", "oil change, how much"),
                                         ("en", "oil change not tomorrow")])  # fmt: skip
def test_a_service_with_words_that_are_not_a_time_is_still_not_understood(lang, typed):
    chat = at_the_menu_of(NAIROBI if lang == "en" else ATYRAU, lang).type(typed)
    assert "services" not in chat.data and chat.text == not_understood_at_the_menu(lang)


def test_a_service_and_a_time_named_in_reply_to_the_shops_answer_go_to_the_shop():
    """Names alone, within two hours of the shop's answer, are talk with the shop: a time
    with them too ("can you do it tomorrow at 10?")."""
    chat = shop_answered_a_minute_ago("ru").type("замена масла завтра в 10")
    assert chat.commands[-1] == MessageShop("замена масла завтра в 10")
    assert chat.state == "menu" and "services" not in chat.data


def test_asking_to_book_a_service_and_a_time_after_the_shops_answer_books_both():
    chat = shop_answered_a_minute_ago("ru").type("записаться на замену масла завтра в 10")
    assert (chat.state, chat.data["services"], chat.data["wanted"]) == ("services", [1], "завтра в 10")
    assert not [c for c in chat.commands if isinstance(c, MessageShop)]


# -- a service's own words, a greeting, a span of time: none of them the time wanted ------------

FRIDAY_MORNING = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # Friday 09:00 in Nairobi
EARLY_MAY = datetime(2027, 5, 3, 6, 0, tzinfo=UTC)  # Monday 3 May 2027, 09:00


def to_the_summary(chat: Chat) -> Chat:
    """"That's all" and their car: the time kept is then offered at the summary."""
    return chat.tap("done").tap("veh:3")


def test_four_tyres_at_ten_on_a_friday_are_booked_for_that_friday_not_tuesday():
    """Nairobi's "Kubadilisha matairi (manne)": "manne" (four) is no typo for Jumanne."""
    chat = chat_in("sw", FakeContext(shop=NAIROBI, now=FRIDAY_MORNING).with_vehicle())
    chat.type("kubadilisha matairi manne saa nne")
    assert chat.data["services"] == [NAIROBI_IDS["tyre-change"]]
    to_the_summary(chat)
    assert (chat.state, chat.data["day"], chat.data["start"]) == ("summary", "2026-11-27", at(27, 10).isoformat())


def test_four_tyres_tomorrow_are_understood():
    chat = chat_in("sw", FakeContext(shop=NAIROBI, now=FRIDAY_MORNING).with_vehicle())
    chat.type("nataka kubadilisha matairi manne kesho")
    assert (chat.state, chat.data["services"], chat.data["wanted"]) == ("services", [NAIROBI_IDS["tyre-change"]],
                                                                        "kesho")  # fmt: skip


@pytest.mark.parametrize("typed, service, start", [
    ("сағат 15 май ауыстыру", "oil-change", datetime(2027, 5, 3, 12, 0, tzinfo=UTC)),  # not 15 May
    ("сағат 10 маусымдық шина ауыстыру", "tyre-change", datetime(2027, 5, 3, 7, 0, tzinfo=UTC)),  # not 10 June
    ("ертең сағат 10 май ауыстыру", "oil-change", datetime(2027, 5, 4, 7, 0, tzinfo=UTC)),
])  # fmt: skip
def test_a_kazakh_service_named_with_a_word_for_a_month_keeps_the_time_said(typed, service, start):
    """Atyrau's "Май мен сүзгіні ауыстыру" (май: oil, and May) and "Маусымдық шина
    ауыстыру" (seasonal; маусым: June), typed in May."""
    chat = chat_in("kk", FakeContext(shop=ATYRAU, now=EARLY_MAY).with_vehicle()).type(typed)
    assert chat.data["services"] == [ATYRAU_IDS[service]]
    to_the_summary(chat)
    assert (chat.state, chat.data["start"]) == ("summary", start.isoformat())


@pytest.mark.parametrize("lang, typed", [
    ("en", "Good afternoon, I need an oil change tomorrow at 10"),  # not 22:00
    ("en", "good morning, oil change tomorrow at 10am"),
    ("en", "Good evening, oil change tomorrow 10am"),
    ("sw", "Habari za mchana, nataka kubadilisha oili kesho saa nne"),
    ("sw", "Habari za jioni, kubadilisha oili kesho saa nne"),  # not saa nne usiku
])  # fmt: skip
def test_a_greeting_naming_a_part_of_the_day_neither_sets_the_time_nor_unreads_the_request(lang, typed):
    chat = chat_in(lang, FakeContext(shop=NAIROBI).with_vehicle()).type(typed)
    assert chat.data["services"] == [NAIROBI_IDS["oil-change"]]
    to_the_summary(chat)
    assert (chat.state, chat.data["start"]) == ("summary", at(24, 10).isoformat())


def test_good_morning_and_a_time_alone_at_the_menu_keep_that_time_in_the_afternoon():
    """"at 3" is 15:00, as without the greeting (it was 03:00)."""
    chat = chat_in("en", FakeContext(shop=NAIROBI).with_vehicle()).type("Good morning, tomorrow at 3")
    assert chat.state == "services"
    chat.tap(f"svc:{NAIROBI_IDS['oil-change']}")
    to_the_summary(chat)
    assert (chat.state, chat.data["start"]) == ("summary", at(24, 15).isoformat())


@pytest.mark.parametrize("lang, typed", [("sw", "nataka huduma kesho saa nne"), ("sw", "nahitaji huduma"),
                                         ("en", "I need a service")])  # fmt: skip
def test_a_word_for_any_service_books_no_full_service(lang, typed):
    """"huduma" is Swahili for "service": not Nairobi's "Huduma kamili", Ksh 15,000 with a deposit."""
    chat = at_the_menu_of(NAIROBI, lang).type(typed)
    assert not chat.data.get("services")


@pytest.mark.parametrize("typed", ["oil change in 2 hrs", "in 2 hrs", "2 hrs from now"])
def test_a_time_from_now_is_not_understood_rather_than_kept_as_an_hour(typed):
    """At 09:00 "in 2 hrs" was kept as 14:00."""
    chat = at_the_menu_of(NAIROBI, "en").type(typed)
    assert "wanted" not in chat.data and chat.text == not_understood_at_the_menu("en")


@pytest.mark.parametrize("shop, lang, typed", [
    (NAIROBI, "en", "oil change tomorrow 10"),
    (ATYRAU, "ru", "замена масла на завтра на 10"),
    (ATYRAU, "ru", "запишите на замену масла на завтра на 10"),
    (NAIROBI, "en", "I need an oil change for my car tomorrow at 10"),
    (NAIROBI, "sw", "nataka kubadilisha oili ya gari langu kesho saa nne"),
])  # fmt: skip
def test_a_service_and_a_time_said_plainly_book_both(shop, lang, typed):
    chat = chat_in(lang, FakeContext(shop=shop).with_vehicle()).type(typed)
    assert chat.data["services"] == [oil_change_of(shop)]
    to_the_summary(chat)
    assert (chat.state, chat.data["start"]) == ("summary", at(24, 10).isoformat())


@pytest.mark.parametrize("shop, lang, typed", [(NAIROBI, "en", "I need an oil change for my car"),
                                               (ATYRAU, "ru", "хочу поменять масло в машине"),
                                               (ATYRAU, "kk", "көлігіме май ауыстыру")])  # fmt: skip
def test_a_service_asked_for_the_customers_car_is_booked(shop, lang, typed):
    chat = at_the_menu_of(shop, lang).type(typed)
    assert (chat.state, chat.data["services"]) == ("services", [oil_change_of(shop)])
    assert chat.text == added(lang, OIL_CHANGE_IN[lang])


@pytest.mark.parametrize("shop, lang, typed", [
    (NAIROBI, "en", "my car's oil change booking"),
    (NAIROBI, "en", "my car oil change booking"),
    (ATYRAU, "ru", "запись моей машины на замену масла"),
])  # fmt: skip
def test_words_about_a_booking_made_for_my_car_start_no_new_booking(shop, lang, typed):
    """"my oil change booking" books nothing; with the car named ("my car's") it was a new oil change."""
    chat = at_the_menu_of(shop, lang).type(typed)
    assert not chat.data.get("services"), (chat.state, chat.text)


@pytest.mark.parametrize("lang, typed", [("en", "Hi, 2"), ("en", "Hello 2 please"), ("sw", "Habari, 2"),
                                         ("ru", "Привет, 2")])  # fmt: skip
def test_a_greeting_and_a_list_number_at_the_menu_keep_no_time(lang, typed):
    """"Hi, 2" began a booking with 14:00 kept (08:00 for "Habari, 2"); it is asked again, as before."""
    chat = chat_in(lang).type(typed)
    assert chat.state != "services" and "wanted" not in chat.data, (chat.state, chat.data, chat.text)


@pytest.mark.parametrize("typed, hour", [
    ("Morning! I need an oil change tomorrow at 3", 15),  # was 03:00
    ("Afternoon, I need an oil change tomorrow at 10", 10),  # was 22:00
])  # fmt: skip
def test_a_part_of_the_day_alone_as_a_greeting_neither_sets_the_time_nor_unreads_the_request(typed, hour):
    chat = chat_in("en", FakeContext(shop=NAIROBI).with_vehicle()).type(typed)
    assert chat.data["services"] == [NAIROBI_IDS["oil-change"]]
    to_the_summary(chat)
    assert (chat.state, chat.data["start"]) == ("summary", at(24, hour).isoformat())


@pytest.mark.parametrize("typed", ["ndani ya saa mbili", "kubadilisha oili ndani ya saa mbili"])
def test_within_two_hours_in_swahili_is_not_understood_rather_than_kept_as_eight(typed):
    """At 09:00 "ndani ya saa mbili" (within two hours) was kept as saa mbili, 08:00."""
    chat = at_the_menu_of(NAIROBI, "sw").type(typed)
    assert "wanted" not in chat.data and chat.text == not_understood_at_the_menu("sw")


@pytest.mark.parametrize("lang, typed", [("sw", "kubadilisha matairi matatu"), ("sw", "kubadilisha matairi mawili kesho"),
                                         ("en", "change 3 tyres"), ("ru", "замена трёх шин")])  # fmt: skip
def test_a_number_of_tyres_other_than_the_shops_set_books_no_tyre_change(lang, typed):
    """"matatu" (three) once passed for a typo of "matairi" (tyres): the set of four was booked."""
    shop = NAIROBI if lang in ("sw", "en") else ATYRAU
    chat = chat_in(lang, FakeContext(shop=shop)).type(typed)
    assert not chat.data.get("services")


def test_the_shops_own_number_of_tyres_books_the_tyre_change():
    chat = chat_in("sw", FakeContext(shop=NAIROBI)).type("kubadilisha matairi manne")
    assert chat.data["services"] == [NAIROBI_IDS["tyre-change"]]


def test_my_car_needing_an_oil_change_is_a_request_and_my_cars_booking_is_not():
    """"my" speaks of a booking made only beside a word for a booking."""
    needs = chat_in("en", FakeContext(shop=NAIROBI)).type("My car needs an oil change")
    assert needs.data["services"] == [NAIROBI_IDS["oil-change"]]
    made = chat_in("en", FakeContext(shop=NAIROBI)).type("my car's oil change booking")
    assert "services" not in made.data


def test_a_rating_waiting_under_a_freed_time_is_asked_again_once_the_time_is_let_go():
    """The offer's answer went straight to the menu: the rating under it was dropped, and
    on WhatsApp its numbers taken by the menu's."""
    chat = chat_in("en", FakeContext(my_bookings=[held_offer(0)]).with_vehicle())
    rate = {"reply": Reply((Msg("How was your visit?"),), (Choice("rate:5:5", "5"),)).to_json(),
            "offered": [["rate:5:5", ["5", "1"]]], "outbox_id": 12}  # fmt: skip
    offer = [["offer:yes:9", ["Yes", "1"]], ["offer:no:9", ["No", "2"]]]
    chat.data |= {"notice": {"reply": {}, "offered": offer, "outbox_id": 13}, "offered": offer,
                  "notices_waiting": [rate]}  # fmt: skip
    chat.tap("offer:no:9").outcome(Done("cancel", {"code": "MM-1009", "token_cost": 0, "tokens_left": 2}))
    assert chat.text == "OK, I have let the time go.\nOne more question is waiting for your answer:\nHow was your visit?"
    assert chat.ids == ["rate:5:5"]


def test_an_album_as_a_first_message_is_greeted_then_told_once_its_photos_reached_nobody():
    chat = Chat(FakeContext())
    said = []
    for n in (1, 2, 3):
        chat.send(album_photo("555", "How much to fix this dent?" if n == 1 else "", n))
        said.append(chat.text)

    assert not [c for c in chat.commands if isinstance(c, MessageShop)]
    assert ["This photo was not sent to anyone" in text for text in said] == [False, True, False]
    assert said[2] == ""  # the rest of the album: said once


def arrives_over_her_number_question(chat, notice: dict) -> None:
    """A notice written while her number is asked (core.notices.remember_choices)."""
    chat.data |= {"notice": {**notice, "before": chat.data.get("offered")}, "offered": notice["offered"]}


@pytest.mark.parametrize("notice", [EXTRA_FOUND, PAY_NOW], ids=["extra work", "pay now"])
@pytest.mark.parametrize(("button", "why"), [("offer:yes:9", "Sorry, that time is no longer held for you."),
                                             ("offer:no:9", "That offer is no longer open.")])  # fmt: skip
def test_a_notice_come_over_a_freed_times_number_question_is_asked_again_when_that_times_button_is_refused(
        notice, button, why):  # fmt: skip
    """She says Yes to a freed time (a deposit by M-Pesa) and is asked her number; while she
    looks for it, extra work (or her balance to pay) is asked. The hold runs out, and she
    taps the freed time's button again: refused. The question open when she tapped is
    asked again after why; it was dropped for the menu, its numbers then the menu's."""
    from bot.model import Refused
    from core.messages import Reply, render_reply

    chat = chat_in("en", FakeContext(my_bookings=[held_offer(100000)]))
    chat.tap("offer:yes:9")
    assert (chat.state, chat.text) == ("phone", PHONE_PLEASE)
    arrives_over_her_number_question(chat, notice)
    chat.ctx.my_bookings.clear()  # the hold ran out

    chat.tap(button)
    chat.outcome(Refused(why))

    question = render_reply(Reply.from_json(notice["reply"]), "en")[0]
    assert chat.text == f"{why}\nOne more question is waiting for your answer:\n{question}"
    assert chat.ids == [c for c, _ in notice["offered"]]


def test_m_pesa_from_another_number_for_a_time_no_longer_held_asks_no_number_and_keeps_the_extra_work():
    """Extra work is asked; she taps "M-Pesa from another number" under an old failed
    payment whose time is no longer held: no "Which number...?" for a payment that can
    never go (Try again alone went at once already): refused, the extra work asked again."""
    from bot.model import Refused, RetryPayment

    chat = chat_in("en", FakeContext(my_bookings=[]))
    chat.data |= {"notice": dict(EXTRA_FOUND), "offered": EXTRA_FOUND["offered"]}

    chat.tap("payagain:9:mpesa:other")
    assert chat.commands[-1] == RetryPayment(9, "mpesa", None)
    chat.outcome(Refused("Sorry, that time is no longer held for you."))

    assert (chat.state, chat.text) == ("menu", "Sorry, that time is no longer held for you.\nExtra work found: discs.")
    assert chat.ids == [c for c, _ in EXTRA_FOUND["offered"]]
