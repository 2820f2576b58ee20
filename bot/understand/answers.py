"""Short answers: yes/no, a star rating, and the global commands.

Why one module: these all map a handful of words per language to a tiny set
of meanings, so they share the same shape — a word table at the top and a
small, strict matcher below.  Strictness matters more than reach here: a
wrong "yes" confirms a booking or a price the customer did not agree to.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from ._text import clean, fold, squash_repeats, words

# --- yes / no ---------------------------------------------------------------
# One line per language (en, ru, kk, sw).  Written naturally; folded on load.
YES_WORDS = """
    yes y yeah yea ya yep yup ok okay k kk sure confirm confirmed correct right fine agree alright
    да ага угу конечно ок окей хорошо ладно давай согласен согласна подтверждаю верно точно
    иә ия иа жарайды әрине болады дұрыс келісемін
    ndio ndiyo sawa ehe naam haya kweli poa
"""
NO_WORDS = """
    no n nope nah never decline dont nay
    нет неа ноу отказ
    жоқ жок
    hapana la siyo sio sitaki hakuna
"""
NO_PHRASES = """
    not now|not really|not today|not interested|no thanks|no thank you
    не надо|не нужно|не хочу|не буду|не согласен|не согласна|не сейчас
    керек емес|қажет емес|келіспеймін
    si sasa
"""
YES_PHRASES = """
    of course|go ahead|do it|please do|sounds good|why not
    да конечно|конечно да|без проблем
    иә әрине
    ndio sawa|sawa sawa|hakuna shida|hakuna tatizo
"""
# Words that neither agree nor refuse and may sit next to an answer.
POLITE = """
    please thanks thank you thx pls its it is that thats i want do go lets me so very much
    спасибо пожалуйста спс
    рахмет раҳмет
    asante tafadhali
"""
# Words that flip or hedge meaning; with them a single-word reading is unsafe.
HEDGES = "not не емес maybe perhaps может возможно мүмкін labda but но бірақ lakini".split()

YES_EMOJI = "👍✅✔👌🆗☑"
NO_EMOJI = "👎❌✖🚫⛔❎"

MAX_ANSWER_WORDS = 6  # "yes please, thank you so much" is an answer; a paragraph is not
MAX_UNKNOWN_WORDS = 2  # "ok change the time to 10" is not a plain yes


def _set(block: str) -> frozenset[str]:
    return frozenset(squash_repeats(w) for w in words(block))


def _phrases(block: str) -> frozenset[str]:
    return frozenset(
        " ".join(words(p)) for line in block.splitlines() for p in line.split("|") if p.strip()
    )


_YES, _NO, _POLITE = _set(YES_WORDS), _set(NO_WORDS), _set(POLITE)
_YES_PHRASES, _NO_PHRASES = _phrases(YES_PHRASES), _phrases(NO_PHRASES)
_HEDGES = frozenset(fold(w) for w in HEDGES)
_LONG_YES = sorted(w for w in _YES if len(w) >= 5)
_LONG_NO = sorted(w for w in _NO if len(w) >= 5)


def _emoji_meanings(raw: str) -> set[bool]:
    """{True} for 👍, {False} for 👎, both when someone sends both."""
    found = set()
    if any(ch in raw for ch in YES_EMOJI):
        found.add(True)
    if any(ch in raw for ch in NO_EMOJI):
        found.add(False)
    return found


def _phrase_answer(tokens: list[str]) -> bool | None:
    """A known phrase, alone or followed only by polite words ("no thanks")."""
    for size in range(len(tokens), 0, -1):
        head = " ".join(tokens[:size])
        if all(t in _POLITE for t in tokens[size:]):
            if head in _NO_PHRASES:
                return False
            if head in _YES_PHRASES:
                return True
    return None


def _word_polarity(word: str) -> bool | None:
    """True/False for a yes/no word, tolerating a typo in longer words only."""
    word = squash_repeats(word)
    if word in _YES:
        return True
    if word in _NO:
        return False
    if len(word) < 5:
        return None  # "yas", "nop": too close to other short words to guess
    yes = max((fuzz.ratio(word, w) for w in _LONG_YES), default=0)
    no = max((fuzz.ratio(word, w) for w in _LONG_NO), default=0)
    if max(yes, no) < 80 or yes == no:
        return None
    return yes > no


def parse_yes_no(text: str) -> bool | None:
    """Return True for agreement, False for refusal, None when unsure.

    Why so careful: the answer confirms bookings and extra-work prices.  We
    accept short answers in en/ru/kk/sw, stretched words ("yeees") and a typo
    in longer words ("конешно"), but return None for questions, hedges
    ("maybe", "не знаю"), mixed signals ("yes no") and long sentences.
    """
    raw = clean(text)
    if raw is None or raw.endswith("?"):
        return None
    tokens = words(raw)
    found = _emoji_meanings(raw)
    phrase = _phrase_answer(tokens)
    if phrase is not None:
        found.add(phrase)
    elif len(tokens) > MAX_ANSWER_WORDS or any(t in _HEDGES for t in tokens):
        return None
    else:
        meanings = [_word_polarity(t) for t in tokens if squash_repeats(t) not in _POLITE]
        if meanings.count(None) > MAX_UNKNOWN_WORDS:
            return None
        found.update(m for m in meanings if m is not None)
    return found.pop() if len(found) == 1 else None


# --- rating -----------------------------------------------------------------
RATING_WORDS = {
    1: "one один одна единица бір moja",
    2: "two два две двойка екі mbili",
    3: "three три тройка үш tatu",
    4: "four четыре четвёрка төрт nne",
    5: "five пять пятёрка бес tano",
}
RATING_NOISE = "star stars звезда звезды звезд звёзд жұлдыз nyota".split()
_RATING = {squash_repeats(fold(w)): n for n, ws in RATING_WORDS.items() for w in ws.split()}
_RATING_NOISE = frozenset(fold(w) for w in RATING_NOISE)
_STARS = "⭐★🌟✩✪✫✬✭✮✯✰"


def parse_rating(text: str) -> int | None:
    """Return a 1..5 rating, or None.

    Why: after a job we ask for a rating and people answer with a digit, stars
    ("⭐⭐⭐⭐"), a word ("five", "пять", "бес", "tano") or "4/5".  A number
    outside 1..5, or two different numbers, is not a rating.
    """
    raw = clean(text)
    if raw is None:
        return None
    stars = sum(raw.count(s) for s in _STARS)
    if stars:
        rest = raw
        for s in _STARS + "☆":
            rest = rest.replace(s, "")
        # "⭐⭐⭐⭐⭐ great service" is a five; digits next to stars are a contradiction.
        return stars if stars <= 5 and not re.search(r"\d", rest) else None
    raw = re.sub(r"(?<=\d)\s*/\s*5\b", "", raw)  # "4/5", "4 / 5"
    raw = re.sub(r"(?<=\d)\s*(?:out\s+of|из)\s+5\b", "", raw, flags=re.IGNORECASE)
    tokens = [t for t in words(raw) if t not in _RATING_NOISE]
    values = set()
    for token in tokens:
        if token.isdecimal():
            values.add(int(token) if len(token) <= 2 else 0)
        elif squash_repeats(token) in _RATING:
            values.add(_RATING[squash_repeats(token)])
        else:
            return None
    if len(values) != 1:
        return None
    value = values.pop()
    return value if 1 <= value <= 5 else None


# --- global commands ----------------------------------------------------------
COMMANDS = {
    "back": "back|go back|/back|назад|вернуться|артқа|кері|rudi|nyuma|🔙",
    "menu": "menu|main menu|/menu|/start|start|меню|главное меню|мәзір|menyu|🏠",
    "stop": "stop|cancel|/stop|/cancel|quit|exit|отмена|отменить|стоп|хватит|тоқта|тоқтат|бас тарту|acha|sitisha|ghairi",
    "help": "help|/help|помощь|помогите|көмек|msaada|saidia|🆘",
    "language": "/lang|/language|lang|language|язык|тіл|lugha",
}
COMMAND_POLITE = frozenset(words("please pls to the пожалуйста в на өтінемін tafadhali kwa"))


def _command_key(text: str) -> str:
    """Fold a command: "/Start@PitstopBot" -> "/start", "Назад!" -> "назад"."""
    text = fold(text.strip())
    text = re.sub(r"^(/\w+)@\w+", r"\1", text)  # Telegram adds the bot name in groups
    slash = "/" if text.startswith("/") else ""
    kept = [t for t in words(text) if t not in COMMAND_POLITE] or words(text)
    return slash + " ".join(kept) if kept else text


_COMMANDS = {
    group: frozenset(_command_key(k) for k in keys.split("|")) for group, keys in COMMANDS.items()
}


def _near(word: str, keyword: str) -> bool:
    """A small typo: one edit in long words, only a swap of two letters in 4-letter ones."""
    if word.startswith("/") != keyword.startswith("/") or min(len(word), len(keyword)) < 4:
        return False
    distance = OSA.distance(word, keyword)
    if len(keyword) == 4:
        return distance == 1 and sorted(word) == sorted(keyword)
    return distance <= (2 if len(keyword) >= 8 else 1)


def looks_like(text: str, keyword_group: str) -> bool:
    """Is this message the global command ``keyword_group`` (back/menu/stop/help/language)?

    Why whole-message matching: the engine checks these at every step, so
    they must fire on "назад", "Back!" or "/start@bot", but never on a sentence
    that mentions the word ("the back brakes squeak", "stop by tomorrow").  A
    small typo is forgiven only when it is not also close to another command.
    """
    raw = clean(text)
    keys = _COMMANDS.get(keyword_group) if isinstance(keyword_group, str) else None
    if raw is None or keys is None:
        return False
    key = _command_key(raw)
    if key in keys:
        return True
    if any(key in other for g, other in _COMMANDS.items() if g != keyword_group):
        return False
    if not any(_near(key, k) for k in keys):
        return False
    return not any(_near(key, k) for g, o in _COMMANDS.items() if g != keyword_group for k in o)


# --- small talk -------------------------------------------------------------
# A greeting or thanks typed where a choice was expected: people write "Habari" or
# "Asante" to a shop as they would to a person. Whole messages only ("hi, book me in
# tomorrow" is not small talk), in any of the four languages whatever the chat's.
GREETINGS = """
    hello hi hey hallo hullo hiya
    привет здравствуйте здравствуй здрасте здрасьте салам салем
    сәлем сәлеметсіз сәлеметсің ассалаумағалейкум
    habari mambo jambo hujambo niaje salaam shikamoo
"""
GOOD = "good добрый доброе доброго қайырлы"  # with a time of day: "good morning", "қайырлы таң"
TIMES_OF_DAY = "morning afternoon evening day утро утра день вечер таң кеш күн"
GREETING_COMPANIONS = "there everyone all бе za asubuhi mchana jioni sasa salama"  # "hello there", "habari za asubuhi"
# A part of the day alone that greets, as English does ("Morning! I need...", "Afternoon all,
# ..."); in Russian, Kazakh and Swahili a part of the day alone says when, never greets.
GREETING_PARTS_OF_DAY = "morning afternoon evening"
THANKS = """
    thanks thank thx ty cheers
    спасибо спс благодарю
    рахмет раҳмет
    asante shukran nashukuru
"""
THANKS_COMPANIONS = "you a lot so very much большое огромное вам көп сізге sana"  # "thank you so much"
SMALL_TALK_MAX_WORDS = 5

_GREETINGS, _GOOD, _TIMES_OF_DAY = _set(GREETINGS), _set(GOOD), _set(TIMES_OF_DAY)
_GREETING_WORDS = _GREETINGS | _GOOD | _TIMES_OF_DAY | _set(GREETING_COMPANIONS) | _POLITE
PARTS_OF_DAY = _TIMES_OF_DAY | _set("asubuhi mchana jioni")
_OF_THE = _set("za")
_THANKS_ALONE = _set(THANKS)
_THANKS_WORDS = _THANKS_ALONE | _set(THANKS_COMPANIONS)


def after_greeting(tokens: list[str]) -> list[str]:
    """The words after a greeting that opens a message ("Habari za asubuhi, nataka...",
    "Здравствуйте, хочу записаться..."): what the message is about. A part of the day is
    the greeting's only in "good evening", "habari za jioni": "hi, evening at 7" says when."""
    opening = [squash_repeats(t) for t in tokens]  # as the word lists are kept: "hello" is "helo"
    i = 0
    while i < len(opening) and opening[i] in _GREETING_WORDS and (
        opening[i] not in PARTS_OF_DAY or (i > 0 and opening[i - 1] in _GOOD | _OF_THE)
    ):  # "good evening", "habari za jioni"; not the "evening" of "hi, evening at 7"
        i += 1
    return tokens[i:] if set(opening[:i]) & (_GREETINGS | _GOOD) else tokens


def small_talk(text: str, plain_yes: bool = False) -> str | None:
    """"greeting" or "thanks" when the whole message is one ("hello", "Habari za asubuhi",
    "рахмет көп", "good morning"), else None. Strict: any other word makes it something
    to read, and a companion alone ("so", "day") is nothing. `plain_yes`: also "ok" for a
    message of yes words alone ("ok", "sawa", "хорошо"; not "ok tomorrow 10am")."""
    tokens = [squash_repeats(t) for t in words(text)]
    if not tokens:
        return "greeting" if "👋" in text else "thanks" if "🙏" in text else None
    if len(tokens) > SMALL_TALK_MAX_WORDS:
        return None
    found = set(tokens)
    if plain_yes and found <= _YES | _POLITE and found & _YES:
        return "ok"
    if found <= _THANKS_WORDS and found & _THANKS_ALONE:
        return "thanks"
    if found <= _GREETING_WORDS and (found & _GREETINGS or (found & _GOOD and found & _TIMES_OF_DAY)):
        return "greeting"
    return None
