"""Booking a visit: services → vehicle → day → time → summary → payment → held.

Rescheduling reuses the day and time steps with data["mode"] = "reschedule".
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import understand
from bot.engine import (
    MENU_WORDS,
    PHONE_STEP,
    Turn,
    drop_set_aside,
    follow_choice,
    not_understood,
    notice_open,
    questions_set_aside,
    resumed,
    set_aside,
    state,
)
from bot.model import (
    Booked,
    Done,
    Event,
    Hold,
    JoinWaitlist,
    Refused,
    Reschedule,
    SavePhone,
    SaveVehicle,
    Taken,
)
from bot.speech import STALE
from core import i18n, mpesa, policy
from core import messages as m
from core.customers import normalise_phone
from core.i18n import N_, NP_
from core.lifecycle import BookingStatus
from core.messages import Choice, Msg
from core.notices import promote_waiting
from core.payments import PAY_WORDS

DAYS_SHOWN = 7
PAY_LABELS = {"mpesa": N_("M-Pesa"), "kaspi": N_("Kaspi"), "cash": N_("Pay at the shop")}
DONE_WORDS = ["done", "that's all", "continue", "next", "готово", "всё", "все", "дальше", "далее", "болды",
              "келесі", "жалғастыру", "tayari", "basi", "endelea", "imetosha"]  # fmt: skip


def services_of(turn: Turn, ids: tuple[int, ...] = ()):
    by_id = {s.id: s for s in turn.ctx.shop.services}
    return [by_id[i] for i in ids or turn.data.get("services", []) if i in by_id]


def service_list(turn: Turn, ids: tuple[int, ...] = ()) -> dict:
    """The chosen services' names (or those of `ids`), in the reader's language."""
    return m.join([m.names(s.names) for s in services_of(turn, ids)])


def when_of(turn: Turn, at: datetime) -> dict:
    return m.when(at, turn.ctx.shop.timezone)


# -- services -----------------------------------------------------------------------------


def prompt_services(turn: Turn, before: list[Msg]) -> None:
    shop, chosen = turn.ctx.shop, set(turn.data.get("services", []))
    choices, aliases = [], {}
    for s in shop.services:
        if s.id in chosen:
            continue
        label = Msg(N_("{name} · {minutes} min · {price}"),
                    {"name": m.names(s.names), "minutes": s.duration_minutes, "price": m.money(s.price_minor, shop.currency)})  # fmt: skip
        choices.append(Choice(f"svc:{s.id}", label))
        aliases[f"svc:{s.id}"] = list(s.names.values())
    if chosen:
        texts = [Msg(N_("Added: {services}."), {"services": service_list(turn)}),
                 Msg(N_("Anything else? Choose another service, or continue."))]  # fmt: skip
        choices.insert(0, Choice("done", Msg(N_("That's all, continue"))))
        aliases["done"] = DONE_WORDS
    else:
        texts = [Msg(N_("Which service do you need? You can choose several."))]
    turn.offer(before + texts, choices, aliases)


def handle_services(turn: Turn, event: Event, choice: str | None) -> None:
    picked, requested = [choice] if choice else [], None
    if not picked and event.kind == "text":
        picked = understand.pick_choices(event.text, turn.data.get("offered", [])) or []
        requested = None if picked else services_requested(turn, event.text)  # "book an oil change" here too
        picked = requested.picked if requested else picked
        if not picked and turn.data.get("services") and understand.parse_yes_no(event.text) is False:
            picked = ["done"]
    if picked == ["done"]:
        turn.ask("vehicle" if turn.ctx.vehicles else "plate")
        return
    ids = [int(p[4:]) for p in picked if p.startswith("svc:")]
    if not ids:
        not_understood(turn, Msg(N_("Type the number or the name of a service.")))
        return
    if requested and requested.wanted:  # "oil change tomorrow 10am": the time too
        keep_wanted(turn, requested.wanted)
    add_services(turn, ids)


def add_services(turn: Turn, ids: list[int], *before: Msg) -> None:
    """Services chosen here, or named in one message at the menu ("записаться на замену
    масла"): the step's next question, "anything else?" while some are left."""
    turn.data["services"] = list(dict.fromkeys(turn.data.get("services", []) + ids))
    if len(turn.data["services"]) == len(turn.ctx.shop.services):
        turn.ask("vehicle" if turn.ctx.vehicles else "plate", *before)
    else:
        turn.ask("services", *before)


def services_requested(turn: Turn, text: str) -> understand.Request | None:
    """The shop's services one message asks for, by any of their names, with the menu's
    words for booking around them ("book an oil change", "май ауыстыруға жазылу"), and
    the day and time said first or last with them ("oil change tomorrow 10am")."""
    names = [(f"svc:{s.id}", list(s.names.values())) for s in turn.ctx.shop.services]
    return understand.pick_requested_when(text, names, MENU_WORDS["m:book"], turn.ctx.today(), turn.lang)


def keep_wanted(turn: Turn, wanted: str, typed_on: date | None = None) -> None:
    """The day and time the customer typed (on `typed_on`, today if not said) before the
    day is asked: it is read then, as of that day, and offered if free."""
    turn.data["wanted"], turn.data["wanted_on"] = wanted, (typed_on or turn.ctx.today()).isoformat()


state("services")((prompt_services, handle_services))


# -- vehicle ------------------------------------------------------------------------------


def prompt_vehicle(turn: Turn, before: list[Msg]) -> None:
    choices = [Choice(f"veh:{v.id}", f"{v.plate}" + (f" · {v.make_model}" if v.make_model else ""))
               for v in turn.ctx.vehicles]  # fmt: skip
    choices.append(Choice("veh:new", Msg(N_("Another vehicle"))))
    turn.offer(before + [Msg(N_("Which vehicle is it for?"))], choices,
               {f"veh:{v.id}": [v.plate] for v in turn.ctx.vehicles})  # fmt: skip


def handle_vehicle(turn: Turn, event: Event, choice: str | None) -> None:
    typed_plate = event.kind == "text" and not understand.is_position(event.text)  # "№1" is the list's first
    plate = understand.plate_key(event.text) if typed_plate else None
    if plate is not None:  # a typed plate is taken exactly: one character off is another car
        saved = next((v for v in turn.ctx.vehicles if understand.plate_key(v.plate) == plate), None)
        choice = f"veh:{saved.id}" if saved else "veh:typed"
    if choice == "veh:typed":
        handle_plate(turn, event, None)
    elif choice == "veh:new":
        turn.ask("plate")
    elif (vehicle := _own_vehicle(turn, choice)) is not None:  # never another customer's, by a forged button
        turn.data["vehicle_id"] = vehicle
        turn.ask("day")
    else:
        not_understood(turn, Msg(N_("Choose a vehicle from the list, or type a new plate.")))


def _own_vehicle(turn: Turn, choice: str | None) -> int | None:
    """The id a "veh:<id>" choice names, if it is one of the customer's vehicles."""
    ids = {f"veh:{v.id}": v.id for v in turn.ctx.vehicles}
    return ids.get(choice or "")


state("vehicle", back="services")((prompt_vehicle, handle_vehicle))


def prompt_plate(turn: Turn, before: list[Msg]) -> None:
    example = "KCB 123A" if turn.ctx.shop.country == "KE" else "123 ABC 06"
    turn.offer(before + [Msg(N_("Type the registration plate of the vehicle, for example {example}."),
                             {"example": example})], [Choice("back", Msg(N_("Back")))])  # fmt: skip


def handle_plate(turn: Turn, event: Event, choice: str | None) -> None:
    plate = understand.normalise_plate(event.text) if event.kind == "text" else None
    if plate is None:
        not_understood(turn, Msg(N_("A plate has letters and digits, like the one on your car.")))
        return
    turn.data["plate"] = plate
    turn.ask("make")


state("plate", back="services")((prompt_plate, handle_plate))


def prompt_make(turn: Turn, before: list[Msg]) -> None:
    turn.offer(before + [Msg(N_("Make and model, for example Toyota Probox? Or skip."))],
               [Choice("skip", Msg(N_("Skip")))])  # fmt: skip


def handle_make(turn: Turn, event: Event, choice: str | None) -> None:
    if event.kind == "outcome":
        if isinstance(event.outcome, Done):
            turn.data["vehicle_id"] = event.outcome.detail["vehicle_id"]
            turn.data.pop("plate", None)
            turn.ask("day", Msg(N_("Saved {plate}."), {"plate": event.outcome.detail["plate"]}))
        else:
            turn.ask("plate", Msg(N_("Sorry, I could not save that vehicle.")))
        return
    text = event.text.strip()[:60] if event.kind == "text" else ""
    make = None if choice == "skip" or not text or understand.parse_yes_no(text) is False else text
    turn.do(SaveVehicle(turn.data["plate"], make))


state("make", back="plate")((prompt_make, handle_make))


# -- day and time -------------------------------------------------------------------------


def _horizon(turn: Turn) -> tuple[date, date]:
    today = turn.ctx.today()
    return today, today + timedelta(days=turn.ctx.shop.horizon_days)


def _service_ids(turn: Turn) -> tuple[int, ...]:
    return tuple(turn.data.get("services", []))


def prompt_day(turn: Turn, before: list[Msg]) -> None:
    wanted = turn.data.pop("wanted", None)
    typed_on = date.fromisoformat(turn.data.pop("wanted_on", None) or turn.ctx.today().isoformat())
    when = understand.parse_when(wanted, typed_on, turn.lang) if wanted else None
    if when:  # the day (and time) typed at the menu, before the services were chosen: read as of that day
        if before:
            turn.say(*before)
        _typed_day(turn, when, typed_on)
        return
    first, last = _horizon(turn)
    days = turn.ctx.free_days(_service_ids(turn), first, last, _moving(turn))
    own = _own_start(turn)
    if own is not None:  # the day of the booking being moved, free only at its own time, is no day to move to
        own_day = own.astimezone(_zone(turn.ctx.shop.timezone)).date()
        days = [d for d in days if d != own_day or _free_times(turn, d, own)]
    if not days:
        turn.offer(before + [Msg(N_("Sorry, there is no free time in the next {n} days."),
                                 {"n": turn.ctx.shop.horizon_days})],
                   [Choice("back", Msg(N_("Back"))), Choice("menu", Msg(N_("Main menu")))])  # fmt: skip
        return
    tz, lang = turn.ctx.shop.timezone, turn.lang
    choices = [Choice(f"day:{d.isoformat()}", _day_label(d, tz, lang)) for d in days[:DAYS_SHOWN]]
    turn.offer(before + [Msg(N_("Which day suits you? Choose one, or type a date like \"Friday\" or \"25.12\"."))],
               choices)  # fmt: skip


def _day_label(d: date, tz: str, lang: str) -> str:
    return i18n.day(datetime(d.year, d.month, d.day, 12, tzinfo=_zone(tz)), tz, lang)


def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def handle_day(turn: Turn, event: Event, choice: str | None) -> None:
    if choice == "menu":
        turn.ask("menu")
        return
    if choice and choice.startswith("day:"):  # tapped: checked as a typed day is (closed since, today gone)
        _typed_day(turn, understand.When(date.fromisoformat(choice[4:]), None), turn.ctx.today())
        return
    when = understand.parse_when(event.text, turn.ctx.today(), turn.lang) if event.kind == "text" else None
    if when is None or when.day is None and when.time is None or understand.is_position(event.text):
        # "9" here is a place in the list that is not there (or in an older list), never nine o'clock today
        not_understood(turn, Msg(N_("Choose a day from the list, or type a date.")))
        return
    _typed_day(turn, when, turn.ctx.today())


def _typed_day(turn: Turn, when: understand.When, today: date) -> None:
    """A day (and maybe a time) the customer typed or tapped on `today`: its free times,
    or why not."""
    day = when.day or today
    first, last = _horizon(turn)
    if not first <= day <= last:
        turn.ask("day", Msg(N_("I can book from today up to {n} days ahead."), {"n": turn.ctx.shop.horizon_days}))
        return
    times = _free_times(turn, day)
    if not times:
        if not turn.ctx.is_open(day):
            turn.ask("day", Msg(N_("We are closed on {day}."), {"day": _day_label(day, turn.ctx.shop.timezone, turn.lang)}))
        elif day == turn.ctx.today():  # a wait for a slot freed today would end when the day does
            turn.ask("day", Msg(N_("There is no free time left today.")))
        elif _moving(turn):  # the booking keeps its time: nothing to wait for
            turn.ask("day", _no_other_time(turn, day))
        else:  # open, and full
            turn.data["day"] = day.isoformat()
            turn.ask("waitlist")
        return
    turn.data["day"] = day.isoformat()
    if when.time is not None:
        wanted = _match_time(turn, times, when.time)
        if wanted is not None:
            _chose_time(turn, wanted)
            return
        turn.ask("time", Msg(N_("{time} is not free that day.") , {"time": when.time.strftime("%H:%M")}))
        return
    turn.ask("time")


def _back_from_day(turn: Turn) -> str:
    """Back to the services, or, while moving a booking (whose services stay), to its card."""
    return "booking" if turn.data.get("mode") == "reschedule" else "services"


state("day", back=_back_from_day)((prompt_day, handle_day))


def _match_time(turn: Turn, times: list[datetime], wanted) -> datetime | None:
    tz = _zone(turn.ctx.shop.timezone)
    return next((t for t in times if t.astimezone(tz).time().replace(second=0) == wanted), None)


def prompt_time(turn: Turn, before: list[Msg]) -> None:
    if no_time_chosen(turn, before, "day"):
        return
    day = date.fromisoformat(turn.data["day"])
    alternatives = turn.data.pop("alternatives", None)
    times = [datetime.fromisoformat(t) for t in alternatives] if alternatives else \
        _free_times(turn, day)  # fmt: skip
    if not times and _moving(turn):
        turn.ask("day", *before, _no_other_time(turn, day))
        return
    if not times:
        turn.ask("waitlist", *before)
        return
    tz, lang = turn.ctx.shop.timezone, turn.lang
    choices = [Choice(f"time:{t.isoformat()}", i18n.clock(t, tz, lang)) for t in times]
    choices.append(Choice("back", Msg(N_("Another day"))))
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=_zone(tz))
    turn.offer(before + [Msg(N_("Free times on {day}:"), {"day": m.day(noon, tz)})], choices)


def handle_time(turn: Turn, event: Event, choice: str | None) -> None:
    when = understand.parse_when(event.text, turn.ctx.today(), turn.lang) if event.kind == "text" else None
    typed_time = when is not None and when.time is not None and not understand.is_position(event.text)
    if choice and choice.startswith("time:") and not typed_time:  # "4:30" is read as a time, never as "14:30" is
        picked = datetime.fromisoformat(choice[5:])
        hour = _hour_typed(turn, event, when)
        if hour is not None and hour != picked:  # "10": the 10th button, or 10:00? (Telegram's buttons show no numbers)
            turn.data["alternatives"] = [t.isoformat() for t in sorted((picked, hour))]
            turn.ask("time", Msg(N_("Which of these did you mean?")))
            return
        _chose_time(turn, picked)
        return
    if when is not None and when.day is not None and when.day.isoformat() != turn.data["day"]:
        handle_day(turn, event, None)  # a different day typed: start from that day
        return
    if when is not None and when.time is not None:
        day = date.fromisoformat(turn.data["day"])
        wanted = _match_time(turn, _free_times(turn, day), when.time)
        if wanted is not None:
            _chose_time(turn, wanted)
            return
        turn.ask("time", Msg(N_("{time} is not free that day."), {"time": when.time.strftime("%H:%M")}))
        return
    not_understood(turn, Msg(N_("Choose a time from the list, or type one like 10:30.")))


def _hour_typed(turn: Turn, event: Event, when) -> datetime | None:
    """The free time a bare number typed at the time step names as an hour ("10" is also
    10:00), if it does; None when it can only be a place in the list."""
    if turn.ctx.numbered or event.kind != "text" or when is None or when.time is None or when.day is not None:
        return None  # where the list shows its numbers, a number is a place in it
    return _match_time(turn, _free_times(turn, date.fromisoformat(turn.data["day"])), when.time)


def _free_times(turn: Turn, day: date, own: datetime | None = None) -> list[datetime]:
    """The times the customer can choose that day; when moving a booking, its own time
    (`own`, looked up when not given) counts as free for the others, but is not one to
    move to."""
    own = own or _own_start(turn)
    return [t for t in turn.ctx.free_times(_service_ids(turn), day, _moving(turn)) if t != own]


def _own_start(turn: Turn) -> datetime | None:
    """When the booking being moved starts now, if it holds that time (None when no
    booking is being moved, or one the shop could not keep: its own time, free again,
    is a time to move back to)."""
    moving = _moving(turn)
    b = _mine(turn, moving) if moving else None
    return b.start if b and b.status != "needs_reschedule" else None


def _mine(turn: Turn, booking_id: int):
    """One of the customer's upcoming bookings, by id (None if it is not theirs, or gone)."""
    return next((b for b in turn.ctx.bookings() if b.id == booking_id), None)


def _no_other_time(turn: Turn, day: date) -> Msg:
    return Msg(N_("There is no other free time on {day}."), {"day": _day_label(day, turn.ctx.shop.timezone, turn.lang)})


def _moving(turn: Turn) -> int | None:
    """The booking whose time is being changed, if that is what this dialogue does."""
    return turn.data.get("booking_id") if turn.data.get("mode") == "reschedule" else None


def _chose_time(turn: Turn, start: datetime) -> None:
    turn.data["start"] = start.isoformat()
    turn.ask("resched_confirm" if turn.data.get("mode") == "reschedule" else "summary")


state("time", back="day")((prompt_time, handle_time))


def prompt_waitlist(turn: Turn, before: list[Msg]) -> None:
    day = date.fromisoformat(turn.data["day"])
    turn.offer(before + [
        Msg(N_("{day} is fully booked."), {"day": _day_label(day, turn.ctx.shop.timezone, turn.lang)}),
        Msg(N_("Shall I put you on the waitlist? If a time frees up, I will offer it to you first.")),
    ], question_choices(turn, f"waitlist-{day}", ("yes", Msg(N_("Yes, put me on the waitlist"))),
                        ("no", Msg(N_("No, another day")))))  # fmt: skip


def handle_waitlist(turn: Turn, event: Event, choice: str | None) -> None:
    if event.kind == "outcome":
        day = date.fromisoformat(turn.data["day"])
        turn.ask("menu", Msg(N_("You are on the waitlist for {day}. I will write as soon as a time frees up."),
                             {"day": _day_label(day, turn.ctx.shop.timezone, turn.lang)}))  # fmt: skip
        return
    answer = answer_to(turn, event, choice)
    if answer == "stale":
        stale(turn)
    elif answer == "yes":
        turn.do(JoinWaitlist(date.fromisoformat(turn.data["day"]), _service_ids(turn), turn.data.get("vehicle_id")))
    elif answer == "no":
        turn.ask("day")
    else:
        not_understood(turn, Msg(N_("Please answer yes or no.")))


state("waitlist", back="day")((prompt_waitlist, handle_waitlist))


def _yes_no(event: Event) -> str | None:
    answer = understand.parse_yes_no(event.text) if event.kind == "text" else None
    return None if answer is None else ("yes" if answer else "no")


def question_choices(turn: Turn, about: str, *answers: tuple[str, Msg]) -> list[Choice]:
    """Answer buttons whose ids name the question ("yes:cancel-6"), so that a button left
    on an earlier question is not taken for an answer to this one (see `answer_to`)."""
    turn.data["asked"] = about
    return [Choice(f"{word}:{about}", label) for word, label in answers]


def answer_to(turn: Turn, event: Event, choice: str | None) -> str | None:
    """The answer to the question asked: "yes", "no" or "confirm", tapped or typed;
    "stale" for a button of an earlier question; None for anything else."""
    word, sep, about = (choice or "").partition(":")
    if word in ("yes", "no", "confirm"):
        return word if sep and about == turn.data.get("asked") else "stale"
    return _yes_no(event) if choice is None else None


def stale(turn: Turn) -> None:
    turn.ask(turn.state, Msg(STALE))


# -- summary and payment ------------------------------------------------------------------


def prompt_summary(turn: Turn, before: list[Msg]) -> None:
    if no_time_chosen(turn, before):
        return
    shop, customer = turn.ctx.shop, turn.ctx.customer
    services = services_of(turn)
    start = datetime.fromisoformat(turn.data["start"])
    total = sum(s.price_minor for s in services)
    deposit = policy.deposit_due([policy.PricedService(s.price_minor, s.deposit_minor) for s in services],
                                 customer.tokens, policy.major_unit(shop.currency))  # as the hold works it out
    texts = before + [
        Msg(N_("Please check your booking:")),
        Msg(N_("Services: {services}"), {"services": service_list(turn)}),
        Msg(N_("When: {when}"), {"when": when_of(turn, start)}),
        Msg(N_("Price: {price}"), {"price": m.money(total, shop.currency)}),
    ]
    if deposit:
        texts.append(Msg(N_("Paid in advance: {deposit}"), {"deposit": m.money(deposit, shop.currency)}))
    texts.append(Msg(N_("Free cancellation until {hours} hours before. Cancelling later, or not coming, "
                        "costs one of your monthly tokens."), {"hours": shop.late_window_hours}))  # fmt: skip
    if deposit:
        texts.append(Msg(N_("Cancel in time and the money paid in advance is refunded; later, or not coming, "
                            "and the shop keeps it.")))  # fmt: skip
    one, many = NP_("You have {n} token left this month.", "You have {n} tokens left this month.")
    texts.append(Msg(one, {"n": customer.tokens}, plural=many, n=customer.tokens))
    # the time and the services, hashed short: a button's id has 64 bytes
    visit = f"{start.astimezone(UTC):%Y%m%d%H%M}-{'.'.join(map(str, _service_ids(turn)))}"
    about = f"book-{hashlib.sha1(visit.encode()).hexdigest()[:10]}"
    turn.offer(texts, question_choices(turn, about, ("confirm", Msg(N_("Confirm")))) + [
        Choice("back", Msg(N_("Change the time"))), Choice("stop", Msg(N_("Cancel")))])  # fmt: skip


def handle_summary(turn: Turn, event: Event, choice: str | None) -> None:
    answer = answer_to(turn, event, choice)
    if answer == "stale":
        stale(turn)
    elif answer in ("confirm", "yes"):
        turn.ask("payment")
    elif answer == "no":
        turn.ask("time")
    else:
        not_understood(turn, Msg(N_("Choose Confirm to book, or Change the time.")))  # a tap, or its number


state("summary", back="time")((prompt_summary, handle_summary))


def no_time_chosen(turn: Turn, before: list[Msg], chosen: str = "start") -> bool:
    """A booking's summary or payment with no time chosen (or its times with no day: a
    question asked again without what it needs) is never shown nor paid: the day is asked
    (the services first, if none are chosen). True when it asked."""
    if turn.data.get(chosen):
        return False
    turn.ask("day" if turn.data.get("services") else "services", *before)
    return True


def methods(turn: Turn) -> list[str]:
    """Payment methods for this visit: paying at the shop is not offered when money is
    due in advance (a deposit, or no tokens left), unless it is the shop's only way."""
    prepay = turn.ctx.customer.tokens <= 0 or any(s.deposit_minor for s in services_of(turn))
    return policy.ways_to_pay(turn.ctx.shop.payment_methods, prepay)


def prompt_payment(turn: Turn, before: list[Msg]) -> None:
    if no_time_chosen(turn, before):
        return
    texts = list(before)
    ways = methods(turn)
    if turn.ctx.customer.tokens <= 0:
        texts.append(Msg(N_("You have no tokens left this month, so this booking is paid in advance.")))
    elif "cash" in ways and len(ways) > 1:  # paid online, the whole price is in advance: say what that means
        texts.append(Msg(N_("Paying online now pays the whole price in advance: cancel in time and it is refunded; "
                            "later, or not coming, and the shop keeps it.")))  # fmt: skip
    texts.append(Msg(N_("How would you like to pay?")))
    turn.offer(texts, [Choice(f"pay:{x}", Msg(PAY_LABELS[x])) for x in ways],
               {f"pay:{x}": PAY_WORDS.get(x, [x]) for x in ways})  # fmt: skip


def handle_payment(turn: Turn, event: Event, choice: str | None) -> None:
    if event.kind == "outcome":
        _after_hold(turn, event.outcome)
        return
    method = choice[4:] if choice and choice.startswith("pay:") else None
    if method not in methods(turn):
        not_understood(turn, Msg(N_("Choose how to pay from the list.")))
        return
    turn.data["method"] = method
    for key in PHONE_STEP:  # this booking's own payment, not a notification's
        turn.data.pop(key, None)
    if needs_phone(turn, method):
        turn.ask("phone")
        return
    _hold(turn)


def needs_phone(turn: Turn, method: str) -> bool:
    """M-Pesa prompts a phone: true when paying so needs a number we do not have yet, or
    have one M-Pesa cannot prompt (a landline, a number abroad: a WhatsApp number from
    Tanzania, say), which would only fail again and again."""
    return method == "mpesa" and not (mpesa.msisdn(turn.data.get("pay_from")) or mpesa.msisdn(turn.data.get("phone"))
                                      or mpesa.msisdn(turn.ctx.customer.phone))  # fmt: skip


def phone_first(turn: Turn, method: str, choice: str) -> bool:
    """Before a notification's payment by M-Pesa (a waitlist offer taken, a payment tried
    again, the balance paid) from a customer whose number we do not have: ask for it,
    and carry the choice out once it is given. Its notice is answered at the tap
    (remember_interrupted): one asked over it waits from now. True when it asked. Not
    for a freed time or a payment plainly no longer held for her (gone, booked, taken
    in): its command goes at once, to be refused, changing nothing. Her number asked for
    that payment before, set aside meanwhile (under the language, or words for the shop),
    is asked now: not kept to be asked again too (paying)."""
    if not needs_phone(turn, method) or _no_longer_held(turn, choice):
        return False
    remember_interrupted(turn, choice)
    paying(turn, choice)
    turn.data.pop("new_phone", None)  # their own number is asked for now, whatever was asked before
    turn.data["after_phone"] = choice
    turn.ask("phone")
    return True


def _no_longer_held(turn: Turn, choice: str) -> bool:
    """Whether a freed time's Yes or a Try again is for a booking of hers no longer held
    (or not hers at all): the domain will refuse it, whatever her number."""
    if not choice.startswith(("offer:", "payagain:")):
        return False
    booking = _mine(turn, paid_booking(choice) or 0)
    return booking is None or booking.status != BookingStatus.HELD


def _hold(turn: Turn, pay_from: str | None = None) -> None:
    if no_time_chosen(turn, []):
        return
    turn.state = "payment"
    turn.do(Hold(_service_ids(turn), datetime.fromisoformat(turn.data["start"]),
                 turn.data.get("vehicle_id"), turn.data["method"], pay_from))  # fmt: skip


def _after_hold(turn: Turn, outcome) -> None:
    shop = turn.ctx.shop
    if isinstance(outcome, Booked):
        said = booked(turn, outcome)  # of the services chosen, before they are forgotten
        turn.start_over()
        turn.ask("menu", *said)
    elif isinstance(outcome, Taken):
        apology = Msg(N_("Sorry, {time} is too soon now to be booked.") if outcome.too_soon else
                      N_("Sorry, {time} was taken by someone else a moment ago."),
                      {"time": m.clock(outcome.start, shop.timezone)})  # fmt: skip
        turn.data["day"] = outcome.start.astimezone(_zone(shop.timezone)).date().isoformat()
        if outcome.alternatives:
            turn.data["alternatives"] = [t.isoformat() for t in outcome.alternatives]
            turn.ask("time", apology, Msg(N_("Here are the nearest free times.")))
        else:
            turn.ask("day", apology)
    else:
        _refused(turn, outcome)


def booked(turn: Turn, outcome: Booked) -> list[Msg]:
    """What a booking held or confirmed is told: its code and time, and how to pay."""
    when = when_of(turn, outcome.start)
    if outcome.confirmed:
        return [Msg(N_("Booked! Your code is {code}."), {"code": outcome.code}),
                Msg(N_("{services}, {when}. Pay at the shop."),
                    {"services": service_list(turn, outcome.service_ids), "when": when})]  # fmt: skip
    return [Msg(N_("Your time {when} is held for {minutes} minutes while you pay. Code: {code}."),
                {"when": when, "minutes": outcome.hold_minutes, "code": outcome.code}),
            _pay_instruction(outcome, turn.ctx.shop.currency)]  # fmt: skip


def _pay_instruction(outcome: Booked, currency: str) -> Msg:
    amount = m.money(outcome.pay_minor, currency)
    if outcome.payment_method == "mpesa":
        return Msg(N_("Check your phone: M-Pesa will ask you to pay {amount}. Enter your PIN to confirm."),
                   {"amount": amount})  # fmt: skip
    if outcome.payment_link:
        return Msg(N_("Pay {amount} with Kaspi here: {link}"), {"amount": amount, "link": outcome.payment_link})
    return Msg(N_("The payment request of {amount} is on its way."), {"amount": amount})


def _refused(turn: Turn, outcome) -> None:
    turn.start_over()
    turn.ask("menu", refusal(outcome))


def refusal(outcome) -> Msg:
    """Why a command did not work, as the domain said it (or that something went wrong)."""
    if isinstance(outcome, Refused):
        return Msg(outcome.reason, outcome.params)
    return Msg(N_("Sorry, something went wrong. Please try again."))


state("payment", back="summary")((prompt_payment, handle_payment))


NOTICE_STEPS = ("notice", "notice_again", "offer")  # where a notice's choice is carried out


def remember_interrupted(turn: Turn, choice: str = "", *, tell: bool = True) -> None:
    """Keep what a notice's choice (`choice`) interrupts, to ask it again once the notice
    is answered: the notice asked, unless the choice is its own (answering), and the
    question, the booking's own "which phone?" being one. Not a step of another notice
    (its number asked for its payment): the notice answered in its place takes its place,
    and that payment is forgotten (its notice's buttons still work); a freed time she said
    Yes to is said to be not hers, lest she think it taken (`tell`: not now, but once the
    choice's command is done, should it be refused and change nothing: acting_on). At the
    tap, before any number is asked for it: the notice asked is open only then."""
    answering(turn, choice)
    if turn.state == "phone" and turn.data.keys() & PHONE_STEP:
        forgotten = turn.data.get("after_phone") or ""
        for key in PHONE_STEP:
            turn.data.pop(key, None)
        if tell and _freed_time_left(forgotten, choice):
            turn.say(Msg(FREED_TIME_NOT_TAKEN))
    else:
        set_aside(turn, *NOTICE_STEPS)


def _freed_time_left(forgotten: str, choice: str) -> bool:
    """Whether a freed time she said Yes to is left by another notice's choice, its number
    question forgotten (not when the choice is about that same booking)."""
    return forgotten.startswith("offer:yes:") and paid_booking(forgotten) != paid_booking(choice)


def answering(turn: Turn, choice: str) -> None:
    """A notice's button tapped: the notice asked now, if its question is the one open and
    the button is not its own, waits, to be asked again after the answer (ask_waiting),
    however long the answer takes (her number asked first, a reminder's change of time):
    the button may be one of a notice waiting under it, or of one she moved on from whose
    message is still in the chat (a reminder's, a rating's). The notice the button is of
    waits no more, nor a copy of it waiting."""
    waiting = turn.data.get("notices_waiting") or []
    rest = [n for n in waiting if choice not in choice_ids(n)]
    asked = turn.data["notice"] if notice_open(turn) else None
    if asked and choice not in choice_ids(asked):
        rest.append(asked)  # asked again after the answer (ask_waiting promotes it, if it still holds)
    turn.data.pop("notices_waiting", None)
    if rest:
        turn.data["notices_waiting"] = rest


def choice_ids(notice: dict) -> list[str]:
    """The choices a notice offered (the buttons under its message)."""
    return [choice for choice, _ in notice.get("offered") or ()]


FREED_TIME_NOT_TAKEN = N_("The freed time was not taken. To take it, answer \"Yes, I'll take it\" under its message again.")


# What a notice's tap may change of the chat (remember_interrupted, paying, _to_offer): kept as
# it stood (data.before_tap) until its command's answer, to be put back should it be refused.
AT_THE_TAP = ("notices_waiting", "resume", *PHONE_STEP)


def acting_on(turn: Turn, choice: str) -> None:
    """A notice's button whose command goes now: what it interrupts is set aside as for
    any notice's choice (remember_interrupted), and where the chat stood is kept until the
    command's answer (data.before_tap): refused, the button changed nothing, and nothing
    ends (put_back); done, what it ended is said then (tap_answered). Not when carried out
    once her number came (a notice's step, after_phone): that question is over. Its own
    payment's number question set aside is over too (paying)."""
    if turn.state not in NOTICE_STEPS:
        kept = {key: turn.data[key] for key in AT_THE_TAP if key in turn.data}
        turn.data["before_tap"] = {"state": turn.state, "choice": choice, "kept": kept}
    remember_interrupted(turn, choice, tell=False)
    paying(turn, choice)


def tap_answered(turn: Turn) -> None:
    """A notice's command done: a freed time whose number question its tap replaced is
    said to be not taken (remember_interrupted), as that question is over."""
    before = turn.data.pop("before_tap", None)
    if before and before["state"] == "phone" and _freed_time_left(before["kept"].get("after_phone") or "",
                                                                    before["choice"]):  # fmt: skip
        turn.say(Msg(FREED_TIME_NOT_TAKEN))


def put_back(turn: Turn) -> str | None:
    """A notice's command refused: its button changed nothing, so the chat is put back as
    it stood at the tap (the notice open, waiting, the question she was at, her number
    question and what it pays, kept but not started), and the choice tapped is returned.
    None when it is no question's to ask again: carried out once her number came, or
    tapped at her number question for that same payment, which cannot go (the time no
    longer held, a request already on its way): that question is over."""
    before = turn.data.pop("before_tap", None)
    if before is None:
        return None
    for key in AT_THE_TAP:
        turn.data.pop(key, None)
    turn.data.update(before["kept"])
    turn.state, choice = before["state"], before["choice"]
    paying(turn, choice)  # its number question set aside is over too
    booking = paid_booking(choice)
    if turn.state == "phone" and booking is not None and paid_booking(turn.data.get("after_phone") or "") == booking:
        for key in PHONE_STEP:
            turn.data.pop(key, None)
        answering(turn, choice)  # a notice come over her number question waits, to be asked after why
        return None
    return choice


def ask_waiting(turn: Turn, *said: Msg) -> bool:
    """After a notice's answer, the notice waiting under it (the one asked when a notice
    waiting under that one was answered, first) asked again, after `said`: not one that
    stopped being true meanwhile (the visit begun, the balance paid), which is dropped for
    the next. True when one was asked."""
    while earlier := promote_waiting(turn.data):  # its choices stay as remembered: a newer notice knows it by them
        if turn.ctx.notice_holds(earlier.get("outbox_id")):
            turn.ask("notice_again", *said, Msg(N_("One more question is waiting for your answer:")))
            return True
        del turn.data["notice"], turn.data["offered"]
    return False


def change_over(turn: Turn, *said: Msg) -> None:
    """A change of a booking over (moved, cancelled, refused, or let go): the chat starts
    afresh at the menu. When it was a reminder's answer (its Change the time or Cancel,
    data.reminder), a notice waiting is asked again first, as after any notice's answer:
    the one asked when she tapped the reminder waiting under it, or one waiting under the
    reminder."""
    reminder = _reminders_change(turn)
    turn.start_over()
    if not (reminder and ask_waiting(turn, *said)):
        turn.ask("menu", *said)


def cancellation_let_go(turn: Turn, *said: Msg) -> bool:
    """A reminder's cancellation let go ("No, keep it"): its answer is over, so a notice
    waiting that still holds is asked again after `said`, the chat starting afresh, as
    when the move is let go (change_over). False, with nothing changed, when there is
    none or the cancellation was begun from My bookings: her booking's card follows."""
    if not (_reminders_change(turn) and _one_waiting_holds(turn)):
        return False
    change_over(turn, *said)
    return True


def _reminders_change(turn: Turn) -> bool:
    return "reminder" in turn.data and turn.data["reminder"] == turn.data.get("booking_id")


def _one_waiting_holds(turn: Turn) -> bool:
    """Whether a notice waiting would be asked again now: those on top of it that no
    longer hold (the visit begun, the balance paid) are dropped on the way."""
    waiting = list(turn.data.pop("notices_waiting", None) or ())
    while waiting and not turn.ctx.notice_holds(waiting[-1].get("outbox_id")):
        waiting.pop()
    if waiting:
        turn.data["notices_waiting"] = waiting
    return bool(waiting)


def paid_booking(choice: str) -> int | None:
    """The booking a notice's payment choice is for (a freed time taken or let go, paid
    again, the balance); None for any other choice."""
    kind, *rest = choice.split(":")
    if kind not in ("offer", "payagain", "paybalance"):
        return None
    return next((int(part) for part in rest if part.isdecimal()), None)


def paying(turn: Turn, choice: str) -> None:
    """A notice's payment choice carried out now (tapped again, from another number, or
    once the number was given): a number question set aside for that booking's payment
    leaves the stack, never to start a second payment she did not ask for."""
    booking = paid_booking(choice)
    if booking is not None:
        drop_set_aside(turn, lambda kept: paid_booking(kept.get("after_phone") or "") == booking)


def ask_another_number(turn: Turn, choice: str) -> bool:
    """"M-Pesa from another number" ("<notice>:<booking>:mpesa:other"): ask which, then
    carry out the choice with plain M-Pesa from it, for that payment only (the customer's
    own number stays theirs). A question the notice interrupted is asked again
    afterwards, as after any notice. False for any other choice."""
    then = choice.removesuffix(":other")
    if then == choice or not then.split(":")[1].isdigit():
        return False
    if _no_longer_held(turn, then):  # no number asked for a payment that cannot go: refused at once
        return False
    remember_interrupted(turn, then)
    turn.data["after_phone"], turn.data["new_phone"] = then, True
    turn.ask("phone")
    return True


def prompt_phone(turn: Turn, before: list[Msg]) -> None:
    if not turn.data.keys() & PHONE_STEP and not needs_phone(turn, "mpesa"):  # the booking's own, given meanwhile
        turn.ask("payment", *before)  # (for a freed time taken): its way to pay is asked again, with it known
        return
    if (then := turn.data.get("after_phone")) and not turn.data.get("new_phone") and not needs_phone(turn, "mpesa"):
        _number_known(turn, then, before)  # a notice's, set aside: the number was given meanwhile (for a freed time)
        return
    if turn.data.get("new_phone"):  # they chose to pay from another number
        turn.offer(before + [Msg(N_("Which number should M-Pesa ask to pay? Type it, like 0712 345 678."))],
                   [Choice("back", Msg(N_("Back")))])  # fmt: skip
        return
    if turn.data.get("phone") or turn.ctx.customer.phone:  # one we have, which M-Pesa cannot prompt
        turn.offer(before + [Msg(NOT_MPESA)], [Choice("back", Msg(N_("Back")))])
        return
    turn.offer(before + [Msg(N_("M-Pesa needs your phone number. Share it with the button, or type it."))],
               [Choice("back", Msg(N_("Back")))], ask_contact=True)  # fmt: skip


NOT_MPESA = N_("M-Pesa needs a Kenyan mobile number, like 0712 345 678. Please type it.")


def handle_phone(turn: Turn, event: Event, choice: str | None) -> None:
    """A number for M-Pesa, typed or shared: the payment waiting for it asks it (its
    command carries the number). One of their own is saved as theirs after that payment:
    the customer's row is locked after the day's lock and the booking's rows (the lock
    order, bot/runner.py), or a no-show marked meanwhile, which locks them the other way
    round, could deadlock with it."""
    if event.kind == "outcome":
        handle_payment(turn, event, None)
        return
    raw = event.phone if event.kind == "contact" else event.text
    phone = normalise_phone(raw or "", turn.ctx.shop.country)
    if phone is None:
        not_understood(turn, Msg(N_("That does not look like a phone number. Try again, like 0712 345 678.")))
        return
    if mpesa.msisdn(phone) is None:  # a landline, or a number abroad: the prompt could never reach it
        turn.offer([Msg(NOT_MPESA)], [Choice("back", Msg(N_("Back")))])
        return
    theirs = not turn.data.pop("new_phone", None)  # else another number, for this one payment
    if theirs:
        turn.data["phone"] = phone
    if turn.data.get("after_phone"):
        turn.data["pay_from"] = phone  # the notice's command carries it: their row is not written yet
        _carry_out(turn)
        turn.data.pop("pay_from", None)
    elif theirs:
        _hold(turn, phone)
    else:  # its payment was left meanwhile
        turn.ask("menu")
    if theirs:  # after the payment: their row is locked last (the lock order, bot/runner.py)
        turn.do(SavePhone(phone))


def _carry_out(turn: Turn) -> None:
    """The notice's choice that waited for a number, carried out now that it is known, as
    if tapped at the notice: its number question is done, nothing to come back to."""
    then = turn.data.pop("after_phone")
    turn.state = "notice"
    follow_choice(turn, then)


def _number_known(turn: Turn, then: str, before: list[Msg]) -> None:
    """A notice's number question asked again once her number was given for something
    else: nothing is paid until she says so now, with the notice's own button (or Back)."""
    label = N_("Yes, I'll take it") if then.startswith("offer:") else N_("Pay now with M-Pesa")
    phone = turn.data.get("phone") or turn.ctx.customer.phone
    turn.offer(before + [Msg(NUMBER_KNOWN, {"phone": phone})],
               [Choice(then, Msg(label)), Choice("back", Msg(N_("Back")))])  # fmt: skip


NUMBER_KNOWN = N_("We have your number now: {phone}. Nothing has been paid yet: tap below when you want M-Pesa to "
                  "ask you to pay.")


def _back_from_phone(turn: Turn) -> str:
    if turn.data.pop("new_phone", None):
        turn.data.pop("after_phone", None)
        if questions_set_aside(turn)[-1:] == ["booking"]:  # chosen on a held booking's card: the card again
            return resumed(turn)
        return "notice_again"  # its choices, numbered as before, answer again
    if turn.data.pop("after_phone", None):
        return resumed(turn)  # a notification's payment: the question it interrupted, if any
    return "payment"


state("phone", back=_back_from_phone)((prompt_phone, handle_phone))


# -- rescheduling (from my bookings) ------------------------------------------------------


def prompt_resched_confirm(turn: Turn, before: list[Msg]) -> None:
    start = datetime.fromisoformat(turn.data["start"])
    turn.offer(before + [Msg(N_("Move {code} to {when}?"), {"code": turn.data.get("code", ""), "when": when_of(turn, start)})],
               question_choices(turn, f"move-{turn.data['booking_id']}-{start.astimezone(UTC):%Y%m%d%H%M}",
                                ("yes", Msg(N_("Yes, move it"))), ("no", Msg(N_("No, keep it")))))  # fmt: skip


def handle_resched_confirm(turn: Turn, event: Event, choice: str | None) -> None:
    if event.kind == "outcome":
        outcome = event.outcome
        if isinstance(outcome, Done):
            start = datetime.fromisoformat(turn.data["start"])
            said = [Msg(N_("Done. {code} is now on {when}."), {"code": turn.data.get("code", ""), "when": when_of(turn, start)})]
            if outcome.detail.get("held_until"):  # a hold moved is still a hold: it goes unless paid
                said.append(Msg(N_("It is held for you until {time}: pay before then to keep it."),
                                {"time": m.clock(outcome.detail["held_until"], turn.ctx.shop.timezone)}))  # fmt: skip
                turn.start_over("booking_id")  # its card follows
                turn.ask("booking", *said)  # its card, with the ways to pay
                return
            change_over(turn, *said)
        elif isinstance(outcome, Taken):
            _after_hold(turn, outcome)
        else:
            change_over(turn, refusal(outcome))
        return
    answer = answer_to(turn, event, choice)
    if answer == "stale":
        stale(turn)
    elif answer == "yes":
        turn.do(Reschedule(turn.data["booking_id"], datetime.fromisoformat(turn.data["start"])))
    elif answer == "no":
        change_over(turn, Msg(N_("OK, your booking stays as it was.")))
    else:
        not_understood(turn, Msg(N_("Please answer yes or no.")))


state("resched_confirm", back="time")((prompt_resched_confirm, handle_resched_confirm))
