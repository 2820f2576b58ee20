"""The staff dialogue: step(data, event, context) -> (data, replies, commands). Pure.

Mechanics and owners talk to the same bot as customers. Everything is reachable two
ways: by buttons (Telegram; numbered on WhatsApp) from a short menu, and by typed
commands in any of the four languages ("ready 1042", "готово 1042", "/close 24.12
stocktake"; see bot/staff_words.py). A mechanic works on their own jobs; the owner on
every job, and has the owner's commands too. The engine decides only what to say and
what to ask core for; permissions are checked again where commands are carried out.

States: home, jobs, job (one job's card), confirm (yes/no before a no-show, a hand-over
with money owed, going off shift), extra_desc → extra_price → extra_photo →
extra_confirm (reporting extra work), language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from babel.numbers import get_currency_precision

from bot import staff_words as words
from bot import understand
from bot.engine import said_first
from bot.model import Event, rest_of_album, since_last
from bot.speech import GLOBAL_WORDS, STALE, Speech
from bot.staff_model import (
    AnswerCustomer,
    Complete,
    Denied,
    Export,
    JobAction,
    JobView,
    MarkRefunded,
    ProposeExtra,
    Report,
    ResetTokens,
    Restock,
    SetDay,
    SetLanguage,
    Shift,
    Shown,
    StaffContext,
    StaffDone,
    StaffRefused,
    Stock,
)
from bot.understand._text import fold
from core import messages as m
from core import notices
from core.i18n import N_, NP_
from core.lifecycle import may_act
from core.messages import Choice, Msg, Reply, render

IDLE_AFTER = timedelta(minutes=30)
DRAFT_WAITS = timedelta(hours=2)  # extra work half written (its price looked up)
WORDS_OF_EXTRA = ("extra_desc", "extra_price")  # the steps of extra work that read words
DRAFTING = (*WORDS_OF_EXTRA, "extra_photo")  # the steps of extra work being written
EXTRA_WORK = (*DRAFTING, "extra_confirm")  # ...and sent for the customer's approval
FILE_NOT_SENT = N_("That file was not sent to anyone: only words and photos go through here. Send the words again "
                   "on their own if they were meant for someone.")  # fmt: skip
FILE_LEFT = N_("That file was not sent to anyone: only words and photos go through here.")  # no words with it to send
ANSWER_WAITS = timedelta(hours=12)  # an owner's answer to a customer, typed late, still goes; days later, no
STILL_ANSWERING = timedelta(minutes=10)  # photos after an answer go with it (an album comes a photo at a time)
RESTING = {"home", "jobs", "job"}
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili", "ru": "Русский", "kk": "Қазақша"}
# Which job statuses each action applies to (core checks again, by the rule book).
ALLOWED = {  # needs_reschedule: the car came all the same, and is taken in at its time if someone can
    "received": ("confirmed", "needs_reschedule"),
    "start": ("confirmed", "needs_reschedule", "received"),
    "extra": ("confirmed", "needs_reschedule", "received", "in_progress", "awaiting_approval"),
    "ready": ("confirmed", "needs_reschedule", "received", "in_progress", "awaiting_approval"),  # unanswered extra work is left out
    "done": ("received", "in_progress", "ready"),
    "noshow": ("confirmed",),
}
ACTION_LABELS = {
    "received": N_("Car received"),
    "start": N_("Start work"),
    "extra": N_("Extra work found"),
    "ready": N_("Ready for pickup"),
    "done": N_("Done, car handed over"),
    "noshow": N_("No-show"),
}
BUTTONS = {  # which actions a job's card offers, by status
    "confirmed": ("received", "start", "noshow"),
    "received": ("start", "extra", "ready"),
    "in_progress": ("extra", "ready"),
    "awaiting_approval": ("extra", "ready"),
    "ready": ("done",),
}
STATUS_NAMES = notices.STAFF_STATUS_NAMES
YES = ["yes", "ndio", "да", "иә", "ok"]
NO = ["no", "hapana", "нет", "жоқ"]


@dataclass(frozen=True)
class StaffStep:
    data: dict
    replies: list[Reply]
    commands: list


@dataclass
class Turn(Speech):
    ctx: StaffContext
    data: dict
    replies: list[Reply] = field(default_factory=list)
    commands: list = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.data.get("state", "home")

    @property
    def lang(self) -> str:
        return self.ctx.staff.language

    @property
    def owner(self) -> bool:
        return self.ctx.staff.role == "owner"

    def ask(self, state: str, *before: Msg) -> None:
        self.data["state"] = state
        PROMPTS[state](self, list(before))

    def done(self) -> StaffStep:
        self.data["at"] = self.ctx.now.isoformat()
        return StaffStep(self.data, self.replies, self.commands)


def step(data: dict | None, event: Event, ctx: StaffContext) -> StaffStep:
    """Advance the staff dialogue by one event. Never raises for anything typed."""
    done = _step(data, event, ctx)
    if event.kind == "photo" and event.album:  # the photos of its album coming next are not answered again
        done.data["album"] = event.album
    return done


def _step(data: dict | None, event: Event, ctx: StaffContext) -> StaffStep:
    turn = Turn(ctx, dict(data or {}))
    if turn.state not in PROMPTS:
        turn.data["state"] = "home"
    if event.kind == "outcome":
        _outcome(turn, event.outcome)
        return turn.done()
    if _rest_of_album(turn, event, turn.data.pop("album", None)):  # anything else between ends the album
        _pass_on_quietly(turn, event)
        return turn.done()
    if event.kind == "verified":
        s = ctx.staff
        role = Msg(N_("owner")) if s.role == "owner" else Msg(N_("mechanic"))
        greeting = Msg(N_("Thank you, {name}: you are now recognised as {role} of {shop}."),
                       {"name": notices.first_name(s.name), "role": m.message(role), "shop": s.shop})  # fmt: skip
        # their first message was already a command, or the answer to a message that reached them
        # before (a customer's words for the owner, as the staff template): do it
        command = words.parse(event.text) if event.text else None
        said_staff = command is not None and command.name == "staff"  # "/staff", as told: the greeting says it all
        if event.photo:  # a photo as any, its words its caption (its album's next photos: not answered again)
            then = replace(event, kind="photo")
        elif event.text and not event.other_file and not said_staff and \
                (command is not None or _named_choice(turn, event.text)):  # fmt: skip
            then = Event.typed(event.text)  # (the words of a PDF are no command)
        else:
            then = None
        if then is not None:
            result = step(data, then, ctx)
            return StaffStep(result.data, said_first((greeting,), result.replies), result.commands)
        file_said = [Msg(FILE_NOT_SENT if event.text.strip() else FILE_LEFT)] if event.other_file else []
        turn.ask("home", greeting, *file_said)  # its words (if any) no command either
        return turn.done()
    answering = turn.state == "answer" and event.kind in ("text", "photo") and not _idle(turn, ANSWER_WAITS)  # an answer keeps
    # extra work being written keeps a while too: a price looked up for 35 minutes is no booking number
    drafting = turn.state in DRAFTING and not _idle(turn, DRAFT_WAITS)
    if _idle(turn) and turn.state not in RESTING and not answering and not drafting:
        for key in ("extra", "confirm"):
            turn.data.pop(key, None)
        turn.data["state"] = "home"
    if event.kind == "start":
        number = words.booking_number(event.text or "")
        if number:
            _action(turn, "start", number)
        else:
            turn.ask("home")
        return turn.done()
    if event.kind == "contact":
        turn.ask("home", Msg(N_("You are already recognised as staff of {shop}."), {"shop": ctx.staff.shop}))
        return turn.done()
    if event.kind == "photo" and turn.state in WORDS_OF_EXTRA and event.text.strip():
        turn.data["extra"] = {**(turn.data.get("extra") or {}), "photo": event.photos[-1]}  # the work's photo; its words
        FREE_TEXT[turn.state](turn, event.text)  # the description or the price, never a command
        # several at once: the mechanic hears which one is kept; a PDF beside it, that it stays behind
        notes = [*([_extra_photo_taken(event, False)] if event.more_photos else []), *_file_left(event)]
        if notes and turn.replies:
            turn.replies[0] = replace(turn.replies[0], texts=(*notes, *turn.replies[0].texts))
        return turn.done()
    if event.kind == "photo":
        _photo(turn, event)
        return turn.done()
    if event.kind not in ("text", "choice"):  # a PDF alone is no unreadable message: it went nowhere, and that is said
        turn.ask(turn.state, Msg(FILE_LEFT) if event.other_file else
                 Msg(N_("I can read text, buttons and photos of extra work. Please type or tap.")))  # fmt: skip
        return turn.done()
    text = event.text if event.kind == "text" else ""
    named = _named_choice(turn, text) if event.kind == "text" and turn.state in FREE_TEXT else None
    if event.kind == "text" and turn.state in FREE_TEXT and named is None and not text.strip().startswith("/") \
            and not any(understand.looks_like(text, w) for w in ("back", "stop", "menu")) \
            and not _job_command_while_answering(turn, text):  # fmt: skip
        FREE_TEXT[turn.state](turn, text)
        return turn.done()
    choice = event.choice if event.kind == "choice" else named
    parsed = words.parse(text) if text else None
    if text and choice is None and not (parsed and (parsed.code or parsed.slash)):
        choice = understand.pick_choice(text, [(c, labels) for c, labels in turn.data.get("offered", [])])
    if choice is None and text:
        global_word = next((w for w in GLOBAL_WORDS if understand.looks_like(text, w)), None)
        if global_word == "back":
            turn.ask(BACK.get(turn.state, "home"))
            return turn.done()
        if global_word == "stop":
            turn.data.pop("extra", None)
            turn.data.pop("confirm", None)
            turn.ask("home", Msg(N_("Stopped. Nothing was changed.")))
            return turn.done()
        if global_word in ("help", "language"):
            parsed = words.Parsed(global_word, (), None, False)
    if choice is not None:
        _choice(turn, choice)
    elif parsed is not None and _says_it_came(turn, parsed):  # "Has its car come in?" "приехала", "limefika"
        _answer_confirm(turn, True)
    elif parsed is not None:
        _command(turn, parsed)
    elif turn.state in TEXT_ANSWERS:
        TEXT_ANSWERS[turn.state](turn, text)
    else:
        _not_understood(turn)
    return turn.done()


def _photo(turn: Turn, event: Event) -> None:
    """A photo is the extra work's while it is written (one goes with it: the latest), or
    goes with the owner's answer to a customer, as do the photos sent within minutes of
    it; anywhere else it goes to nobody, and they are told how to send one. Its words are
    its caption, never a command. Several in one message (WhatsApp) are answered once; a
    PDF or a video beside them goes nowhere, and that is said too (after "Sent to Amina."
    when they went with the owner's answer: data.file_left)."""
    answered = _answered_lately(turn)
    to = turn.data.get("answer_to") if turn.state == "answer" else None
    if turn.state in EXTRA_WORK:
        extra = turn.data.get("extra") or {}
        turn.data["extra"] = {**extra, "photo": event.photos[-1]}
        turn.ask("extra_confirm" if turn.state in ("extra_photo", "extra_confirm") else turn.state,
                 _extra_photo_taken(event, bool(extra.get("photo"))), *_file_left(event))  # fmt: skip
    elif to is not None or answered is not None:
        if event.other_file:
            turn.data["file_left"] = True
        turn.do(AnswerCustomer(answered if to is None else to, event.text.strip(), event.photo, event.more_photos))
    else:
        how = [Msg(N_("To send a photo to a customer, tap \"Answer\" under their message first."))] if turn.owner else []
        one, many = NP_("This photo was not sent to anyone.", "These photos were not sent to anyone.")
        turn.ask(turn.state, Msg(one, plural=many, n=len(event.photos)), *_file_left(event),
                 Msg(N_("To send a photo of extra work, first choose the job and \"Extra work found\".")), *how)  # fmt: skip


def _file_left(event: Event) -> list[Msg]:
    """A PDF or a video beside the photos is not passed on: the staff member is told, as a
    customer is (bot.engine._to_shop), or they would believe it went with the photos."""
    return [Msg(FILE_LEFT)] if event.other_file else []


def _extra_photo_taken(event: Event, replaced: bool) -> Msg:
    """What the mechanic is told of the extra work's photo: kept, in place of the one
    before, or (several sent at once) the last of them kept."""
    if event.more_photos:
        return Msg(N_("Only one photo goes with the extra work: the last of these."))
    if replaced:
        return Msg(N_("Only one photo goes with the extra work: this one, in place of the one before."))
    return Msg(N_("Photo received."))


def _rest_of_album(turn: Turn, event: Event, album: str | None) -> bool:
    """Whether a photo is one more of the album (Telegram sends each photo as a message of
    its own; WhatsApp photos sent together come so too, seconds apart: model.BURST) whose
    photo came just before, nothing between, minutes ago at most: that one's answer
    ("Sent to Amina.", or to nobody) is the album's, said once. Extra work keeps one
    photo, the latest: each is answered, saying so."""
    return rest_of_album(event, album, since_last(turn.data, turn.ctx.now), STILL_ANSWERING) and turn.state not in EXTRA_WORK


def _pass_on_quietly(turn: Turn, event: Event) -> None:
    """One more photo of an album already answered goes where a photo sent now goes (the
    customer the owner answers, as its first did, or nobody, as its first did), without a
    word: its delivery's outcome says nothing either (data.quietly)."""
    answered = _answered_lately(turn)
    if answered is not None:
        turn.data["quietly"] = True
        turn.do(AnswerCustomer(answered, event.text.strip(), event.photo, event.more_photos))


def _answered_lately(turn: Turn) -> int | None:
    """The customer the owner answered minutes ago, if he did: a photo that follows is
    for them too (the rest of an album)."""
    answered = turn.data.get("answered") or {}
    at = answered.get("at")
    fresh = bool(at) and turn.ctx.now - datetime.fromisoformat(at) <= STILL_ANSWERING
    return answered.get("to") if fresh else None


def _job_command_while_answering(turn: Turn, text: str) -> bool:
    """"ready 1042" typed while an answer to a customer (or extra work's description or
    price) is awaited is the command, not the words asked for: a command word, then at
    once the number of one of the shop's bookings ("received 1042 no scratches" too). A
    booking named further on is part of an answer ("Принял, ждём вас, запись ZA-1001",
    "Tayari nimekuwekea MM-1001 kesho"), which a command would otherwise swallow,
    telling the customer their car is in."""
    parsed = words.parse(text) if turn.state in FREE_TEXT else None
    if parsed is None or parsed.code is None or parsed.name == "job":
        return False
    opening = " ".join(text.split()[:3 if parsed.name == "noshow" else 2])  # "ready 1042", "no show 1042"
    if parsed.code.split("-")[-1] not in opening:  # a booking named further on: part of an answer
        return False
    if turn.ctx.find_job(parsed.code) is not None:
        return True
    # no such booking: "ready 1001" alone is still the command (its answer says so), but a round
    # sum, or words after it, are the answer ("Принял 15000", "Received 2500, thanks")
    return not parsed.args and not parsed.code.endswith("00")


def _row_id(text: str) -> int | None:
    """The row id a button names ("st:job:42"), or None for anything a forged one holds
    instead ("²", twenty digits)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _named_choice(turn: Turn, text: str) -> str | None:
    """Where a description or a price is typed, a choice still counts when named whole:
    its number in the list (WhatsApp shows "1. Cancel"), or its label in any language.
    No work is called "1", and no price is Ksh1."""
    offered = turn.data.get("offered", [])
    typed = fold(text.strip())
    if typed.isdecimal() and 1 <= int(typed) <= len(offered):
        return offered[int(typed) - 1][0]
    return next((cid for cid, labels in offered if typed in {fold(label) for label in labels}), None)


def _idle(turn: Turn, after: timedelta = IDLE_AFTER) -> bool:
    return since_last(turn.data, turn.ctx.now) > after


def _not_understood(turn: Turn) -> None:
    turn.ask(turn.state, Msg(N_("Sorry, I did not get that.")), Msg(N_("Tap a button, or type /help for the commands.")))


# -- choices and commands -----------------------------------------------------------------


def _choice(turn: Turn, choice: str) -> None:
    parts = choice.split(":")
    if parts[0] != "st":
        _not_understood(turn)
        return
    what = parts[1] if len(parts) > 1 else ""
    arg = parts[2] if len(parts) > 2 else ""
    row = _row_id(parts[3] if what == "a" and len(parts) == 4 else arg)  # the row a button names
    if what == "home":
        turn.ask("home")
    elif what == "jobs":
        turn.ask("jobs")
    elif what == "job" and row:
        _open_job(turn, turn.ctx.job(row))
    elif what == "answer" and row and not turn.owner:
        turn.do(Denied("answer"))  # before a customer's name is shown
    elif what == "answer" and row:
        turn.data["answer_to"] = row
        turn.data.pop("answered", None)  # photos now are for this one, not for the one answered before
        turn.ask("answer")
    elif what == "a" and len(parts) == 4 and row:
        _act_on(turn, arg, turn.ctx.job(row))
    elif what in ("yes", "no"):
        _confirmed(turn, what == "yes", arg)
    elif what == "skip" and turn.state == "extra_photo":
        turn.ask("extra_confirm")
    elif what == "off":
        _ask_confirm(turn, {"what": "off"})
    elif what == "on":
        turn.do(Shift(True))
    elif what == "lang" and arg:
        turn.do(SetLanguage(arg))
    elif what == "lang":
        turn.ask("language")
    elif what in ("stock", "today", "digest", "week", "hours", "help"):
        _command(turn, words.Parsed(what, (), None, False))
    else:
        _not_understood(turn)


def _command(turn: Turn, p: words.Parsed) -> None:
    ctx, name = turn.ctx, p.name
    if name in words.OWNER_ONLY and not turn.owner:
        turn.do(Denied(name))
        return
    if name in words.JOB_ACTIONS:
        _action(turn, name, p.code)
    elif name in ("jobs", "job") or (name == "today" and not turn.owner):
        if p.code:
            _open_job(turn, ctx.find_job(p.code), p.code)
        else:
            turn.ask("jobs")
    elif name == "offshift":
        _ask_confirm(turn, {"what": "off"})
    elif name == "onshift":
        turn.do(Shift(True))
    elif name == "stock":
        turn.do(Stock())
    elif name == "restock":
        qty = words.parse_qty(p.args[-1]) if p.args else None
        if len(p.args) < 2 or qty is None:
            turn.ask("home", Msg(N_("Write it like this: /restock oil-filter 10")))
        else:
            turn.do(Restock(" ".join(p.args[:-1]), qty))
    elif name in ("digest", "today", "week", "hours"):
        day = None
        if name == "digest" and p.args:  # a day gone by, as for an export ("23.11" is this November's)
            day, _ = words.parse_day(p.args, ctx.today(), turn.lang, past=True)
            if day is None:
                turn.ask("home", Msg(N_("Which day? Write it like this: {example}"), {"example": "/digest 2026-11-23"}))
                return
        turn.do(Report(name, day or ctx.today()))
    elif name in ("close", "open"):
        day, rest = words.parse_day(p.args, ctx.today(), turn.lang)
        if day is None:
            example = "/close 2026-12-24" if name == "close" else "/open 2026-12-26"
            turn.ask("home", Msg(N_("Which day? Write it like this: {example}"), {"example": example}))
        else:
            turn.do(SetDay(day, name == "close", " ".join(rest)[:200] or None))
    elif name == "tokens":
        args = [a for a in p.args if words._key(a) not in words.TOKENS_WORDS]
        if not args:
            turn.ask("home", Msg(N_("Whose tokens? Write their phone or one of their booking codes, like this: "
                                    "/tokens reset {phone} or /tokens reset {code}"),
                                 {"phone": ctx.staff.phone_example, "code": f"{ctx.staff.code_prefix}-1001"}))  # fmt: skip
        else:
            turn.do(ResetTokens(" ".join(args)))
    elif name == "refunded":
        if p.code:
            turn.do(MarkRefunded(p.code))
        else:
            example = f"/refunded {ctx.staff.code_prefix}-1001"
            turn.ask("home", Msg(N_("Which booking? Write it like this: {example}"), {"example": example}))
    elif name == "export":
        span = words.parse_span(p.args, ctx.today(), turn.lang)
        if span is None:
            turn.ask("home", Msg(N_("Which days? Write it like this: /export 2026-11-01 2026-11-30")))
        else:
            turn.do(Export(*span))
    elif name == "help":
        turn.ask("home", *help_texts(turn))
    elif name == "menu":
        turn.ask("home")
    elif name == "language":
        turn.ask("language")
    elif name == "staff":
        turn.ask("home", Msg(N_("You are already recognised as staff of {shop}."), {"shop": ctx.staff.shop}))
    else:
        _not_understood(turn)


def _action(turn: Turn, action: str, number: str | None) -> None:
    """An action typed with or without a booking number."""
    ctx = turn.ctx
    if number:
        _act_on(turn, action, ctx.find_job(number), number)
        return
    on_screen = turn.data.get("job") and turn.state in ("job", "confirm") and not _idle(turn)  # not one left hours ago
    current = ctx.job(turn.data["job"]) if on_screen else None
    if current is not None:
        _act_on(turn, action, current)
        return
    fits = [j for j in ctx.jobs() if j.status in ALLOWED[action] and _mine(turn, j)]
    if len(fits) == 1:  # a guess: shown, not done ("nimefika", I have arrived, must not tell a customer their car is in)
        turn.data["job"] = fits[0].id
        turn.ask("job", Msg(N_("Is it this job? Tap what to do.")))
    elif not fits:
        turn.ask("jobs", Msg(N_("None of your jobs today can be marked \"{action}\" now."),
                             {"action": m.message(Msg(ACTION_LABELS[action]))}))  # fmt: skip
    else:
        word = words.WORD_FOR[action].get(turn.lang, words.WORD_FOR[action]["en"])
        turn.ask("jobs", Msg(N_("Which job? Choose one below, or add its number, like \"{example}\"."),
                             {"example": f"{word} {fits[0].code}"}))  # fmt: skip


def _mine(turn: Turn, job: JobView) -> bool:
    return may_act(turn.owner, turn.ctx.staff.id, job.mechanic_id, job.status)


def _open_job(turn: Turn, job: JobView | None, number: str | None = None) -> None:
    if job is None:
        turn.ask("jobs", Msg(N_("I cannot find booking {code} in this shop."), {"code": number or "?"}))
    elif not _mine(turn, job):
        turn.do(Denied(f"job {job.code}"))
    else:
        turn.data["job"] = job.id
        turn.ask("job")


def _act_on(turn: Turn, action: str, job: JobView | None, number: str | None = None, came: bool = False) -> None:
    """Move the job, or ask first what needs asking (`came`: its car was said to have come in)."""
    if job is None:
        turn.ask("jobs", Msg(N_("I cannot find booking {code} in this shop."), {"code": number or "?"}))
        return
    if not _mine(turn, job):
        turn.do(Denied(f"{action} {job.code}"))
        return
    turn.data["job"] = job.id
    if job.status == "awaiting_approval" and action == "ready":
        _ask_confirm(turn, {"what": "leave_out", "job": job.id})
    elif job.status == "awaiting_approval" and action in ("done", "start"):
        turn.ask("job", Msg(N_("{code} is waiting for the customer's answer about the extra work."), {"code": job.code}))
    elif job.status not in ALLOWED[action]:
        turn.ask("job", Msg(N_("{code} is {status} now, so that cannot be done."),
                            {"code": job.code, "status": m.message(Msg(STATUS_NAMES.get(job.status, job.status)))}))  # fmt: skip
    elif action == "noshow" and turn.ctx.now < job.start:
        turn.ask("job", Msg(N_("{code} starts at {time}; it can be marked a no-show only after that."),
                            {"code": job.code, "time": m.clock(job.start, turn.ctx.staff.timezone)}))  # fmt: skip
    elif action == "noshow":
        _ask_confirm(turn, {"what": "noshow", "job": job.id})
    elif action in ("received", "start", "ready") and job.status == "confirmed" and _not_today(turn, job) and not came:
        _ask_confirm(turn, {"what": "early", "job": job.id, "action": action})  # "tayari 1001" for next week's?
    elif action == "done" and job.balance_minor > 0:
        _ask_confirm(turn, {"what": "paid", "job": job.id})
    elif action == "done":
        turn.do(Complete(job.id, False))
    elif action == "extra":
        turn.data["extra"] = {"job": job.id}
        turn.ask("extra_desc")
    else:
        turn.do(JobAction(job.id, action))


# -- outcomes -----------------------------------------------------------------------------


def _not_today(turn: Turn, job: JobView) -> bool:
    """Whether the visit is still more than half a day away: its car has most likely not
    come (a booking number mistyped, an answer read as a command). Tonight's 23:30 car
    taken in at 00:05, or a car that came later than its time, is no question."""
    return job.start - turn.ctx.now > EARLY_AFTER


EARLY_AFTER = timedelta(hours=12)


def _says_it_came(turn: Turn, parsed) -> bool:
    """The answer to "Has its car come in?" given as the action itself ("келді",
    "arrived", "received 1001"): yes."""
    asked = turn.data.get("confirm") or {}
    job = turn.ctx.job(asked.get("job") or 0) if turn.state == "confirm" and asked.get("what") == "early" else None
    return job is not None and parsed.name in ("received", "start", "ready") and \
        (parsed.code is None or job.code.endswith(parsed.code.split("-")[-1]))


def _outcome(turn: Turn, outcome) -> None:
    quietly = turn.data.pop("quietly", False)  # one more photo of an album answered already
    left = [Msg(FILE_LEFT)] if turn.data.pop("file_left", False) else []  # a PDF beside the answer's photos
    if isinstance(outcome, Shown):
        turn.ask("home", *outcome.texts)
        return
    if isinstance(outcome, StaffRefused):
        back = turn.state if turn.state in RESTING else "home"
        turn.ask(back, Msg(outcome.reason, outcome.params), *left)
        return
    if not isinstance(outcome, StaffDone):
        turn.ask("home", Msg(N_("Sorry, something went wrong. Please try again.")))
        return
    d, what = outcome.detail, outcome.what
    if what == "moved":
        left_out = [Msg(N_("Left out, as the customer did not answer: {work}."), {"work": w}) for w in d.get("left_out", [])]
        given = [Msg(N_("It is {name}'s job now, and they have been told."), {"name": d["given_to"]})] \
            if d.get("given_to") else []  # fmt: skip
        turn.ask("job", Msg(N_("{code} is now: {status}. The customer has been told."),
                            {"code": d["code"], "status": m.message(Msg(STATUS_NAMES.get(d["status"], d["status"])))}),
                 *given, *left_out)  # fmt: skip
    elif what == "noshow":
        one, many = NP_("{code} is marked as a no-show. The customer has been told ({n} token left).",
                        "{code} is marked as a no-show. The customer has been told ({n} tokens left).")
        turn.ask("jobs", Msg(one, {"code": d["code"]}, plural=many, n=d["tokens_left"]))
    elif what == "completed":
        texts = [Msg(N_("{code} is completed. The customer has the receipt and was asked for a rating."), {"code": d["code"]})]
        if d.get("low_parts"):
            texts.append(Msg(N_("Parts now below their minimum: {parts}. The owner has been told."),
                             {"parts": ", ".join(d["low_parts"])}))  # fmt: skip
        turn.ask("jobs", *texts)
    elif what == "extra":
        turn.data.pop("extra", None)
        turn.ask("job", Msg(N_("Sent to the customer: {work}, {price}. I will tell you when they answer."),
                            {"work": d["work"], "price": m.money(d["price"], turn.ctx.staff.currency)}))  # fmt: skip
    elif what == "off":
        texts = [Msg(N_("You are off shift now. Enjoy your rest!"))]
        if d["moved"]:
            texts.append(Msg(N_("Handed to colleagues: {codes}."), {"codes": ", ".join(d["moved"])}))
        if d["waiting"]:
            texts.append(Msg(N_("Need a new time (customers and the owner were told): {codes}."),
                             {"codes": ", ".join(d["waiting"])}))  # fmt: skip
        turn.ask("home", *texts)
    elif what == "on":
        turn.ask("home", Msg(N_("You are on shift again: customers can be booked with you.")))
    elif what == "restock":
        turn.ask("home", Msg(N_("{part}: {stock} in stock now."), {"part": d["part"], "stock": d["stock"]}))
    elif what == "day":
        when = m.day(datetime.fromisoformat(d["noon"]), turn.ctx.staff.timezone)
        texts = [Msg(N_("{day} is now closed for bookings.") if d["closed"] else N_("{day} is now open for bookings."),
                     {"day": when})]  # fmt: skip
        if d["closed"] and d["codes"]:
            texts.append(Msg(N_("Bookings already on that day: {codes}. Please contact those customers."),
                             {"codes": ", ".join(d["codes"])}))  # fmt: skip
        turn.ask("home", *texts)
    elif what == "tokens":
        turn.ask("home", Msg(N_("Tokens restored for {phone}: {n} this month. The customer has been told."),
                             {"phone": d["phone"], "n": d["n"]}))  # fmt: skip
    elif what == "answered":  # a photo after the answer went to the one answered: the next may too
        to = turn.data.pop("answer_to", None) or (turn.data.get("answered") or {}).get("to")
        turn.data["answered"] = {"to": to, "at": turn.ctx.now.isoformat()}
        if not quietly:
            turn.ask("home", Msg(N_("Sent to {name}."), {"name": d["name"]}), *left)
    elif what == "refunded":
        turn.ask("home", Msg(N_("Booking {code}: {amount} marked as returned. The customer has been told."),
                             {"code": d["code"], "amount": m.money(d["amount"], d["currency"])}))  # fmt: skip
    elif what == "export":
        one, many = NP_("Here is the export: {n} booking.", "Here is the export: {n} bookings.")
        turn.ask("home", Msg(one, {}, plural=many, n=d["rows"]))
    elif what == "digest":
        turn.data["state"] = "home"  # the digest itself (text and chart) is the answer
    elif what == "language":
        turn.ask("home", Msg(N_("Done.")))
    else:
        turn.ask("home")


# -- confirmations ------------------------------------------------------------------------


def _ask_confirm(turn: Turn, what: dict) -> None:
    turn.data["confirm"] = what
    if what.get("job"):
        turn.data["job"] = what["job"]
    turn.ask("confirm")


def prompt_confirm(turn: Turn, before: list[Msg]) -> None:
    c = turn.data.get("confirm") or {}
    job = turn.ctx.job(c["job"]) if c.get("job") else None
    currency = turn.ctx.staff.currency
    if c.get("what") == "noshow" and job:
        texts = [Msg(N_("Mark {code} ({time}, {customer}) as a no-show? It costs the customer a token."),
                     {"code": job.code, "time": m.clock(job.start, turn.ctx.staff.timezone), "customer": job.customer})]  # fmt: skip
        choices = [Msg(N_("Yes, no-show")), Msg(N_("No"))]
    elif c.get("what") == "paid" and job:
        texts = [Msg(N_("{code}: the customer owes {balance}. Did they pay it at the shop?"),
                     {"code": job.code, "balance": m.money(job.balance_minor, currency)})]  # fmt: skip
        choices = [Msg(N_("Yes, paid in cash")), Msg(N_("Not paid yet"))]
    elif c.get("what") == "leave_out" and job:
        texts = [Msg(N_("The customer has not answered about the extra work on {code} yet. Mark the car ready "
                        "and leave that work out?"), {"code": job.code})]  # fmt: skip
        choices = [Msg(N_("Yes, ready without it")), Msg(N_("No, wait for the answer"))]
    elif c.get("what") == "early" and job:
        texts = [Msg(N_("{code} is booked for {when}. Has its car come in already?"),
                     {"code": job.code, "when": m.when(job.start, turn.ctx.staff.timezone)})]  # fmt: skip
        choices = [Msg(N_("Yes, it is here")), Msg(N_("No"))]
    elif c.get("what") == "off":
        texts = [Msg(N_("Go off shift now? Your upcoming jobs go to free colleagues, or their customers are asked "
                        "to choose a new time."))]  # fmt: skip
        choices = [Msg(N_("Yes, go off shift")), Msg(N_("No"))]
    else:
        turn.ask("home", *before)
        return
    _offer_yes_no(turn, before + texts, *choices)


def _offer_yes_no(turn: Turn, texts: list[Msg], yes: Msg, no: Msg) -> None:
    """Yes and No whose ids name the question (st:yes:<question>), so that a button
    left on an earlier question is not taken for an answer to this one."""
    asked = _question(turn)
    turn.offer(texts, [Choice(f"st:yes:{asked}", yes), Choice(f"st:no:{asked}", no)],
               {f"st:yes:{asked}": YES, f"st:no:{asked}": NO})  # fmt: skip


def _question(turn: Turn) -> str:
    if turn.state == "extra_confirm":
        extra = turn.data.get("extra") or {}
        return f"extra-{extra.get('job')}-{extra.get('price')}"
    c = turn.data.get("confirm") or {}
    return f"{c.get('what')}-{c.get('job') or 0}"


def _confirmed(turn: Turn, yes: bool, asked: str) -> None:
    """st:yes / st:no answer the question of the current state, if it is still the one
    asked."""
    if turn.state not in ("confirm", "extra_confirm") or asked != _question(turn):
        turn.ask(turn.state, Msg(STALE))
    elif turn.state == "extra_confirm":
        _extra_confirmed(turn, yes)
    else:
        _answer_confirm(turn, yes)


def _answer_confirm(turn: Turn, yes: bool) -> None:
    c = turn.data.pop("confirm", None) or {}
    what, job_id = c.get("what"), c.get("job")
    if what == "noshow" and yes:
        turn.do(JobAction(job_id, "noshow"))
    elif what == "paid":
        turn.do(Complete(job_id, yes))
    elif what == "leave_out" and yes:
        turn.do(JobAction(job_id, "ready_leaving_out"))
    elif what == "off" and yes:
        turn.do(Shift(False))
    elif what == "early" and yes:  # it did come: do it, without asking again
        _act_on(turn, c.get("action"), turn.ctx.job(job_id), came=True)
    elif what in ("noshow", "off", "leave_out", "early"):
        turn.ask("job" if job_id else "home", Msg(N_("OK, nothing was changed.")))
    else:
        turn.ask(turn.state if turn.state in RESTING else "home")


# -- extra work ---------------------------------------------------------------------------


def _extra_job(turn: Turn) -> JobView | None:
    extra = turn.data.get("extra") or {}
    return turn.ctx.job(extra["job"]) if extra.get("job") else None


def prompt_answer(turn: Turn, before: list[Msg]) -> None:
    name = turn.ctx.customer_name(turn.data.get("answer_to") or 0)
    if name is None:
        turn.ask("home", *before, Msg(N_("That customer can no longer be reached here.")))
        return
    turn.offer(before + [Msg(N_("Type your answer to {name}: it goes to them as you write it."), {"name": name})],
               [Choice("st:home", Msg(N_("Cancel")))])  # fmt: skip


def text_answer(turn: Turn, text: str) -> None:
    if turn.data.get("answer_to") is None:
        turn.ask("home")
    elif not text.strip():
        _not_understood(turn)
    else:
        turn.do(AnswerCustomer(turn.data["answer_to"], text.strip()))


def prompt_extra_desc(turn: Turn, before: list[Msg]) -> None:
    job = _extra_job(turn)
    if job is None:
        turn.ask("jobs", *before)
        return
    turn.offer(before + [Msg(N_("Extra work on {code} ({vehicle}): what is needed? Describe it in a few words."),
                             {"code": job.code, "vehicle": job.vehicle or "-"})],
               [Choice(f"st:job:{job.id}", Msg(N_("Cancel")))])  # fmt: skip


def text_extra_desc(turn: Turn, text: str) -> None:
    text = " ".join(text.split())
    if len(text) < 3:
        _not_understood(turn)
        return
    turn.data["extra"]["work"] = text[:300]
    turn.ask("extra_price")


def prompt_extra_price(turn: Turn, before: list[Msg]) -> None:
    job = _extra_job(turn)
    if job is None:
        turn.ask("jobs", *before)
        return
    turn.offer(before + [Msg(N_("How much will \"{work}\" cost? Type the price, like 2500."),
                             {"work": turn.data["extra"]["work"]})],
               [Choice(f"st:job:{job.id}", Msg(N_("Cancel")))])  # fmt: skip


def text_extra_price(turn: Turn, text: str) -> None:
    price = understand.parse_amount(text, get_currency_precision(turn.ctx.staff.currency))
    if not price:
        turn.ask("extra_price", Msg(N_("That does not look like a price. Type a number, like 2500.")))
        return
    turn.data["extra"]["price"] = price
    turn.ask("extra_confirm" if turn.data["extra"].get("photo") else "extra_photo")  # sent with the words before


def prompt_extra_photo(turn: Turn, before: list[Msg]) -> None:
    turn.offer(before + [Msg(N_("Send a photo of it for the customer, or skip."))],
               [Choice("st:skip", Msg(N_("Skip the photo")))], {"st:skip": SKIP_WORDS})  # fmt: skip


# The prompt's own word for skipping, as typed, in the four languages (the button says "Без фото").
SKIP_WORDS = ["skip", "no photo", "ruka", "bila picha", "пропустить", "пропуск", "пропусти", "пропускаю", "без фото",
              "өткізу", "өткізіп жіберу", "өткіз", "фотосыз"]  # fmt: skip


def prompt_extra_confirm(turn: Turn, before: list[Msg]) -> None:
    job, extra = _extra_job(turn), turn.data.get("extra") or {}
    if job is None or not extra.get("price"):
        turn.ask("jobs", *before)
        return
    currency = turn.ctx.staff.currency
    texts = [Msg(N_("Ask the customer to approve \"{work}\" for {price}? With it, the total is {total}."),
                 {"work": extra["work"], "price": m.money(extra["price"], currency),
                  "total": m.money(job.price_minor + extra["price"], currency)})]  # fmt: skip
    _offer_yes_no(turn, before + texts, Msg(N_("Send to the customer")), Msg(N_("Cancel")))


def _extra_confirmed(turn: Turn, yes: bool) -> None:
    extra = turn.data.get("extra") or {}
    if yes and extra.get("price"):
        turn.do(ProposeExtra(extra["job"], extra["work"], extra["price"], extra.get("photo")))
    else:
        turn.data.pop("extra", None)
        turn.ask("job", Msg(N_("OK, nothing was sent.")))


# -- the other states ---------------------------------------------------------------------


def prompt_home(turn: Turn, before: list[Msg]) -> None:
    s = turn.ctx.staff
    if turn.owner:
        choices = [("st:today", N_("Today")), ("st:jobs", N_("All jobs today")), ("st:digest", N_("Digest now")),
                   ("st:week", N_("This week")), ("st:stock", N_("Stock")), ("st:hours", N_("Opening hours")),
                   ("st:help", N_("Help"))]  # fmt: skip
    else:
        shift = ("st:off", N_("Go off shift")) if s.on_shift else ("st:on", N_("Back on shift"))
        choices = [("st:jobs", N_("My jobs today")), shift, ("st:stock", N_("Stock")), ("st:help", N_("Help"))]
    turn.offer(before + [Msg(N_("{name}, what do you need?"), {"name": notices.first_name(s.name)})],
               [Choice(cid, Msg(label)) for cid, label in choices])  # fmt: skip


def prompt_jobs(turn: Turn, before: list[Msg]) -> None:
    ctx = turn.ctx
    jobs = ctx.jobs()
    tz = ctx.staff.timezone
    if not jobs:
        turn.offer(before + [Msg(N_("No jobs today."))], [Choice("st:home", Msg(N_("Main menu")))])
        return
    title = Msg(N_("All jobs today:")) if turn.owner else Msg(N_("Your jobs today:"))
    choices = []
    for j in jobs:
        status = render(Msg(STATUS_NAMES.get(j.status, j.status)), turn.lang)
        label = f"{_clock(j.start, tz)} {j.code} · {j.vehicle or j.customer} · {status}"
        choices.append(Choice(f"st:job:{j.id}", label))
    choices.append(Choice("st:home", Msg(N_("Main menu"))))
    turn.offer(before + [title], choices, {f"st:job:{j.id}": [j.code, j.code.split("-")[-1]] for j in jobs})


def _clock(at: datetime, tz: str) -> str:
    from core.i18n import local_time

    return local_time(at, tz).strftime("%H:%M")


def prompt_job(turn: Turn, before: list[Msg]) -> None:
    job = turn.ctx.job(turn.data.get("job") or 0)
    if job is None:
        turn.ask("jobs", *before)
        return
    s = turn.ctx.staff
    money = lambda minor: m.money(minor, s.currency)  # noqa: E731
    texts = before + [
        Msg(N_("{code}, {when}: {status}"), {"code": job.code, "when": m.when(job.start, s.timezone),
                                              "status": m.message(Msg(STATUS_NAMES.get(job.status, job.status)))}),
        Msg(N_("Customer: {name}"), {"name": job.customer}),
        Msg(N_("Vehicle: {vehicle}"), {"vehicle": job.vehicle or "-"}),
        Msg(N_("Services: {services}"), {"services": m.join([m.names(n) for n in job.service_names])}),
    ]  # fmt: skip
    if job.notes:
        texts.append(Msg(N_("Notes: {notes}"), {"notes": job.notes}))
    if turn.owner:
        texts.append(Msg(N_("Mechanic: {name}"), {"name": job.mechanic}))
    for x in job.extras:
        texts.append(Msg(N_("Extra work: {work}, {price} ({answer})"), {
            "work": x.description, "price": money(x.price_minor), "answer": m.message(Msg(EXTRA_ANSWERS[x.status]))}))  # fmt: skip
    texts.append(Msg(N_("Total {total}, paid {paid}."), {"total": money(job.price_minor), "paid": money(job.paid_minor)}))
    if job.history:
        texts.append(Msg(N_("Earlier visits of this vehicle:")))
        texts += [Msg(N_("{day}: {services} ({code})"), {"day": m.day(h.start, s.timezone),
                      "services": m.join([m.names(n) for n in h.service_names]), "code": h.code}) for h in job.history]  # fmt: skip
    if job.status == "awaiting_approval":
        texts.append(Msg(N_("Waiting for the customer's answer about the extra work.")))
    choices = [Choice(f"st:a:{a}:{job.id}", Msg(ACTION_LABELS[a])) for a in BUTTONS.get(job.status, ())]
    choices.append(Choice("st:jobs", Msg(N_("Back to the jobs"))))
    turn.offer(texts, choices)


EXTRA_ANSWERS = {"proposed": N_("waiting for the customer"), "approved": N_("approved"), "declined": N_("declined"),
                 "left_out": N_("left out, not answered")}


def prompt_language(turn: Turn, before: list[Msg]) -> None:
    langs = turn.ctx.staff.languages
    turn.offer(before + [Msg(N_("Which language do you prefer?"))],
               [Choice(f"st:lang:{c}", LANGUAGE_NAMES.get(c, c)) for c in langs],
               {f"st:lang:{c}": [c] for c in langs})  # fmt: skip


def help_texts(turn: Turn) -> list[Msg]:
    texts = [Msg(N_("Staff commands (words in English, Swahili, Russian or Kazakh all work):")),
             Msg(N_("jobs: today's jobs. {code}: a job's card."), {"code": f"{turn.ctx.staff.code_prefix}-1042"})]  # fmt: skip
    texts.append(Msg(N_("received, start, extra, ready, done, no-show, followed by the booking number: "
                        "move a job, e.g. \"ready 1042\".")))  # fmt: skip
    texts.append(Msg(N_("off shift / on shift. stock: parts in stock.")))
    if turn.owner:
        texts.append(Msg(N_("Owner: /digest, /today, /week, /hours, /close DATE [reason], /open DATE, "
                            "/tokens reset PHONE|CODE, /export FROM TO, /restock PART QTY, /refunded CODE.")))  # fmt: skip
    return texts


def _yes_no_choice(turn: Turn, text: str) -> None:
    answer = understand.parse_yes_no(text)
    if answer is None:
        _not_understood(turn)
    else:
        _confirmed(turn, answer, _question(turn))  # typed, it answers the question asked now


PROMPTS: dict[str, Callable[[Turn, list[Msg]], None]] = {
    "home": prompt_home, "jobs": prompt_jobs, "job": prompt_job, "confirm": prompt_confirm, "answer": prompt_answer,
    "extra_desc": prompt_extra_desc, "extra_price": prompt_extra_price, "extra_photo": prompt_extra_photo,
    "extra_confirm": prompt_extra_confirm, "language": prompt_language,
}  # fmt: skip
# States whose answer is free text (a description, a price): read before any command.
FREE_TEXT: dict[str, Callable[[Turn, str], None]] = {"extra_desc": text_extra_desc, "extra_price": text_extra_price,
                                                    "answer": text_answer}  # fmt: skip
TEXT_ANSWERS: dict[str, Callable[[Turn, str], None]] = {"confirm": _yes_no_choice, "extra_confirm": _yes_no_choice}
BACK = {"jobs": "home", "job": "jobs", "confirm": "job", "extra_desc": "job", "extra_price": "extra_desc",
        "extra_photo": "extra_price", "extra_confirm": "job", "language": "home", "home": "home",
        "answer": "home"}  # fmt: skip
