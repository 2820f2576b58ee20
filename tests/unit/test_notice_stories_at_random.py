"""Stories at random of a customer's chat while notices come: extra work found, a freed
time, a payment to try again, her car ready to pay for, a rating asked, a reminder. They
come at any moment, over any question; she taps buttons (the notices' own, old ones still
in the chat, the ones just shown), types numbers, words and her phone number, says menu,
back or stop, comes back after a pause; and the shop grants or refuses what she asks.
After each of her messages the dialogue (bot.engine.step, with a hand-written context)
must keep the shop's rules below; a story that breaks one fails with its transcript.

Each run plays new stories, a failing one kept (.hypothesis) to be played first next
time; in CI (CI=true) hypothesis plays the same stories every run (its "ci" profile).
More stories for a while: --hypothesis-seed=N with a larger max_examples."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache, cached_property

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import engine
from bot.flows_booking import FREED_TIME_NOT_TAKEN, choice_ids, paid_booking
from bot.model import (
    AcceptOffer,
    Booked,
    Cancel,
    DecideExtra,
    DeclineOffer,
    Done,
    Event,
    Hold,
    JoinWaitlist,
    PayBalance,
    RateJob,
    Refused,
    RemoveVehicle,
    Reschedule,
    RetryPayment,
    SaveVehicle,
    SendReceipt,
)
from core.messages import Msg, Reply, render, render_reply
from core.notices import wait_under
from tests.unit.fake_context import FakeContext
from tests.unit.test_engine import (
    EXTRA_FOUND,
    FREED_TIME,
    HELD,
    PAY_AGAIN,
    PAY_NOW,
    RATING,
    REMINDER_OF_8,
    booking_tomorrow,
    held_offer,
)

NOTICES = {"extra work": EXTRA_FOUND, "a freed time": FREED_TIME, "pay again": PAY_AGAIN, "pay now": PAY_NOW,
           "a rating": RATING, "a reminder": REMINDER_OF_8}  # fmt: skip
FREED_TIME_YES = "offer:yes:"  # her Yes to a freed time (a waitlist offer)
PAYMENTS = (AcceptOffer, RetryPayment, PayBalance, Hold)
RATING_ASKED = "How did we do?"
RATING_THANKED = "Thank you for rating"
# The notices' buttons, and the other buttons of their messages (still in the chat).
NOTICE_BUTTONS = ["extra:yes:7", "extra:no:7", "offer:yes:9", "offer:no:9", "payagain:9:mpesa",
                  "payagain:9:mpesa:other", "paybalance:5:mpesa", "paybalance:5:mpesa:other", "rate:5:5",
                  "receipt:pdf:5", "rm:move:8", "rm:cancel:8"]  # fmt: skip
# Buttons that work anywhere, or answer a question, tapped when not shown.
OTHER_BUTTONS = ["back", "stop", "reply:shop", "help", "yes", "no"]
# Buttons of the menu and of a booking, tapped when none is shown.
MENU_BUTTONS = ["m:book", "svc:1", "done", "veh:3", "day:2026-11-25"]
WORDS = ["menu", "help", "back", "language", "Wednesday", "hello shop"]
HER_NUMBER = "0712 345 678"
PAUSE = timedelta(minutes=40)  # longer than the chat waits (engine.IDLE_AFTER)


# -- the shop's answers to what the dialogue asks of it -----------------------------------------


def outcome_of(command, granted: bool):
    """What core answers a command, granted or refused (None: a command with no answer:
    her language, her number, words for the shop)."""
    match command:
        case SaveVehicle():
            return Done("vehicle", {"vehicle_id": 3, "plate": command.plate})
        case Hold():
            cash = command.payment_method == "cash"
            return Booked(20, "MM-1020", command.start, cash, 0 if cash else 350000, 10, command.payment_method,
                          None, tuple(command.service_ids))  # fmt: skip
        case JoinWaitlist():
            return Done("waitlist")
        case RemoveVehicle():
            return Done("vehicle_removed", {"plate": "KCB 123A"})
        case AcceptOffer() | RetryPayment():
            return _granted_or(granted, HELD, "Sorry, that time is no longer held for you.")
        case DeclineOffer():
            return _granted_or(granted, Done("cancel", {"code": "MM-1009"}), "That offer is no longer open.")
        case PayBalance():
            return _granted_or(granted, Done("paybalance", {"amount": 450000, "method": command.payment_method}),
                               "Nothing is left to pay for that booking.")  # fmt: skip
        case DecideExtra():
            return _granted_or(granted, Done("extra", {"work": "discs", "approved": command.approve, "total": 100}),
                               "That work was already decided.")  # fmt: skip
        case RateJob():
            return _granted_or(granted, Done("rated", {"stars": command.stars}), "That visit cannot be rated.")
        case SendReceipt():
            return _granted_or(granted, Done("receipt", {"code": "MM-1005"}), "That receipt is not available.")
        case Cancel():
            return _granted_or(granted, Done("cancel", {"code": "MM-1008", "token_cost": 0, "tokens_left": 2}),
                               "That booking can no longer be cancelled.")  # fmt: skip
        case Reschedule():
            return _granted_or(granted, Done("reschedule", {"code": "MM-1008"}), "That booking can no longer be moved.")
    return None


def _granted_or(granted: bool, done, why: str):
    return done if granted else Refused(why)


# -- a story ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeComes:
    """A notice sent to her chat (core.notices.remember_choices)."""

    name: str


@dataclass(frozen=True)
class Writes:
    """One message of hers: a button (`tap`; `nth_shown`: the nth of those shown last) or
    words (`text`), maybe after a pause; the shop grants what it asks, or refuses."""

    tap: str | None = None
    nth_shown: int | None = None
    text: str | None = None
    after_pause: bool = False
    granted: bool = True


@dataclass
class Message:
    """One message of hers and all the dialogue did with it: its answer (steps[0]), and its
    answer to each outcome of the commands it asked for (steps[1:])."""

    event: Event
    meant: str | None  # the choice she tapped, or that her words answer
    state: str  # where the chat was
    data: dict
    steps: list[engine.Step] = field(default_factory=list)
    refused: bool = False  # the shop refused the last command
    after_pause: bool = False
    numbered: bool = False  # WhatsApp: the choices are numbered, and she types their numbers
    granted: bool = True  # the shop grants what her message asks
    rating_given: bool = False  # she rated the visit since the rating was asked

    @property
    def after(self) -> engine.Step:
        return self.steps[-1]

    @cached_property
    def shown(self) -> list[tuple[str, list[tuple[str, str]]]]:
        return [render_reply(reply, "en") for s in self.steps for reply in s.replies]

    @property
    def commands(self) -> list:
        return [command for s in self.steps for command in s.commands]


@cache
def english_chosen(numbered: bool) -> engine.Step:
    """Her chat once she opened it and chose English: the menu (every story starts there)."""
    ctx = FakeContext(numbered=numbered)
    greeted = engine.step("start", {}, Event("start"), ctx)
    return engine.step(greeted.state, greeted.data, Event.tapped("lang:en"), ctx)


class Story:
    """Her chat, played move by move from the menu, with what happened kept for its transcript."""

    def __init__(self, numbered: bool):
        tomorrow = replace(booking_tomorrow(30), id=8, code="MM-1008")
        self.ctx = FakeContext(my_bookings=[held_offer(100000), tomorrow], numbered=numbered).with_vehicle()
        start = english_chosen(numbered)
        self.state, self.data = start.state, start.data
        self.happened: list[str | Message] = []  # the notices that came (their names), and her messages
        self.rating_given = False

    def play(self, move: NoticeComes | Writes) -> Message | None:
        """A notice comes, or she writes: what she wrote and all that came of it."""
        if isinstance(move, NoticeComes):
            self.notice_comes(move.name)
            return None
        if move.after_pause:
            self.ctx.now += PAUSE
        return self.send(self._event(move), move.granted, move.after_pause)

    def notice_comes(self, name: str) -> None:
        """As core.notices.remember_choices, the chat not idle: the notice open waits under
        the new one, which is the question now (its choices what her numbers answer)."""
        notice, data = NOTICES[name], dict(self.data)
        wait_under(data, notice["offered"])
        data["notice"] = {**notice, "before": data.get("offered")}
        data["offered"] = notice["offered"]
        self.data = data
        self.rating_given = self.rating_given and name != "a rating"
        self.happened.append(name)

    def send(self, event: Event, granted: bool, after_pause: bool) -> Message:
        """Her message through the dialogue, and each command's answer back to it."""
        meant = engine.resolve(engine.Turn(self.ctx, self.state, self.data), event)
        message = Message(event, meant, self.state, self.data, granted=granted, after_pause=after_pause,
                          numbered=self.ctx.numbered, rating_given=self.rating_given)  # fmt: skip
        message.steps.append(engine.step(self.state, self.data, event, self.ctx))
        while answers := [a for a in (outcome_of(c, granted) for c in message.after.commands) if a is not None]:
            message.refused = isinstance(answers[-1], Refused)
            message.steps.append(engine.step(message.after.state, message.after.data,
                                             Event("outcome", outcome=answers[-1]), self.ctx))  # fmt: skip
        self.state, self.data = message.after.state, message.after.data
        self.rating_given = self.rating_given or any(RATING_THANKED in text for text, _ in message.shown)
        self.happened.append(message)
        return message

    def _event(self, move: Writes) -> Event:
        if move.nth_shown is not None:
            shown = [choice for choice, _ in self.data.get("offered") or []] or MENU_BUTTONS
            return Event.tapped(shown[move.nth_shown % len(shown)])
        return Event.tapped(move.tap) if move.tap else Event.typed(move.text or "")

    def transcript(self) -> str:
        """The story as the chat would show it: each notice that came, each of her messages
        (where the chat was), the dialogue's answers, the commands and the shop's answers."""
        lines = ["[menu] she opened the chat and chose English"]
        for happened in self.happened:
            if isinstance(happened, str):
                reply = Reply.from_json(NOTICES[happened]["reply"])
                lines.append(f"   ~ {happened} comes: {render_reply(reply, 'en')[0]!r}")
            else:
                lines += written_down(happened)
        return "\n".join(lines)


def written_down(m: Message) -> list[str]:
    """One message of hers in the transcript: where the chat was, what she did (and the
    choice her words answer), what the dialogue said and did, and where it went."""
    said = {"choice": f"taps {m.event.choice}", "text": f"types {m.event.text!r}"}[m.event.kind]
    if m.event.kind == "text" and m.meant:
        said += f" (= {m.meant})"
    lines = [f"[{m.state}] she {said}" + (" after a pause" if m.after_pause else "")]
    for s in m.steps:
        for text, choices in (render_reply(r, "en") for r in s.replies):
            buttons = f"  {[c for c, _ in choices]}" if choices else ""
            lines.append("     bot: " + text.replace("\n", "\n          ") + buttons)
        for command in s.commands:
            answer = outcome_of(command, m.granted)
            lines.append(f"     does {command}" + (f" -> {answer}" if answer else ""))
    lines.append(f"   -> [{m.after.state}]")
    return lines


# -- the rules ------------------------------------------------------------------------------------


def notice_button(choice: str | None) -> bool:
    """A button of a notice (or of its message), valid in any state; not the shop's answer's
    "Reply", which opens a message to the shop."""
    return bool(choice) and choice != engine.REPLY_TO_SHOP and \
        any(choice.startswith(prefix) for prefix in engine.GLOBAL_CHOICES)  # fmt: skip


def notice_of(choice: str | None) -> int | None:
    """The notice (its outbox id) a button belongs to: its own, or "from another number"."""
    for notice in NOTICES.values():
        if choice and (choice in choice_ids(notice) or f"{choice}:other" in choice_ids(notice)):
            return notice["outbox_id"]
    return None


def notices_to_answer(data: dict) -> set[int]:
    """The notices still to answer: the one asked (its choices those offered) and those waiting."""
    asked = data.get("notice")
    open_now = {asked["outbox_id"]} if asked and asked["offered"] == data.get("offered") else set()
    return open_now | {n["outbox_id"] for n in data.get("notices_waiting") or []}


def her_number_typed(m: Message) -> bool:
    """Her phone number, typed at a notice's number question."""
    return m.state == "phone" and m.event.text == HER_NUMBER and bool(m.data.get("after_phone"))


def freed_time_asking_her_number(state: str, data: dict) -> int | None:
    """The freed time (its booking) she said Yes to whose number question is asked, or set
    aside to be asked again; None when there is none."""
    asked = [data] if state == "phone" else []
    set_aside = [entry for entry in data.get("resume") or [] if isinstance(entry, dict)]
    yes = [entry.get("after_phone") or "" for entry in [*asked, *set_aside]]
    return next((paid_booking(choice) for choice in yes if choice.startswith(FREED_TIME_YES)), None)


def no_tap_left_pending(m: Message) -> bool:
    """A notice's tap keeps where the chat stood (data.before_tap) only until its command is
    answered: kept longer, a later refusal would put the chat back to a moment long gone."""
    return "before_tap" not in m.after.data


def one_payment_at_most(m: Message) -> bool:
    """One message pays for one thing at most: she is never asked to pay twice at once."""
    return len([c for c in m.commands if isinstance(c, PAYMENTS)]) <= 1


def no_payment_by_itself(m: Message) -> bool:
    """A payment starts only from her own message, never from the answer to another
    command (a time held, extra work approved): M-Pesa asks her PIN only when she said so."""
    return not [c for s in m.steps[1:] for c in s.commands if isinstance(c, PAYMENTS)]


def payment_for_the_booking_she_chose(m: Message) -> bool:
    """A notice's payment is for the booking of the button she tapped (or whose number she
    typed), or, when she types her phone number at its number question, of that question."""
    for command in m.commands:
        if isinstance(command, (AcceptOffer, RetryPayment, PayBalance)):
            chosen = m.data.get("after_phone") if her_number_typed(m) else m.meant
            if paid_booking(chosen or "") != command.booking_id:
                return False
    return True


def never_silence(m: Message) -> bool:
    """Every message gets an answer in words (invariant 6): never silence."""
    return any(text for text, _ in m.shown)


def numbers_answer_the_choices_shown_last(m: Message) -> bool:
    """On WhatsApp she types the number of a choice: the chat remembers the choices of the
    last message that showed any, so her "2" is the second of what she sees."""
    with_choices = [choices for _, choices in m.shown if choices]
    if not (m.numbered and with_choices):
        return True
    return [c for c, _ in with_choices[-1]] == [c for c, _ in m.after.data.get("offered") or []]


def refused_button_changes_nothing(m: Message) -> bool:
    """A button under an old notice (neither asked nor waiting) whose command the shop
    refuses changed nothing: the notices still to answer are as they were, and she is where
    she was, with her booking half made and the questions set aside; but for a number
    question for that same payment, which cannot go: set aside, it is dropped, and if it
    was the question she was at, it is over."""
    if not (m.refused and notice_button(m.meant) and notice_of(m.meant) not in notices_to_answer(m.data)):
        return True
    keys = {*engine.HALF_MADE, "notice", "notices_waiting"}
    before = {k: m.data.get(k) for k in keys}
    after = {k: m.after.data.get(k) for k in keys}
    booking = paid_booking(m.meant)
    if booking is not None:
        before["resume"] = after["resume"] = None
        if m.state == "phone" and paid_booking(m.data.get("after_phone") or "") == booking:
            return notices_to_answer(m.after.data) == notices_to_answer(m.data)
    return (m.after.state, after) == (m.state, before)


def freed_time_not_taken_said_when_its_question_ends(m: Message) -> bool:
    """"The freed time was not taken" is said when, and only when, her number question for
    the freed time she said Yes to ends for something else: not while it stands, nor when
    she ends it herself (back, stop, menu, a pause) or answers about that booking itself
    (its number, its own buttons, paying for it again)."""
    freed = freed_time_asking_her_number(m.state, m.data)
    ended = freed is not None and freed_time_asking_her_number(m.after.state, m.after.data) is None
    if any(render(Msg(FREED_TIME_NOT_TAKEN), "en") in text for text, _ in m.shown):
        return ended
    left_herself = m.after_pause or m.meant in ("back", "stop") or \
        (m.event.kind == "text" and m.event.text in ("menu", "back", "stop"))  # fmt: skip
    about_it = her_number_typed(m) or paid_booking(m.meant or "") == freed
    return not (ended and m.state == "phone" and not left_herself and not about_it)


def no_notice_lost_to_another(m: Message) -> bool:
    """A notice's button (or her number for its payment) answers that notice alone: any
    other notice asked or waiting is still to answer, asked again in turn."""
    if her_number_typed(m):
        own = notice_of(m.data["after_phone"])
    elif notice_button(m.meant):
        own = notice_of(m.meant)
    else:
        return True
    return not notices_to_answer(m.data) - notices_to_answer(m.after.data) - {own}


def rating_not_asked_again_once_given(m: Message) -> bool:
    """Once she rated the visit, the rating is not asked again (until another is asked)."""
    said = "\n".join(text for text, _ in m.shown)
    if not m.rating_given:
        said = said.partition(RATING_THANKED)[2]  # what follows her rating given now, if she gave it
    return RATING_ASKED not in said


RULES = [no_tap_left_pending, one_payment_at_most, no_payment_by_itself, payment_for_the_booking_she_chose,
         never_silence, numbers_answer_the_choices_shown_last, refused_button_changes_nothing,
         freed_time_not_taken_said_when_its_question_ends, no_notice_lost_to_another,
         rating_not_asked_again_once_given]  # fmt: skip


# -- the stories --------------------------------------------------------------------------------


def weighted(*strategies: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of `strategies`, each drawn about as often as its weight says."""
    return st.one_of(*(strategy for weight, strategy in strategies for _ in range(weight)))


MOVES = weighted(
    (5, st.builds(NoticeComes, st.sampled_from(sorted(NOTICES)))),
    (5, st.builds(Writes, tap=st.sampled_from(NOTICE_BUTTONS), granted=st.booleans())),
    (1, st.builds(Writes, tap=st.sampled_from(OTHER_BUTTONS), granted=st.booleans())),
    (5, st.builds(Writes, nth_shown=st.integers(0, 5), granted=st.booleans())),
    (2, st.builds(Writes, text=st.just(HER_NUMBER), granted=st.booleans())),
    (2, st.builds(Writes, text=st.sampled_from(["1", "2", "3"]), granted=st.booleans())),
    (1, st.builds(Writes, text=st.sampled_from(WORDS), granted=st.booleans())),
    (1, st.builds(Writes, text=st.sampled_from(["1", "2", "3"]), after_pause=st.just(True), granted=st.booleans())),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numbered=st.booleans(), moves=st.lists(MOVES, min_size=1, max_size=14))
def test_the_dialogue_keeps_the_shops_rules_whenever_notices_come(numbered, moves):
    """On Telegram (buttons) or WhatsApp (numbered choices), every message of hers keeps
    every rule, whatever notices came before it."""
    story = Story(numbered)
    for move in moves:
        message = story.play(move)
        broken = [rule for rule in RULES if not rule(message)] if message else []
        assert not broken, failure(broken, story)


def failure(broken: list, story: Story) -> str:
    """The rules broken, each with why it matters, then the story that broke them."""
    return "\n".join([*(f"{rule.__name__}: {inspect.getdoc(rule)}" for rule in broken), "", story.transcript()])
