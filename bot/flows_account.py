"""The customer's own things: bookings (details, cancel, reschedule) and vehicles;
and the buttons of notifications (waitlist offers, reminders, payment retries), which
work from any state."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import understand
from bot.engine import (
    GLOBAL_CHOICES,
    Turn,
    again,
    begin_booking,
    forget_half_made,
    not_understood,
    notice_open,
    questions_set_aside,
    resumed,
    set_aside,
    state,
)
from bot.flows_booking import (
    NOTICE_STEPS,
    _mine,
    acting_on,
    answer_to,
    answering,
    ask_another_number,
    ask_waiting,
    booked,
    cancellation_let_go,
    change_over,
    choice_ids,
    phone_first,
    put_back,
    question_choices,
    refusal,
    remember_interrupted,
    stale,
    tap_answered,
    when_of,
)
from bot.model import (
    AcceptOffer,
    Booked,
    Cancel,
    DeclineOffer,
    Done,
    Event,
    RemoveVehicle,
    RetryPayment,
)
from core import i18n, payments, policy
from core import messages as m
from core.customers import STILL_BOOKED
from core.i18n import N_
from core.lifecycle import CANCELLABLE, BookingStatus
from core.messages import Choice, Msg, Reply
from core.notices import STATUS_NAMES


def prompt_bookings(turn: Turn, before: list[Msg]) -> None:
    bookings = turn.ctx.bookings()
    if not bookings:
        turn.offer(before + [Msg(N_("You have no upcoming bookings."))],
                   [Choice("m:book", Msg(N_("Book a service"))), Choice("back", Msg(N_("Main menu")))])  # fmt: skip
        return
    choices = [Choice(f"bk:{b.id}", f"{b.code} · {_short_when(turn, b.start)}") for b in bookings]
    choices.append(Choice("back", Msg(N_("Main menu"))))
    turn.offer(before + [Msg(N_("Your upcoming bookings:"))], choices,
               {f"bk:{b.id}": [b.code] for b in bookings})  # fmt: skip


def _short_when(turn: Turn, at: datetime) -> str:
    return i18n.when(at, turn.ctx.shop.timezone, turn.lang)


def handle_bookings(turn: Turn, event: Event, choice: str | None) -> None:
    if choice == "m:book":
        begin_booking(turn)
        turn.ask("services")
    elif choice and choice.startswith("bk:") and _mine(turn, int(choice[3:])):
        turn.data["booking_id"] = int(choice[3:])
        turn.ask("booking")
    else:
        not_understood(turn, Msg(N_("Choose a booking from the list.")))


state("bookings")((prompt_bookings, handle_bookings))


def prompt_booking(turn: Turn, before: list[Msg]) -> None:
    b = _mine(turn, turn.data.get("booking_id", 0))
    if b is None:
        turn.ask("bookings", *before)
        return
    turn.data["code"] = b.code
    texts = before + [
        Msg(N_("Booking {code}"), {"code": b.code}),
        Msg(N_("Services: {services}"), {"services": m.join([m.names(n) for n in b.service_names])}),
        Msg(N_("When: {when}"), {"when": when_of(turn, b.start)}),
        Msg(N_("Status: {status}"), {"status": m.message(Msg(STATUS_NAMES.get(b.status, b.status)))}),
        Msg(N_("Price: {price}"), {"price": m.money(b.price_minor, turn.ctx.shop.currency)}),
    ]
    if b.vehicle:
        texts.insert(len(before) + 2, Msg(N_("Vehicle: {vehicle}"), {"vehicle": b.vehicle}))
    # held, waiting for its payment: the ways to pay, as after a failed payment (whose
    # message may be long gone), so that it can still be paid from here
    choices = list(payments.retry_choices(turn.ctx.shop.payment_methods, b)) if b.status == BookingStatus.HELD else []
    if b.status in CANCELLABLE:
        choices += [Choice("resched", Msg(N_("Change the time"))), Choice("cancel", Msg(N_("Cancel the booking")))]
    choices.append(Choice("back", Msg(N_("Back"))))
    turn.offer(texts, choices, payments.pay_words(choices))


def handle_booking(turn: Turn, event: Event, choice: str | None) -> None:
    b = _mine(turn, turn.data.get("booking_id", 0))
    if b is None:
        turn.ask("bookings")
    elif choice in ("cancel", "resched") and b.status not in CANCELLABLE:  # a button from before the car came in
        turn.ask("booking", Msg(N_("That booking can no longer be changed.")))
    elif choice == "cancel":
        turn.ask("cancel_confirm")
    elif choice == "resched":
        turn.data.update(mode="reschedule", services=list(b.service_ids))
        turn.ask("day")
    else:
        not_understood(turn, Msg(N_("Choose what to do with this booking.")))


state("booking", back="bookings")((prompt_booking, handle_booking))


def prompt_cancel_confirm(turn: Turn, before: list[Msg]) -> None:
    b = _mine(turn, turn.data.get("booking_id", 0))
    if b is None:
        turn.ask("bookings", *before)
        return
    token_cost, paid = turn.data["quoted"] = _cancel_terms(turn, b)
    if token_cost:
        left = max(turn.ctx.customer.tokens - 1, 0)
        cost = [Msg(N_("It is less than {hours} hours before the visit, so cancelling now costs one token. "
                       "You will have {n} left this month."), {"hours": turn.ctx.shop.late_window_hours, "n": left})]  # fmt: skip
    else:
        cost = [Msg(N_("Cancelling now is free."))]
    if paid and policy.refund_on_cancel(token_cost):
        cost.append(Msg(N_("The {amount} you paid will be refunded."), {"amount": m.money(paid, turn.ctx.shop.currency)}))
    elif paid:
        cost.append(Msg(N_("The {amount} you paid is not refunded on a late cancellation."),
                        {"amount": m.money(paid, turn.ctx.shop.currency)}))  # fmt: skip
    turn.offer(before + [Msg(N_("Cancel {code} on {when}?"), {"code": b.code, "when": when_of(turn, b.start)}), *cost],
               question_choices(turn, f"cancel-{b.id}", ("yes", Msg(N_("Yes, cancel it"))),
                                ("no", Msg(N_("No, keep it")))))  # fmt: skip


def _cancel_terms(turn: Turn, b) -> list[int]:
    """What cancelling this booking now costs in tokens, and the money paid for it (which
    goes back when the cancellation is free). A list, as the chat's data keeps it (JSON),
    so that the terms quoted compare equal to the terms now."""
    window = timedelta(hours=turn.ctx.shop.late_window_hours)
    day_open = turn.ctx.is_open(b.start.astimezone(ZoneInfo(turn.ctx.shop.timezone)).date())
    return [policy.cancellation_cost(turn.ctx.now, b.start, window, b.status, day_open), turn.ctx.paid(b.id)]


def handle_cancel_confirm(turn: Turn, event: Event, choice: str | None) -> None:
    if event.kind == "outcome":
        if isinstance(event.outcome, Done):
            d = event.outcome.detail
            texts = [Msg(N_("Cancelled {code}."), {"code": d["code"]})]
            if d.get("token_cost"):
                texts.append(Msg(N_("One token was used. You have {n} left this month."), {"n": d["tokens_left"]}))
            if d.get("refund_minor"):
                texts.append(Msg(N_("The shop has been told to refund the {amount} you paid."),
                                 {"amount": m.money(d["refund_minor"], d["currency"])}))  # fmt: skip
            change_over(turn, *texts)
        else:
            change_over(turn, refusal(event.outcome))
        return
    answer = answer_to(turn, event, choice)
    if answer == "stale":
        stale(turn)
    elif answer == "yes" and _terms_changed(turn):  # the window closed, or money came in, since the question
        turn.ask("cancel_confirm", Msg(N_("What cancelling costs has changed since I asked.")))
    elif answer == "yes":
        turn.do(Cancel(turn.data["booking_id"]))
    elif answer == "no":
        kept = Msg(N_("OK, your booking stays as it was."))
        if not cancellation_let_go(turn, kept):  # a reminder's: a notice waiting is asked again instead
            turn.ask("booking", kept)
    else:
        not_understood(turn, Msg(N_("Please answer yes or no.")))


def _terms_changed(turn: Turn) -> bool:
    b = _mine(turn, turn.data["booking_id"])
    return b is not None and _cancel_terms(turn, b) != turn.data.get("quoted")


state("cancel_confirm", back="booking")((prompt_cancel_confirm, handle_cancel_confirm))


def prompt_vehicles(turn: Turn, before: list[Msg]) -> None:
    vehicles = turn.ctx.vehicles
    if not vehicles:
        turn.offer(before + [Msg(N_("You have no saved vehicles yet. They are saved when you book."))],
                   [Choice("back", Msg(N_("Main menu")))])  # fmt: skip
        return
    choices = [Choice(f"veh:{v.id}", v.plate + (f" · {v.make_model}" if v.make_model else "")) for v in vehicles]
    turn.offer(before + [Msg(N_("Your vehicles. Choose one to see its service history."))],
               choices + [Choice("back", Msg(N_("Main menu")))], {f"veh:{v.id}": [v.plate] for v in vehicles})  # fmt: skip


def handle_vehicles(turn: Turn, event: Event, choice: str | None) -> None:
    vehicles = turn.ctx.vehicles
    typed = understand.plate_key(event.text) if event.kind == "text" and not understand.is_position(event.text) else None
    if typed is not None:  # a typed plate is taken exactly, as when booking: one character off is another car
        vehicle = next((v for v in vehicles if understand.plate_key(v.plate) == typed), None)
    else:
        vehicle = next((v for v in vehicles if choice == f"veh:{v.id}"), None)
    if vehicle is None:
        not_understood(turn, Msg(N_("Choose a vehicle from the list.")))
        return
    turn.data["my_vehicle"] = vehicle.id
    turn.ask("my_vehicle")


state("vehicles")((prompt_vehicles, handle_vehicles))


# Words typed for "Remove this car", in the four languages.
REMOVE_WORDS = ["remove", "delete", "remove car", "удалить", "удалить машину", "убрать", "жою", "көлікті жою",
                "өшіру", "ondoa", "ondoa gari", "futa"]  # fmt: skip
TO_THE_MENU = Choice("menu", Msg(N_("Main menu")))


def _my_vehicle(turn: Turn):
    """The car whose page is open, if it is still on the customer's list."""
    return next((v for v in turn.ctx.vehicles if v.id == turn.data.get("my_vehicle")), None)


def prompt_my_vehicle(turn: Turn, before: list[Msg]) -> None:
    vehicle = _my_vehicle(turn)
    if vehicle is None:  # removed meanwhile (in another chat)
        turn.ask("vehicles", *before)
        return
    lines = turn.ctx.history(vehicle.id)
    texts = [Msg(N_("Service history of {plate}:"), {"plate": vehicle.plate})]
    texts += [Msg(N_("{day}: {services} ({code})"), {"day": m.day(h.start, turn.ctx.shop.timezone),
                  "services": m.join([m.names(n) for n in h.service_names]), "code": h.code}) for h in lines]  # fmt: skip
    if not lines:
        texts.append(Msg(N_("No visits yet.")))
    remove = f"remove:{vehicle.id}"  # the car named: a Remove button left under another car's page is stale
    turn.offer(before + texts, [Choice(remove, Msg(N_("Remove this car"))), Choice("back", Msg(N_("Back"))),
                                TO_THE_MENU], {remove: REMOVE_WORDS})  # fmt: skip


def handle_my_vehicle(turn: Turn, event: Event, choice: str | None) -> None:
    vehicle = _my_vehicle(turn)
    typed_plate = event.kind == "text" and not understand.is_position(event.text) and understand.plate_key(event.text)
    if vehicle is not None and ((choice or "").startswith("veh:") or typed_plate):
        handle_vehicles(turn, event, choice)  # another car of the list above (or its plate): its page
    elif vehicle is None or choice == "menu":
        turn.ask("vehicles" if vehicle is None else "menu")
    elif choice == f"remove:{vehicle.id}":
        turn.ask("remove_vehicle_confirm" if turn.ctx.booking_keeping(vehicle.id) is None else "vehicle_booked")
    elif (choice or "").startswith("remove:"):
        stale(turn)
    else:
        not_understood(turn, Msg(N_("Choose what to do with this car.")))


state("my_vehicle", back="vehicles")((prompt_my_vehicle, handle_my_vehicle))


def prompt_vehicle_booked(turn: Turn, before: list[Msg]) -> None:
    vehicle = _my_vehicle(turn)
    kept = turn.ctx.booking_keeping(vehicle.id) if vehicle else None
    if kept is None:  # gone meanwhile, or its visit is over or cancelled: the car's page again
        turn.ask("my_vehicle", *before)
        return
    turn.offer(before + [Msg(STILL_BOOKED, {"plate": vehicle.plate, "code": kept.code, "when": when_of(turn, kept.start)})],
               [Choice("back", Msg(N_("Back"))), TO_THE_MENU])  # fmt: skip


def handle_vehicle_booked(turn: Turn, event: Event, choice: str | None) -> None:
    if choice == "menu":
        turn.ask("menu")
    else:
        not_understood(turn, Msg(N_("Choose Back to return to the car, or Main menu.")))


state("vehicle_booked", back="my_vehicle")((prompt_vehicle_booked, handle_vehicle_booked))


def prompt_remove_vehicle_confirm(turn: Turn, before: list[Msg]) -> None:
    vehicle = _my_vehicle(turn)
    if vehicle is None:
        turn.ask("vehicles", *before)
        return
    turn.offer(before + [Msg(N_("Remove {plate} from your vehicles? Its service history stays with the shop."),
                             {"plate": vehicle.plate})],
               question_choices(turn, f"remove-{vehicle.id}", ("yes", Msg(N_("Yes, remove it"))),
                                ("no", Msg(N_("No, keep it")))))  # fmt: skip


def handle_remove_vehicle_confirm(turn: Turn, event: Event, choice: str | None) -> None:
    if event.kind == "outcome":  # removed, or why not (a visit booked for it meanwhile): the list as it is now
        turn.start_over()
        turn.ask("vehicles", *_removal_said(event.outcome))
        return
    answer = answer_to(turn, event, choice)
    vehicle = _my_vehicle(turn)
    if answer == "stale":
        stale(turn)
    elif answer in ("yes", "no") and vehicle is None:  # removed meanwhile, in another chat
        turn.ask("vehicles")
    elif answer == "yes":
        turn.do(RemoveVehicle(vehicle.id))
    elif answer == "no":
        turn.ask("my_vehicle", Msg(N_("OK, {plate} stays in your vehicles."), {"plate": vehicle.plate}))
    else:
        not_understood(turn, Msg(N_("Please answer yes or no.")))


def _removal_said(outcome) -> list[Msg]:
    if isinstance(outcome, Done):
        said = [Msg(N_("Removed {plate} from your vehicles."), {"plate": outcome.detail["plate"]})]
        if outcome.detail.get("waits_ended"):
            said.append(Msg(N_("Its place on the waiting list has ended too.")))
        return said
    return [refusal(outcome)]


state("remove_vehicle_confirm", back="my_vehicle")((prompt_remove_vehicle_confirm, handle_remove_vehicle_confirm))


# -- buttons of notifications, valid in any state -----------------------------------------


def _button(choice: str, words: tuple[str, ...]) -> tuple[str, int]:
    """The word and booking id of a button "<kind>:<word>:<booking id>"; ValueError for a
    button we never sent (the engine answers that it is no longer valid)."""
    _, word, number = choice.split(":", 2)
    if word not in words or not number.isdecimal():
        raise ValueError(f"not a button of ours: {choice!r}")
    return word, int(number)


def on_offer(turn: Turn, choice: str) -> None:
    """Waitlist offer buttons: "offer:yes:<booking>" / "offer:no:<booking>"."""
    answer, booking_id = _button(choice, ("yes", "no"))
    if answer == "yes":
        offered = _mine(turn, booking_id)  # the offered visit, not the booking the chat may be in
        method = policy.way_to_take_offer(turn.ctx.shop.payment_methods, bool(offered and offered.deposit_minor))
        if phone_first(turn, method, choice):
            return
        _to_offer(turn, booking_id, choice)
        turn.do(AcceptOffer(booking_id, method, turn.data.pop("pay_from", None)))
    else:
        _to_offer(turn, booking_id, choice)
        turn.do(DeclineOffer(booking_id))


def _to_offer(turn: Turn, booking_id: int, choice: str) -> None:
    """Take or let go an offered time, or pay again: its answer says what became of the
    booking. A question it interrupted (a day being chosen for a new booking) is asked
    again once it is answered; not one the answer makes out of date: the list of
    bookings, or a booking's card, or a change (of time, a cancellation) of that very
    booking, which the answer has settled; nor its own number question set aside."""
    acting_on(turn, choice)
    last = questions_set_aside(turn)[-1:]
    if last in (["bookings"], ["booking"]) or turn.data.get("booking_id") == booking_id:
        turn.data.pop("resume", None)
    turn.state = "offer"


def prompt_offer(turn: Turn, before: list[Msg]) -> None:
    turn.ask("menu", *before)


def handle_offer(turn: Turn, event: Event, choice: str | None) -> None:
    outcome = event.outcome if event.kind == "outcome" else None
    if outcome is None:
        turn.ask("menu")
        return
    if isinstance(outcome, Booked):
        _after_notice(turn, *booked(turn, outcome), afresh=True)
    elif isinstance(outcome, Done):  # declined
        _after_notice(turn, Msg(N_("OK, I have let the time go.")))
    else:
        _nothing_done(turn, outcome)


state("offer")((prompt_offer, handle_offer))


def on_reminder(turn: Turn, choice: str) -> None:
    """Reminder buttons: "rm:cancel:<booking>" / "rm:move:<booking>". Its change of time
    or cancellation is its answer: a reminder waiting under a notice asked since waits no
    more, and the notice asked (whether or not the reminder waited: she may have moved on
    from it before that notice came) waits, asked again once the change is over
    (flows_booking.change_over), as for any notice waiting whose button is tapped."""
    action, booking_id = _button(choice, ("cancel", "move"))
    b = _mine(turn, booking_id)
    if b is None or b.status not in CANCELLABLE:  # gone, or the car has come in since the reminder
        _nothing_changed(turn, choice, Msg(N_("That booking can no longer be changed.")))
        return
    remember_interrupted(turn, choice)  # a freed time whose number was asked is said to be not taken
    unfinished = _left_unfinished(turn, b.id)
    turn.data["booking_id"] = turn.data["reminder"] = b.id
    if action == "cancel":
        turn.ask("cancel_confirm", *unfinished)
    else:
        turn.data.update(mode="reschedule", services=list(b.service_ids), code=b.code)
        turn.ask("day", *unfinished)


def _nothing_changed(turn: Turn, choice: str, said: Msg) -> None:
    """A notice's button that changed nothing (a reminder's for a visit begun, cancelled,
    or not hers; a command refused: extra work decided, a time no longer held, nothing
    left to pay) ends nothing: `said` says why, and the question open is asked again (a
    notice's, if one is open; her number asked for a payment, which starts only once she
    gives it). It is the answer of the notice it belongs to only when that one was the
    question open, or waited: it waits no more, and a notice waiting (the one asked when
    she tapped, first) is asked again at once, the question under it kept."""
    own = notice_open(turn) and choice in choice_ids(turn.data["notice"])
    waited = any(choice in choice_ids(n) for n in turn.data.get("notices_waiting") or ())
    if not (own or waited):  # no notice's answer: the chat as it was
        if notice_open(turn):
            set_aside(turn, *NOTICE_STEPS)  # the question the notice came over, kept under it
            turn.ask("notice_again", said)
        else:
            turn.ask(again(turn), said)
        return
    answering(turn, choice)
    set_aside(turn, *NOTICE_STEPS)
    if own:
        del turn.data["notice"]
    if not ask_waiting(turn, said):
        turn.ask(resumed(turn), said)


def _nothing_done(turn: Turn, outcome) -> None:
    """A notice's command refused (or failed): it changed nothing, so the chat is put back
    as it stood at the tap and the question open asked again after why (_nothing_changed).
    Carried out once her number came, that question is over: a notice waiting is asked
    again, else the question it interrupted, or the menu afresh."""
    choice = put_back(turn)
    if choice is None:
        _after_notice(turn, refusal(outcome), afresh=True)
    else:
        _nothing_changed(turn, choice, refusal(outcome))


# The steps of making a booking, or of moving or cancelling one.
BOOKING_STEPS = {"services", "vehicle", "plate", "make", "day", "time", "waitlist", "summary", "payment", "phone",
                 "resched_confirm", "cancel_confirm"}  # fmt: skip


def _left_unfinished(turn: Turn, booking_id: int) -> list[Msg]:
    """A reminder's change of time or cancellation is a dialogue of its own: one half made
    in the chat (a new booking, a change of another one) gives way to it, and what was
    chosen there is forgotten, the customer told so; a change of this same booking is
    simply begun again."""
    question = (questions_set_aside(turn) or [turn.state])[0]  # the one a notice's steps came over
    own_number = question == "phone" and "method" in turn.data  # the booking's own M-Pesa, not a notice's
    half_made = question in BOOKING_STEPS and (question != "phone" or own_number)
    other = turn.data.get("booking_id") != booking_id
    forget_half_made(turn)
    return [Msg(N_("What you were doing before was left unfinished: you can start it again from the menu."))] \
        if half_made and other else []  # fmt: skip


def on_pay_again(turn: Turn, choice: str) -> None:
    """After a failed payment: "payagain:<booking>:<method>"."""
    if ask_another_number(turn, choice):
        return
    choice = choice.removesuffix(":other")  # for a time no longer held: no number asked, refused at once
    _, booking_id, method = choice.split(":", 2)
    if not booking_id.isdecimal() or method not in turn.ctx.shop.payment_methods:
        turn.ask("menu")
        return
    if phone_first(turn, method, choice):
        return
    _to_offer(turn, int(booking_id), choice)  # its answer (held again, booked, or why not) says what happened
    turn.do(RetryPayment(int(booking_id), method, turn.data.pop("pay_from", None)))


GLOBAL_CHOICES.update({"offer:": on_offer, "rm:": on_reminder, "payagain:": on_pay_again})


# -- extra work, ratings and receipts (issue 7), valid in any state ------------------------


def on_extra(turn: Turn, choice: str) -> None:
    """Extra work a mechanic found: "extra:yes:<item>" / "extra:no:<item>"."""
    _, answer, item_id = choice.split(":", 2)
    if not item_id.isdigit() or answer not in ("yes", "no"):
        turn.ask("menu")
        return
    _to_notice(turn, choice)
    turn.do(DecideExtra(int(item_id), answer == "yes"))


def on_rate(turn: Turn, choice: str) -> None:
    """The 1-5 rating after a visit: "rate:<booking>:<stars>"."""
    _, booking_id, stars = (choice.split(":", 2) + ["", ""])[:3]
    if not (booking_id.isdigit() and stars.isdigit() and 1 <= int(stars) <= 5):
        turn.ask("menu")
        return
    _to_notice(turn, choice)
    turn.do(RateJob(int(booking_id), int(stars)))


def on_receipt(turn: Turn, choice: str) -> None:
    """The receipt as a PDF: "receipt:pdf:<booking>"."""
    booking_id = choice.rsplit(":", 1)[-1]
    if not booking_id.isdigit():
        turn.ask("menu")
        return
    _to_notice(turn, choice)
    turn.do(SendReceipt(int(booking_id)))


def _to_notice(turn: Turn, choice: str) -> None:
    """Answer a notice's button; a question it interrupted (a day being chosen for a new
    booking when the extra work came in) is asked again once it is answered."""
    acting_on(turn, choice)
    turn.state = "notice"


def _after_notice(turn: Turn, *said: Msg, afresh: bool = False) -> None:
    """After a notice's answer: a notice still waiting is asked again (the one asked
    when a notice waiting under it was answered, first); else the question
    it interrupted, with what was chosen kept, or the menu (`afresh`: with nothing of
    before kept, as after a booking made or refused)."""
    turn.data.pop("notice", None)
    tap_answered(turn)
    if ask_waiting(turn, *said):
        return
    question = resumed(turn)
    if question == "menu" and afresh:
        turn.start_over()
    turn.ask(question, *said)


def prompt_notice(turn: Turn, before: list[Msg]) -> None:
    turn.ask("menu", *before)


def prompt_notice_again(turn: Turn, before: list[Msg]) -> None:
    """A notice still to answer, asked again (back from which number M-Pesa should ask, a
    word that does not answer it, one waiting under another just answered): with its
    choices numbered as they were, the chat at the question it came over (a booking half
    made, or the menu), as when the notice came."""
    notice = turn.data.get("notice")
    if not notice:
        turn.ask(resumed(turn), *before)
        return
    reply = Reply.from_json(notice["reply"])
    turn.say(*before, *reply.texts, choices=reply.choices)
    turn.data["offered"] = notice["offered"]  # as remembered, with the words that name its choices
    turn.state = resumed(turn)


def handle_notice(turn: Turn, event: Event, choice: str | None) -> None:
    outcome = event.outcome if event.kind == "outcome" else None
    if isinstance(outcome, Done) and outcome.what == "extra":
        d = outcome.detail
        total = m.money(d["total"], turn.ctx.shop.currency)
        said = Msg(N_("Thank you: the extra work ({work}) is approved. Your new total is {total}."),
                   {"work": d["work"], "total": total}) if d["approved"] else \
            Msg(N_("OK, we will not do that work ({work}). Your total stays {total}."), {"work": d["work"], "total": total})  # fmt: skip
        _after_notice(turn, said)
    elif isinstance(outcome, Done) and outcome.what == "rated":
        _after_notice(turn, Msg(N_("Thank you for rating your visit {stars} of 5!"), {"stars": outcome.detail["stars"]}))
    elif isinstance(outcome, Done) and outcome.what == "paybalance":
        amount = m.money(outcome.detail["amount"], turn.ctx.shop.currency)
        said = Msg(N_("Check your phone: M-Pesa will ask you to pay {amount}. Enter your PIN to confirm."),
                   {"amount": amount}) if outcome.detail["method"] == "mpesa" else \
            Msg(N_("The payment request of {amount} is on its way."), {"amount": amount})  # fmt: skip
        _after_notice(turn, said)
    elif isinstance(outcome, Done) and outcome.what == "receipt":
        _after_notice(turn, Msg(N_("Your receipt for {code} is on its way as a PDF."), {"code": outcome.detail["code"]}))
    elif outcome is not None:
        _nothing_done(turn, outcome)
    else:
        turn.ask("menu")


state("notice")((prompt_notice, handle_notice))
state("notice_again")((prompt_notice_again, handle_notice))

from bot.model import DecideExtra, PayBalance, RateJob, SendReceipt  # noqa: E402  (issue 7 additions)


def on_pay_balance(turn: Turn, choice: str) -> None:
    """"Pay now" when the car is ready: "paybalance:<booking>:<method>"."""
    if ask_another_number(turn, choice):
        return
    _, booking_id, method = (choice.split(":", 2) + ["", ""])[:3]
    if not booking_id.isdigit() or method not in turn.ctx.shop.payment_methods:
        turn.ask("menu")
        return
    if phone_first(turn, method, choice):
        return
    _to_notice(turn, choice)
    turn.do(PayBalance(int(booking_id), method, turn.data.pop("pay_from", None)))


GLOBAL_CHOICES.update({"extra:": on_extra, "rate:": on_rate, "receipt:": on_receipt,
                       "paybalance:": on_pay_balance})  # fmt: skip
