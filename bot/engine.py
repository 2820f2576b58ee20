"""The conversation engine: step(state, event, context) -> (state, replies, commands).

Pure: no database, no network. The same engine talks on Telegram, WhatsApp and the
terminal; each channel renders the replies its own way. Every state knows how to ask
its question (`prompts`) and how to understand an answer (`handlers`); anything not
understood gets the question again with a word on what is expected, so a person never
meets silence. The states are drawn in bot/conversation.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache

from bot import understand
from bot.model import Command, Context, Event, MessageShop, SetLanguage, rest_of_album, since_last
from bot.speech import GLOBAL_WORDS, Speech
from core.chat_data import start_over
from core.i18n import N_, NP_
from core.messages import Choice, Msg, Reply, remembered_choices

log = logging.getLogger(__name__)

IDLE_AFTER = timedelta(minutes=30)
WRITING_WAITS = timedelta(hours=2)  # "Talk to the shop" opened, the message not written yet
SHOP_ANSWER_OPEN = timedelta(hours=2)  # after the shop's answer, the customer's words are their reply
STILL_WRITING = timedelta(minutes=10)  # after her last message to the shop, what follows is for it too (an album)
SHOP_WORDS_KEPT = 4096  # the longest message Telegram takes; the senders split what the owner's header makes longer
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili", "ru": "Русский", "kk": "Қазақша"}
# Each language as people name it in the others ("казахский", "Kiingereza"), typed at the question.
LANGUAGE_ALIASES = {
    "en": ["english", "английский", "ағылшын", "ағылшынша", "kiingereza", "english language", "английский язык",
           "ағылшын тілі", "lugha ya kiingereza"],
    "sw": ["swahili", "суахили", "свахили", "swahili language", "lugha ya kiswahili"],
    "ru": ["russian", "русский", "по-русски", "орыс", "орысша", "kirusi", "russian language", "русский язык",
           "орыс тілі", "на русском"],
    "kk": ["kazakh", "казахский", "по-казахски", "қазақ", "kikazakh", "kazakh language", "казахский язык",
           "қазақ тілі", "қазақша", "на казахском"],
}  # fmt: skip
# States in the middle of something: coming back after a long pause starts over.
RESTING = {"start", "menu"}
# What a notice's payment keeps while it asks for a number: the choice to carry out once it
# is given, whether it is another number for that payment only, and that number.
PHONE_STEP = ("after_phone", "new_phone", "pay_from")
# What a question set aside needs besides the booking half made, kept with it in data.resume
# and given back when it is asked again: a notice's number question, what its payment is.
KEPT_WITH = {"phone": PHONE_STEP}
# What a booking (or a change to one) half made keeps: forgotten at the menu (a chat starting
# over, core.chat_data, forgets more: everything that is not the chat's own).
HALF_MADE = ("services", "vehicle_id", "plate", "day", "start", "alternatives", "booking_id", "code", "mode", "method",
             "wanted", "wanted_on", "resume", "my_vehicle", "requested", "requested_when", "reminder",
             *PHONE_STEP)  # fmt: skip


@dataclass(frozen=True)
class Step:
    state: str
    data: dict
    replies: list[Reply]
    commands: list[Command]
    # What goes first in the answer, when this step says nothing itself: it only asked core to
    # do something (save the car, hold a time), and the round after it speaks (bot.runner).
    notes: tuple[Msg, ...] = ()


@dataclass
class Turn(Speech):
    """One step in the making: where we go, what we say, what we ask core to do."""

    ctx: Context
    state: str
    data: dict
    replies: list[Reply] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.data.get("lang") or self.ctx.customer.language or default_language(self.ctx)

    def ask(self, state: str, *before: Msg) -> None:
        """Go to `state` and put its question, after any sentences in `before`."""
        self.state = state
        PROMPTS[state](self, list(before))

    def start_over(self, *keep: str) -> None:
        """Start the chat afresh (core.chat_data: what is the chat's own stays), keeping
        besides what the step that follows reads (`keep`)."""
        self.data = start_over(self.data, *keep)

    def done(self) -> Step:
        self.data["at"] = self.ctx.now.isoformat()
        return Step(self.state, self.data, self.replies, self.commands)


def default_language(ctx: Context) -> str:
    hint = ctx.language_hint
    return hint if hint in ctx.shop.languages else ctx.shop.languages[0]


Handler = Callable[[Turn, Event, str | None], None]
PROMPTS: dict[str, Callable[[Turn, list[Msg]], None]] = {}
HANDLERS: dict[str, Handler] = {}
BACK: dict[str, str | Callable[[Turn], str]] = {}  # where "back" goes from each state
GLOBAL_CHOICES: dict[str, Callable[[Turn, str], None]] = {}  # prefix -> handler


def state(name: str, back: str | Callable[[Turn], str] = "menu"):
    """Register a state's prompt and handler (decorating a pair of functions)."""

    def register(pair):
        prompt, handler = pair
        PROMPTS[name], HANDLERS[name], BACK[name] = prompt, handler, back
        return pair

    return register


def step(state_name: str, data: dict, event: Event, ctx: Context) -> Step:
    """Advance the conversation by one event. Never raises for anything a person types."""
    greeted = _first_contact(state_name, data)  # a first photo is answered by the greeting alone
    done = _step(state_name, data, event, ctx, greeted)
    if event.kind == "photo" and event.album and not greeted:  # the answer said where it went: the photos of
        done.data["album"] = event.album  # its album coming next are not answered again
    return _file_said(done, event, greeted)


def _file_said(done: Step, event: Event, greeted: bool) -> Step:
    """A file that is not a photo (a PDF, a video) never goes anywhere, whatever its words
    did (a plate typed, a service chosen): she hears so once, first, unless the answer said
    it already (words or photos sent to the shop). A first message is answered by the
    greeting alone, its words and photos reaching nobody either: only the file is spoken of."""
    if not event.other_file or any(m.id == FILE_NOT_PASSED_ON for r in done.replies for m in r.texts) \
            or any(m.id == FILE_NOT_PASSED_ON for m in done.notes):  # fmt: skip
        return done
    return _noted(done, Msg(FILE_NOT_PASSED_ON_AT_FIRST if greeted else FILE_NOT_PASSED_ON))


def _first_contact(state_name: str, data: dict | None) -> bool:
    """A chat's very first message: it is answered by the greeting, whatever it was."""
    return (state_name if state_name in HANDLERS else "start") == "start" and "offered" not in (data or {})


def _step(state_name: str, data: dict, event: Event, ctx: Context, greeted: bool) -> Step:
    turn = Turn(ctx, state_name if state_name in HANDLERS else "start", dict(data or {}))
    if event.kind == "outcome":
        HANDLERS[turn.state](turn, event, None)
        return turn.done()
    if _rest_of_album(turn, event, turn.data.pop("album", None)):  # anything else between ends the album
        return _pass_on_quietly(turn, event)
    if turn.state == "notice_again":  # saved so by chats before a notice asked again left them at the question
        turn.state = resumed(turn)  # it came over: that question reads what is written now
    # words for the shop keep a while (a message takes thought), not for days: then "book" is a booking
    writing_to_shop = turn.state == "message_shop" and event.kind in ("text", "photo") and \
        not _idle(turn, WRITING_WAITS)  # fmt: skip
    choosing_language = turn.state == "language" and event.kind in ("text", "choice")
    idle = _idle(turn) and turn.state not in RESTING
    notice = _notice_answer(turn, event) if idle else None  # read before the reset forgets what was offered
    if idle and notice is None and choosing_language:  # the answer is taken (read by the choices offered);
        turn.start_over("offered")  # what it interrupted long ago is not brought back
    elif idle and notice is None and writing_to_shop:  # so too the words for the shop: sent, and then the menu
        forget_half_made(turn)
    elif idle:  # a notice answered so late over the language or the words for the shop: the menu follows too
        turn.start_over()
        turn.state = "menu"
        if notice is not None:  # a notification's answer works however long ago it came
            return _guarded(turn, event, lambda: follow_choice(turn, notice))
        # her words (or photo) within two hours of the shop's answer are most likely her reply: read
        # at the menu, where what it does not understand goes to the shop; anything else starts afresh
        if not (event.kind in ("text", "photo") and _talking_with_shop(turn)):
            turn.ask("menu", Msg(N_("Welcome back! We left off a while ago, so let's start again.")),
                     *(_photo_not_sent(event) if event.kind == "photo" else []))  # fmt: skip
            return turn.done()
    if greeted or event.kind == "start" or (event.kind == "text" and understand.looks_like(event.text, "menu")):
        if turn.state == "start":
            if event.kind == "start" and event.text:
                turn.data["deep_link"] = event.text  # followed once the language is chosen
            _guess_language(turn, event)
            _remember_request(turn, event)
            turn.ask("start")
        elif event.kind == "start" and event.text:
            follow_deep_link(turn, event.text)
        else:
            turn.ask("menu")
        return turn.done()
    if event.kind == "foreign_contact":
        turn.ask(turn.state, Msg(N_("Please share your own number, using the button below.")))
        return turn.done()
    if event.kind in ("unsupported", "location"):
        turn.ask(turn.state, *_cannot_read(turn, event))
        return turn.done()
    if event.kind == "photo" and not _goes_to_shop(turn) and _caption_answers(turn, event):
        return _noted(step(state_name, data, Event.typed(event.text), ctx), *_photo_not_sent(event))
    if event.kind == "photo":
        _photo(turn, event)
        return turn.done()
    choice = resolve(turn, event)
    return _guarded(turn, event, lambda: _answer(turn, event, choice))


def _cannot_read(turn: Turn, event: Event) -> list[Msg]:
    """What to say to a sticker, a location or an edit: what can be read here, in the
    channel's own terms (WhatsApp has numbers, not buttons). Of a file alone, nothing:
    `_file_said` says it was not passed on ("I can only read text" would deny the photos)."""
    if event.other_file:
        return []
    if event.text == "edited":
        return [Msg(EDITED)]
    if turn.ctx.numbered:
        return [Msg(N_("I can only read text here. Please type your answer, or the number of a choice."))]
    return [Msg(N_("I can only read text and buttons here. Please type your answer or tap a button."))]


EDITED = N_("I saw that you edited a message. Please send the new text as a new message.")
PHOTO_NOT_SENT = NP_("This photo was not sent to anyone. To send a photo to the shop, choose "
                     "\"Talk to the shop\" in the menu, then send the photo.",
                     "These photos were not sent to anyone. To send photos to the shop, choose "
                     "\"Talk to the shop\" in the menu, then send the photos.")  # fmt: skip
FILE_NOT_PASSED_ON = N_("Your file was not passed on: only words and photos reach the shop.")
FILE_NOT_PASSED_ON_AT_FIRST = N_("Your file was not passed on.")  # the greeting answers the rest of the message


def _photo_not_sent(event: Event) -> list[Msg]:
    """What she is told of the photos of a message that reached nobody (several in one
    WhatsApp message are said so), and of a PDF or a video beside them, which never goes."""
    one, many = PHOTO_NOT_SENT
    return [Msg(one, plural=many, n=len(event.photos)), *_file_not_passed_on(event)]


def _file_not_passed_on(event: Event) -> list[Msg]:
    return [Msg(FILE_NOT_PASSED_ON)] if event.other_file else []


def _photo(turn: Turn, event: Event) -> None:
    """A photo goes to the shop as their words would (written to it, or the shop's answer
    lately at the menu, a notice's question open or not), and so does each photo sent
    within minutes of her last message to it (an album comes a photo at a time), the
    question she was at asked again; elsewhere it is said where photos go, and the
    question waits."""
    here = "notice_again" if turn.state == "menu" and notice_open(turn) else turn.state
    if turn.state == "message_shop":
        _to_shop(turn, event, resumed(turn))
    elif _goes_to_shop(turn):
        _to_shop(turn, event, here)
    else:
        turn.ask(here, *_photo_not_sent(event))


def _rest_of_album(turn: Turn, event: Event, album: str | None) -> bool:
    """Whether a photo is one more of the album (Telegram sends each photo as a message of
    its own; WhatsApp photos sent together come so too, seconds apart: model.BURST) whose
    photo came just before, nothing between, minutes ago at most: that one's answer ("sent
    to the shop", or to nobody) is the album's, said once. Words under it that do not go
    to the shop are read as ever (they may answer the question)."""
    return rest_of_album(event, album, since_last(turn.data, turn.ctx.now), STILL_WRITING) and \
        (_goes_to_shop(turn) or not event.text.strip())  # fmt: skip


def _pass_on_quietly(turn: Turn, event: Event) -> Step:
    """One more photo of an album already answered goes where a photo sent now goes (the
    shop, as its first did within minutes, or nobody, as its first did), without a word:
    the chat stays at the question that answer asked."""
    if _goes_to_shop(turn):
        _pass_on(turn, event)
    return turn.done()


def _goes_to_shop(turn: Turn) -> bool:
    """Whether a photo sent now is for the shop: written to it, sent within minutes of her
    last message to it (wherever the chat went back to), or sent while the talk with the
    shop goes on (at the menu, or with a notice's question asked again)."""
    return turn.state == "message_shop" or _wrote_to_shop_lately(turn) or \
        turn.state == "menu" and _talking_with_shop(turn)


def _caption_answers(turn: Turn, event: Event) -> bool:
    """Whether the words under a photo answer the question asked (a plate at the car's
    step, a day): they are read as if typed. At the menu, or under a notice, they are
    about the photo ("My car" is no "My vehicles")."""
    return bool(event.text.strip()) and turn.state not in ("start", "menu")


def _noted(done: Step, *notes: Msg) -> Step:
    """A step's answer with `notes` said first, in the same message; a step that says
    nothing (a make saved, a time held: the round after it answers) carries them to it."""
    if not done.replies and done.commands:
        return replace(done, notes=(*notes, *done.notes))
    return replace(done, replies=said_first(notes, done.replies))


def said_first(notes: tuple[Msg, ...], replies: list[Reply]) -> list[Reply]:
    """`notes` first in the first message of `replies` that says anything (alone when none
    does): one message, never a note sent on its own before the answer."""
    if not notes:
        return replies
    at = next((i for i, r in enumerate(replies) if r.texts or r.choices or r.ask_contact), None)
    if at is None:
        return [Reply(tuple(notes)), *replies]
    first = replies[at]
    return [*replies[:at], replace(first, texts=(*notes, *first.texts)), *replies[at + 1:]]


def _guarded(turn: Turn, event: Event, act: Callable[[], None]) -> Step:
    """Carry out a step; a button whose data does not parse ("day:abc", forged: a
    button's data is the one thing a client can make up) is answered as a button we
    never sent, from the menu, with nothing of the step kept."""
    before = Turn(turn.ctx, turn.state, dict(turn.data))
    try:
        act()
    except (ValueError, IndexError) as exc:
        if event.kind != "choice":
            raise
        log.warning("a button that does not parse in state %s: %r (%s)", before.state, event.choice[:64], exc)
        turn = before
        turn.ask("menu", Msg(N_("That button is no longer valid.")))
    return turn.done()


def _answer(turn: Turn, event: Event, choice: str | None) -> None:
    if notice := _global_choice(choice):
        notice(turn, choice)
    elif not _global_word(turn, event, choice):
        HANDLERS[turn.state](turn, event, choice)


def resolve(turn: Turn, event: Event) -> str | None:
    """The choice a person meant: the one tapped, or the one their text matches."""
    offered = [(cid, labels) for cid, labels in turn.data.get("offered", [])]
    if event.kind == "choice":
        return event.choice
    if event.kind == "text" and offered:
        return understand.pick_choice(event.text, offered) or _rating(event.text, offered)
    return None


def _rating(text: str, offered: list) -> str | None:
    """The rating choice a typed rating means while the question waits: "⭐⭐⭐⭐⭐",
    "5 stars", "nyota 5", "4/5" (the choices themselves are only the digits)."""
    rates = {cid.rsplit(":", 1)[1]: cid for cid, _labels in offered if cid.startswith("rate:")}
    stars = understand.parse_rating(text) if rates else None
    return rates.get(str(stars)) if stars else None


def _global_choice(choice: str | None) -> Callable[[Turn, str], None] | None:
    return next((h for p, h in GLOBAL_CHOICES.items() if choice and choice.startswith(p)), None)


def follow_choice(turn: Turn, choice: str) -> None:
    """Carry out a notification's choice now, as if it were tapped (one put off until
    the customer gave what it needs)."""
    _global_choice(choice)(turn, choice)


def _notice_answer(turn: Turn, event: Event) -> str | None:
    """The notification's choice this event answers (tapped, or typed as on WhatsApp), if any."""
    choice = resolve(turn, event)
    return choice if _global_choice(choice) else None


def _idle(turn: Turn, after: timedelta = IDLE_AFTER) -> bool:
    return since_last(turn.data, turn.ctx.now) > after


def _global_word(turn: Turn, event: Event, choice: str | None) -> bool:
    """"back", "stop", "help" and "language" work in every state."""
    if choice in ("back", "stop") or (event.kind == "text" and not choice):
        word = choice or next((w for w in GLOBAL_WORDS
                               if understand.looks_like(event.text, w)), None)  # fmt: skip
    else:
        word = None
    if word == "back":
        back = BACK.get(turn.state, "menu")
        turn.ask(back(turn) if callable(back) else back)
    elif word == "stop":  # her writing to the shop ends too: what follows is not for it (a photo reaches nobody)
        turn.start_over()
        turn.data.pop("wrote_shop", None)
        turn.ask("menu", Msg(N_("Stopped. Nothing was changed.")))
    elif word == "help":  # mid-way, the question again after it: nothing half made is dropped
        turn.ask(again(turn), *help_texts())
    elif word == "language":
        set_aside(turn, "language")  # a booking half made goes on in the new language
        turn.ask("language")
    return word is not None


def again(turn: Turn) -> str:
    """The question being answered, asked again after a word on the side (help, a button
    that can do nothing now): the menu's, at rest."""
    return "menu" if turn.state in RESTING else turn.state


def set_aside(turn: Turn, *besides: str) -> None:
    """Keep the question being answered (a booking half made) while something else is
    asked in its place, to ask it again, with what was chosen, once that is done: not at
    rest, nor on a step of that something else (`besides`). Each question set aside is
    kept over those set aside before it (the language asked while a notice's number is,
    a booking's day under it), and each is asked again in turn, the last first; with it,
    what it alone needs (KEPT_WITH). A step of the something else set aside before is
    taken up now, not kept to be asked again (Reply, the language, Reply again: the
    message is asked for once)."""
    kept = [entry for entry in _entries(turn) if _question(entry) not in besides]
    if turn.state not in RESTING.union(besides):
        needs = {key: turn.data.pop(key) for key in KEPT_WITH.get(turn.state, ()) if key in turn.data}
        kept.append({"question": turn.state, **needs} if needs else turn.state)
    _keep(turn, kept)


def questions_set_aside(turn: Turn) -> list[str]:
    """The questions set aside, the first set aside first."""
    return [_question(entry) for entry in _entries(turn)]


def drop_set_aside(turn: Turn, answered: Callable[[dict], bool]) -> None:
    """Take off the stack each question set aside whose own answer was given another way
    meanwhile (`answered`, of what it keeps: a notice's payment carried out): asked again,
    it would ask for what is done."""
    _keep(turn, [entry for entry in _entries(turn) if not (isinstance(entry, dict) and answered(entry))])


def _entries(turn: Turn) -> list[str | dict]:
    """data.resume: each a question's name, or its name with what it alone needs."""
    kept = turn.data.get("resume") or []
    return [kept] if isinstance(kept, str) else list(kept)  # one name, as chats saved it before


def _question(entry: str | dict) -> str:
    return entry["question"] if isinstance(entry, dict) else entry


def _keep(turn: Turn, entries: list[str | dict]) -> None:
    if entries:
        turn.data["resume"] = entries
    else:
        turn.data.pop("resume", None)


def resumed(turn: Turn) -> str:
    """The question set aside last, to be asked now (and no longer kept), with what it
    needs given back, or else the menu: once the something else is done, or left with
    "back"."""
    entries = _entries(turn)
    entry = entries.pop() if entries else None
    _keep(turn, entries)
    if isinstance(entry, dict):
        for key in KEPT_WITH.get(entry["question"], ()):
            turn.data.pop(key, None)
        turn.data.update({key: value for key, value in entry.items() if key != "question"})
    question = _question(entry) if entry else None
    return question if question in PROMPTS else "menu"


def forget_half_made(turn: Turn) -> None:
    """Something new begins (the menu, a new booking, a deep link): nothing of a booking
    or a change half made before, nor a question set aside, is carried into it."""
    for key in HALF_MADE:
        turn.data.pop(key, None)


def begin_booking(turn: Turn) -> None:
    """A new booking, its services still to choose: not a change of time half made (its
    mode and booking), nor anything chosen for another booking."""
    forget_half_made(turn)
    turn.data["services"] = []


def help_texts() -> list[Msg]:
    return [
        Msg(N_("I can book your car in, show and change your bookings, and keep your vehicles.")),
        Msg(N_("Tap a button or type its number. You can also type things like \"tomorrow 10am\". "
               "\"Back\" goes one step back, \"menu\" starts over, \"stop\" cancels what we are doing.")),
    ]  # fmt: skip


def not_understood(turn: Turn, expected: Msg) -> None:
    """A short re-prompt that says what is expected, then the question again."""
    turn.ask(turn.state, Msg(N_("Sorry, I did not get that.")), expected)


# -- start and menu -----------------------------------------------------------------------


def prompt_start(turn: Turn, before: list[Msg]) -> None:
    shop = turn.ctx.shop
    choices = [Choice(f"lang:{code}", LANGUAGE_NAMES[code]) for code in shop.languages]
    greeting = Msg(N_("Hello! This is {shop}. I can book your car in and keep you posted."),
                   {"shop": shop.name})  # fmt: skip
    turn.offer(before + [greeting, Msg(N_("Which language do you prefer?"))], choices,
               {f"lang:{c}": [c, LANGUAGE_NAMES[c], *LANGUAGE_ALIASES[c]] for c in shop.languages})  # fmt: skip


def handle_start(turn: Turn, event: Event, choice: str | None) -> None:
    if choice and choice.startswith("lang:") and choice[5:] in turn.ctx.shop.languages:
        _set_language(turn, choice.removeprefix("lang:"))  # one of the shop's: never a language made up
        return
    # Anything else: carry on in the language we guessed, and answer from the menu.
    _guess_language(turn, event)
    _set_language(turn, turn.lang, announce=False)
    HANDLERS["menu"](turn, event, resolve(turn, event))


def _guess_language(turn: Turn, event: Event) -> None:
    """Before a language is chosen, words plainly in one of the shop's languages
    ("Habari, nataka...") decide it, over the phone's setting."""
    guessed = understand.language_of(event.text, turn.ctx.shop.languages) if event.kind == "text" else None
    if guessed:
        turn.data["lang"] = guessed


def _remember_request(turn: Turn, event: Event) -> None:
    """A first message that names the shop's services ("записаться на замену масла") is
    booked once the language is chosen, as a deep link is, with the day and time said
    with them, read as of today ("замена масла завтра в 10"); "menu" typed instead
    forgets it."""
    requested = _services_asked(turn, event)
    turn.data.pop("requested", None)
    turn.data.pop("requested_when", None)
    if requested:
        turn.data["requested"] = _service_ids(requested)
    if requested and requested.wanted:
        turn.data["requested_when"] = {"wanted": requested.wanted, "on": turn.ctx.today().isoformat()}


def _set_language(turn: Turn, lang: str, announce: bool = True) -> None:
    turn.data["lang"] = lang
    turn.do(SetLanguage(lang))
    link = turn.data.pop("deep_link", None)
    requested = turn.data.pop("requested", None)  # words typed instead of a language say more now
    requested_when = turn.data.pop("requested_when", None) or {}
    if link:
        if announce:
            turn.say(Msg(N_("Great, let's talk in English.")))
        follow_deep_link(turn, link)
    elif requested and announce:
        _book(turn, requested, Msg(N_("Great, let's talk in English.")), wanted=requested_when.get("wanted"),
              wanted_on=requested_when.get("on"))  # fmt: skip
    elif announce:
        turn.ask("menu", Msg(N_("Great, let's talk in English.")))
    else:
        turn.state = "menu"


def follow_deep_link(turn: Turn, payload: str) -> None:
    """t.me/<bot>?start=<payload>: "book" starts a booking; a booking code of the
    customer's opens it; anything else lands on the menu."""
    code = payload.strip().upper().replace("_", "-")
    forget_half_made(turn)
    if code.lower() == "book":
        begin_booking(turn)
        turn.ask("services")
        return
    mine = next((b for b in turn.ctx.bookings() if b.code == code), None)
    if mine is not None:
        turn.data["booking_id"] = mine.id
        turn.ask("booking")
    else:
        turn.ask("menu")


state("start", back="start")((prompt_start, handle_start))

MENU = [
    ("m:book", N_("Book a service")),
    ("m:bookings", N_("My bookings")),
    ("m:vehicles", N_("My vehicles")),
    ("m:shop", N_("Talk to the shop")),
    ("m:lang", N_("Language")),
    ("m:help", N_("Help")),
]


# Words people type for a menu entry, in any of the four languages.
MENU_WORDS = {
    "m:book": ["book", "booking", "записаться", "запись", "жазылу", "жазылғым", "weka nafasi", "kuweka nafasi",
               "agiza", "i want to book", "want to book", "make a booking", "book an appointment",
               "nataka kuweka nafasi", "book me in", "book me", "appointment", "запишите", "запишите меня",
               "запиши меня", "жазып қойыңыз", "weka miadi", "kuweka miadi", "nataka kuweka miadi", "записать",
               "запиши", "жазылайын", "жазылуға"],
    "m:bookings": ["my bookings", "bookings", "мои записи", "записи", "менің жазылуларым", "nafasi zangu",
                   "check my booking", "check my bookings", "проверить запись", "проверить записи",
                   "жазылуды тексеру", "жазылуымды тексеру", "angalia nafasi yangu", "angalia nafasi zangu"],
    "m:vehicles": ["my vehicles", "my cars", "vehicles", "мои машины", "машины", "көліктерім", "magari yangu"],
    "m:shop": ["talk", "operator", "оператор", "связаться", "байланыс", "ongea na duka"],
}


def prompt_menu(turn: Turn, before: list[Msg]) -> None:
    forget_half_made(turn)
    turn.offer(before + [Msg(N_("What would you like to do?"))], [Choice(cid, Msg(label)) for cid, label in MENU],
               MENU_WORDS)  # fmt: skip


def handle_menu(turn: Turn, event: Event, choice: str | None) -> None:
    if choice is None and event.kind == "text" and not understand.is_position(event.text):
        choice = _menu_word(turn, event.text)  # "book" when a newer message's choices took the menu's place
    talk = understand.small_talk(event.text) if event.kind == "text" else None  # "Habari", "Asante": no "Sorry"
    requested = _services_asked(turn, event) if choice in (None, "m:book") else None
    if requested and not _talked_over(turn, requested):
        _book(turn, _service_ids(requested), wanted=requested.wanted)
    elif choice == "m:book":
        begin_booking(turn)
        turn.ask("services")
    elif choice == "m:bookings":
        turn.ask("bookings")
    elif choice == "m:vehicles":
        turn.ask("vehicles")
    elif choice == "m:shop":
        turn.ask("message_shop")
    elif choice == "m:lang":
        turn.ask("language")
    elif choice == "m:help":
        turn.ask("menu", *help_texts())
    elif notice_open(turn):  # a notice's question is open ("sure", "thanks" to extra work): it again, not the menu
        if talk is None and event.kind == "text" and event.text.strip() and _talking_with_shop(turn):
            _to_shop(turn, event, "notice_again")  # their reply to the shop, the notice still open
            return
        turn.ask("notice_again", Msg(SMALL_TALK_REPLY.get(talk, N_("Sorry, I did not get that."))))
    elif talk:
        turn.ask("menu", Msg(SMALL_TALK_REPLY[talk]))
    elif event.kind == "text" and not requested and not understand.is_position(event.text) and \
            understand.parse_when(event.text, turn.ctx.today(), turn.lang):  # "9" is a place in the list, not 9:00
        begin_booking(turn)  # "tomorrow 10am" from the menu: start a booking, and keep the time
        flows_booking.keep_wanted(turn, event.text)  # "tomorrow" of today
        turn.ask("services", Msg(N_("Let's book. First, which service?")))
    elif event.kind == "text" and event.text.strip() and _talking_with_shop(turn):  # their words for the shop
        _to_shop(turn, event, "menu")
    elif event.kind == "text" and understand.small_talk(event.text, plain_yes=True):
        turn.ask("menu")  # "ok", "sawa": heard, and nothing was asked
    else:
        not_understood(turn, Msg(N_("Please choose one of the options below.")))


SMALL_TALK_REPLY = {"greeting": N_("Hello!"), "thanks": N_("You're welcome!")}


def _services_asked(turn: Turn, event: Event) -> understand.Request | None:
    """The services a message at the menu names ("записаться на замену масла", "oil
    change"), and the day and time said with them ("oil change tomorrow 10am")."""
    return flows_booking.services_requested(turn, event.text) if event.kind == "text" else None


def _talked_over(turn: Turn, requested: understand.Request) -> bool:
    """Whether services named alone, without words that ask to book, are part of the talk
    with the shop or about a notice, still going on ("замена масла" after the shop's
    answer, "oil change tomorrow 10am" too): then they book nothing."""
    return not requested.asked and (notice_open(turn) or _talking_with_shop(turn))


def _service_ids(requested: understand.Request) -> list[int]:
    return [int(p.removeprefix("svc:")) for p in requested.picked]


def _book(turn: Turn, service_ids: list[int], *before: Msg, wanted: str | None = None,
          wanted_on: str | None = None) -> None:
    """A booking begun with the services already named, at the question that follows them;
    the day and time `wanted` with them (typed on `wanted_on`, today if not said) kept
    for when the day is asked."""
    begin_booking(turn)
    if wanted:
        flows_booking.keep_wanted(turn, wanted, date.fromisoformat(wanted_on) if wanted_on else None)
    flows_booking.add_services(turn, service_ids, *before)


def _menu_word(turn: Turn, text: str) -> str | None:
    """A menu entry named by its words ("book", "мои записи"), whatever choices the chat
    remembers last (the shop's answer offers only "Reply"); not read again when those are
    the menu's own (resolve read them already)."""
    menu = _menu_as_remembered(turn.lang)
    return None if turn.data.get("offered") == menu else understand.pick_choice(text, menu)


@lru_cache(maxsize=len(LANGUAGE_ALIASES))
def _menu_as_remembered(lang: str) -> list[list]:
    return remembered_choices([Choice(cid, Msg(label)) for cid, label in MENU], lang, MENU_WORDS)


def _talking_with_shop(turn: Turn) -> bool:
    """Whether the shop answered this customer in the last two hours (core.notices marks
    it), or they wrote to it minutes ago: then words the menu does not understand are
    for the shop, not a mistake."""
    at = turn.data.get("shop_answered")
    answered = bool(at) and turn.ctx.now - datetime.fromisoformat(at) <= SHOP_ANSWER_OPEN
    return answered or _wrote_to_shop_lately(turn)


def _wrote_to_shop_lately(turn: Turn) -> bool:
    """Whether the customer's last message to the shop went minutes ago: what they send
    next (the rest of an album, words added) is for the shop too."""
    at = turn.data.get("wrote_shop")
    return bool(at) and turn.ctx.now - datetime.fromisoformat(at) <= STILL_WRITING


def notice_open(turn: Turn) -> bool:
    """Whether the choices the customer sees are a notice's (extra work, an offer...)."""
    notice = turn.data.get("notice")
    return bool(notice) and notice.get("offered") == turn.data.get("offered")


state("menu", back="menu")((prompt_menu, handle_menu))


def prompt_language(turn: Turn, before: list[Msg]) -> None:
    langs = turn.ctx.shop.languages
    turn.offer(before + [Msg(N_("Which language do you prefer?"))],
               [Choice(f"lang:{c}", LANGUAGE_NAMES[c]) for c in langs],
               {f"lang:{c}": [c, LANGUAGE_NAMES[c], *LANGUAGE_ALIASES[c]] for c in langs})  # fmt: skip


def handle_language(turn: Turn, event: Event, choice: str | None) -> None:
    if choice and choice.startswith("lang:") and choice[5:] in turn.ctx.shop.languages:
        question = resumed(turn)
        _set_language(turn, choice[5:], announce=question == "menu")
        if question != "menu":
            turn.ask(question, Msg(N_("Great, let's talk in English.")))
    else:
        not_understood(turn, Msg(N_("Please choose a language from the list.")))


state("language", back=resumed)((prompt_language, handle_language))


REPLY_TO_SHOP = "reply:shop"  # the choice under the shop's answer: write to the shop again
REPLY_WORDS = ["reply", "answer", "jibu", "ответить", "ответ", "жауап", "жауап беру"]


def on_reply_to_shop(turn: Turn, choice: str) -> None:
    """"Reply" under the shop's answer, from any state: a booking half made goes on after."""
    set_aside(turn, "message_shop")
    turn.ask("message_shop")


GLOBAL_CHOICES[REPLY_TO_SHOP] = on_reply_to_shop


def prompt_message_shop(turn: Turn, before: list[Msg]) -> None:
    turn.offer(before + [Msg(N_("Write your message and the shop will answer you here."))],
               [Choice("back", Msg(N_("Back")))])  # fmt: skip


def _to_shop(turn: Turn, event: Event, then: str) -> None:
    """The customer's words (the caption of their photo, if any) to the shop's owners,
    said to be sent, and the question `then`. A file other than a photo does not go: they
    are told so."""
    _pass_on(turn, event)
    turn.ask(then, Msg(N_("Sent to the shop. They will answer you here.")), *_file_not_passed_on(event))


def _pass_on(turn: Turn, event: Event) -> None:
    """The customer's words (or photos) to the owners; what follows within minutes is for them too."""
    turn.do(MessageShop(event.text.strip()[:SHOP_WORDS_KEPT], event.photo, event.more_photos))
    turn.data["wrote_shop"] = turn.ctx.now.isoformat()


def handle_message_shop(turn: Turn, event: Event, choice: str | None) -> None:
    if event.kind == "text" and event.text.strip():
        _to_shop(turn, event, resumed(turn))  # written in the middle of a booking: it goes on
    else:
        not_understood(turn, Msg(N_("Please type your message.")))


state("message_shop", back=resumed)((prompt_message_shop, handle_message_shop))

# The booking and account flows register their states on import.
from bot import flows_account, flows_booking  # noqa: E402,F401
