"""Days and times as people type them: "kesho saa nne", "завтра в 10", "ертең 10:00".

Why: picking a slot from a list of 40 is slow in chat, so the engine lets the
customer just say when.  We read a day, a time, or both, and return None for
anything we would have to guess (two days, "before 10", "not tomorrow", a
number in a sentence we do not understand) so the engine can ask again.

Choices made where people are ambiguous (each one is tested):
* A date without a year, a weekday or "tarehe 25" is the next such day on or
  after ``today`` (so "monday" said on a Monday is today).
* "next friday" is the Friday of next week; "this friday" equals "friday". So is
  "friday next week" in any order ("на следующей неделе в пятницу", "Ijumaa wiki
  ijayo"); "in two days" ("через 2 дня") is asked again, never 14:00 today.
* A bare hour 1..6 without am/pm means 13..18: workshops are not open at 3 am,
  and "come at 3" means the afternoon.  A leading zero ("03:00") keeps it as is.
* "10.05" is a date (10 May) unless a day was already given or it is marked
  as a time ("at 10.05", "10.05-да"); "10.30" is a time because 30 is no month.
* Swahili clock: hours after "saa" count from 7 am (saa nne = 10:00), adjusted
  by asubuhi / mchana / jioni / usiku / alfajiri.  A bare number is read on the
  Swahili clock only when ``lang == "sw"``; "10:30" without "saa" and anything
  with am/pm stays on the 24-hour clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from rapidfuzz import fuzz

from ._text import clean, fold, squash_repeats
from ._text import words as words_of
from .answers import GREETING_PARTS_OF_DAY, PARTS_OF_DAY, after_greeting


@dataclass(frozen=True)
class When:
    """What we understood: either part may be missing, never both."""

    day: date | None
    time: time | None


# --- word tables --------------------------------------------------------------
# Per meaning, one string per language (en, ru, kk, sw).  "~" marks a stem that
# may carry endings ("пятниц~" matches "пятницу", "ертең~" matches "ертеңге").
RELATIVE_DAYS = {
    0: ("today tdy", "сегодня седня", "бүгін~", "leo"),
    1: ("tomorrow tmrw tmr tmrow tomoz", "завтра", "ертең~", "kesho"),
    2: ("overmorrow", "послезавтра", "бүрсігүн~ бүрсүгүн~", "keshokutwa"),
}
WEEKDAYS = {
    0: ("monday mon", "понедельн~ пн", "дүйсенб~", "jumatatu"),
    1: ("tuesday tue tues", "вторн~ вт", "сейсенб~", "jumanne"),
    2: ("wednesday wed weds", "сред~ ср", "сәрсенб~", "jumatano"),
    3: ("thursday thu thur thurs", "четверг~ чт", "бейсенб~", "alhamisi"),
    4: ("friday fri", "пятниц~ пт", "жұма~", "ijumaa"),
    5: ("saturday sat", "суббот~ сб", "сенб~", "jumamosi"),
    6: ("sunday sun", "воскрес~ вс", "жексенб~", "jumapili"),
}
MONTHS = {  # English names are exact (a stem "dec~" would match "decline")
    1: ("jan january", "январ~ янв", "қаңтар~", "januari"),
    2: ("feb february", "феврал~ фев", "ақпан~", "februari"),
    3: ("mar march", "март~ мар", "наурыз~", "machi"),
    4: ("apr april", "апрел~ апр", "сәуір~", "aprili"),
    5: ("may", "май мая маю", "мамыр~", "mei"),
    6: ("jun june", "июн~", "маусым~", "juni"),
    7: ("jul july", "июл~", "шілде~", "julai"),
    8: ("aug august", "август~ авг", "тамыз~", "agosti"),
    9: ("sep sept september", "сентябр~ сен сент", "қыркүйек~", "septemba"),
    10: ("oct october", "октябр~ окт", "қазан~", "oktoba"),
    11: ("nov november", "ноябр~ ноя", "қараша~", "novemba"),
    12: ("dec december", "декабр~ дек", "желтоқсан~", "desemba"),
}
# Months as babel abbreviates them on the bot's day buttons ("дс 30 қар.", "Jumamosi 5 Des"),
# where English and Russian have no such word. Everyday words too ("там" is "there", "жел"
# "wind"), so read as a month only right after a day's number, with the dot or at the end,
# and not after a word that marks an hour ("в 11 там" is eleven o'clock).
ABBREVIATED_MONTHS = {"қаң": "қаңтар", "ақп": "ақпан", "нау": "наурыз", "сәу": "сәуір", "мам": "мамыр",
                      "мау": "маусым", "шіл": "шілде", "там": "тамыз", "қыр": "қыркүйек", "қаз": "қазан",
                      "қар": "қараша", "жел": "желтоқсан", "mac": "machi", "ago": "agosti", "okt": "oktoba",
                      "des": "desemba"}  # fmt: skip
_ABBREVIATED = {fold(short): fold(name) for short, name in ABBREVIATED_MONTHS.items()}  # as the text is read
HOUR_MARKERS = frozenset(fold(w) for w in ("в", "к", "at", "by", "до", "с", "сағат", "saa"))


def _abbreviated_month(m: re.Match) -> str:
    before, day, month = m[1], m[2], m[3]
    if before and before in HOUR_MARKERS:
        return m[0]
    return f"{before + ' ' if before else ''}{day} {_ABBREVIATED[month]} "


# Full names, for typo tolerance ("tommorow", "wensday", "понеделник").
FULL_NAMES = {
    ("month", n): name
    for n, name in enumerate(
        "january february march april may june july august september october november december".split(),
        1,
    )
}
MARKERS = {
    # kind: words that play that role, all languages together
    "at": "at в во к около around about сағат",
    "saa": "saa",
    "saa_word": "saaneno",  # our own rewrite of "saa nne": a Swahili number word
    "hours": "h hr hrs oclock час часа часов ч",
    "noon": "noon midday полдень түсте",
    "dom": "tarehe числа dom",
    "next": "next следующ~ след келесі ijayo",
    "week": "week недел~ апта~ wiki",  # "next week", "на следующей неделе", "wiki ijayo"
    "delta+30": "half",  # our rewrites of "na nusu", "na robo", "kasorobo"
    "delta+15": "quarter",
    "delta-15": "lessquarter",
    # words that make a single reading unsafe: negation and ranges
    "neg": "not cant cannot except before after until between не кроме до после между через "
    "емес дейін кейін алмаймын si sio siyo siwezi kabla baada isipokuwa",
    "filler": "on the of this coming in for please pls ok okay day "
    "на эту этот это и осы күні hii ya siku mnamo",
}
PERIODS = {
    "am": "am morning утра утром таңғы таңертең",
    "pm": "pm afternoon evening дня днем днём вечера вечером кешкі кешке",
    "night": "night ночи ночью түнгі түнде",
    "asubuhi": "asubuhi",
    "mchana": "mchana",
    "jioni": "jioni",
    "usiku": "usiku",
    "alfajiri": "alfajiri",
}
SWAHILI_NUMBERS = "moja mbili tatu nne tano sita saba nane tisa kumi".split()
# Swahili numbers as they agree with their noun ("matairi manne", four tyres): never a
# typo for the weekday they resemble ("manne" is not "Jumanne", "matatu" not "Jumatatu").
SWAHILI_AGREEING_NUMBERS = frozenset(
    prefix + number for prefix in ("wa", "ma", "mi", "vi", "zi") for number in ("wili", "tatu", "nne", "tano")
)
NUMBER_WORDS = {  # only read as hours next to "at"/"в"/"am"/"o'clock"
    "en": "one two three four five six seven eight nine ten eleven twelve",
    "ru": "один два три четыре пять шесть семь восемь девять десять одиннадцать двенадцать",
}
# Which 24-hour hours each Swahili period covers (saa moja jioni = 19, saa tisa usiku = 3).
SWAHILI_PERIOD_HOURS = {
    "asubuhi": set(range(5, 13)),
    "mchana": set(range(12, 17)),
    "jioni": set(range(16, 20)),
    "usiku": set(range(19, 24)) | set(range(0, 5)),
    "alfajiri": {4, 5, 6},
}
DELTAS = {"delta+30": 30, "delta+15": 15, "delta-15": -15}
WESTERN_EQUIVALENT = {
    "asubuhi": "am",
    "mchana": "pm",
    "jioni": "pm",
    "usiku": "night",
    "alfajiri": "am",
}


def _number_words_pattern() -> str:
    return "|".join(w for ws in NUMBER_WORDS.values() for w in ws.split())


def _number_word_value(word: str) -> str:
    for ws in NUMBER_WORDS.values():
        if word in ws.split():
            return str(ws.split().index(word) + 1)
    return word


# Phrase rewrites, applied to folded text before splitting into tokens.
_NUMBER_WORD = _number_words_pattern()
DAY_AFTER_TOMORROW = r"\b(?:the\s+)?day\s+after\s+tomorrow\b"
REWRITES: list[tuple[str, object]] = [
    (DAY_AFTER_TOMORROW, " overmorrow "),
    (r"\bпосле\s+завтра\b", " послезавтра "),
    (r"\bkesho\s*kutwa\b", " keshokutwa "),
    (r"\bарғы\s+күні\b", " бүрсігүні "),
    (r"\bjuma\s+(tatu|nne|tano|mosi|pili)\b", r" juma\1 "),
    (r"\b(?:in|within)\s+(?:a\s+couple\s+of\s+|a\s+few\s+|half\s+an?\s+|an?\s+|\d+(?:[.,]\d+)?\s*|(?:"
     + _NUMBER_WORD + r")\s+)(?:h|hrs?|hours?|mins?|minutes?)\b", " через "),  # "in 2 hrs": a span, as "через 2 часа"
    (r"\b(?:\d+|an?|" + _NUMBER_WORD + r")\s*(?:h|hrs?|hours?|mins?|minutes?)\s+(?:from\s+now|later)\b", " через "),
    (r"\bndani\s+ya\s+(?:saa|masaa|dakika)\b", " через "),  # "ndani ya saa mbili": within two hours, not 08:00
    (r"\btonight\b", " today pm "),
    (r"\bтүстен\s+кейін\b", " pm "),
    (r"\b([ap])\.\s?m\b\.?", r"\1m"),
    (r"\bo'?\s?clock\b", " oclock "),
    (r"@", " at "),
    (r"\bв\s+час\b", " в 1 час "),
    (r"(\d)(?:st|nd|rd|th)\b", r"\1 dom "),
    (r"(\d)-?(?:го|е|ое)\b", r"\1 dom "),
    (r"(\d)-?(?:сыншы|сінші|інші|ыншы|нші|ншы|ші|шы)\b", r"\1 dom "),  # Kazakh ordinals: "25-ші", "2-нші"
    (r"(?:(\w+)\s+)?\b(\d{1,2})\s+(" + "|".join(_ABBREVIATED) + r")(?:\.|(?=\s*(?:$|,|\d|сағат|saa)))",
     _abbreviated_month),  # "3 жел.", "5 Des": as the bot's own day buttons write them
    (r"(\d{1,2}\.\d{1,2})(?:\s*-\s*|)(?:да|де|та|те|ға|ге|қа|ке)\b", r"\1 "),  # 5.12-де: a date's case, as "5.12"
    (r"(\d)(?:\s*-\s*|)(?:да|де|та|те|ға|ге|қа|ке)\b", r"\1 oclock "),  # Kazakh: 10-да, 10:00-де
    (
        r"\bsaa\s+kumi\s+na\s+(moja|mbili)\b",
        lambda m: f" saaneno {10 + SWAHILI_NUMBERS.index(m[1]) + 1} ",
    ),
    (
        r"\bsaa\s+(" + "|".join(SWAHILI_NUMBERS) + r")\b",
        lambda m: f" saaneno {SWAHILI_NUMBERS.index(m[1]) + 1} ",
    ),
    (r"\bhalf\s+past\s+(\w+)", r" at \1 half "),  # English: "half past nine"
    (r"\bquarter\s+past\s+(\w+)", r" at \1 quarter "),
    (r"\bquarter\s+to\s+(\w+)", r" at \1 lessquarter "),
    (r"\b(в|к|at|сағат)\s+(\d{1,2})-(\d{2})\b(?!\s*(?:час|сағ|hour|h\b))", r" \1 \2:\3 "),  # "в 15-00", not "в 10-12 часов"
    (r"\bna\s+nusu\b", " half "),
    (r"\bna\s+robo\b", " quarter "),
    (r"\bkasoro\s*robo\b|\bkasorobo\b", " lessquarter "),
    (
        r"\b(at|в|сағат)\s+(" + _NUMBER_WORD + r")\b",
        lambda m: f" {m[1]} {_number_word_value(m[2])} ",
    ),
    (
        r"\b(" + _NUMBER_WORD + r")\s+(am|pm|oclock|часов|часа|час)\b",
        lambda m: f" {_number_word_value(m[1])} {m[2]} ",
    ),
]
# Patterns are folded like the text they run on ("кейін" -> "кеиин"); they use no
# upper-case escapes (\S, \D...), so folding cannot change their meaning.
_REWRITES = [(re.compile(fold(p)), r) for p, r in REWRITES]
_TOKEN = re.compile(r"\d+(?:[:./-]\d+)*|[^\W\d_]+")
# The shapes a number token may have; anything else is not a day or a time.
CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}")
DOTTED = re.compile(r"\d{1,2}\.\d{1,2}")
NUMERIC_DATE = re.compile(
    r"\d{1,2}[./]\d{1,2}(?:[./](?:\d{2}|\d{4}))?|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{4}"
)


# --- vocabulary lookup ----------------------------------------------------------
def _build_vocabulary() -> tuple[dict[str, tuple[str, object]], list[tuple[str, str, object]]]:
    exact: dict[str, tuple[str, object]] = {}
    stems: list[tuple[str, str, object]] = []

    def add(words: str, kind: str, value: object) -> None:
        for word in words.split():
            if word.endswith("~"):
                stems.append((fold(word[:-1]), kind, value))
            else:
                exact.setdefault(fold(word), (kind, value))

    for tables, kind in ((RELATIVE_DAYS, "rel"), (WEEKDAYS, "wd"), (MONTHS, "month")):
        for value, per_language in tables.items():
            for words in per_language:
                add(words, kind, value)
    for kind, words in MARKERS.items():
        add(words, kind, None)
    for period, words in PERIODS.items():
        add(words, "period", period)
    stems.sort(key=lambda s: len(s[0]), reverse=True)
    return exact, stems


_EXACT, _STEMS = _build_vocabulary()
_FUZZY = {
    w: meaning for w, meaning in _EXACT.items() if len(w) >= 5 and meaning[0] in ("rel", "wd")
}
_FUZZY.update({fold(name): key for key, name in FULL_NAMES.items() if len(name) >= 5})
_FUZZY.update({fold(s): (kind, v) for s, kind, v in _STEMS if len(s) >= 6 and kind == "wd"})


@lru_cache(maxsize=4096)  # asked for every word of every part a message is read in; the words recur
def _lookup(word: str) -> tuple[str, object]:
    if word in _EXACT:
        return _EXACT[word]
    for stem, kind, value in _STEMS:
        if word.startswith(stem):
            return kind, value
    if len(word) >= 5 and word not in SWAHILI_AGREEING_NUMBERS:  # a typo in a long day or month name
        scored = sorted(((fuzz.ratio(word, w), m) for w, m in _FUZZY.items()), key=lambda x: -x[0])
        if scored[0][0] >= 82 and (
            len(scored) == 1 or scored[0][1] == scored[1][1] or scored[1][0] < scored[0][0] - 8
        ):
            return scored[0][1]
    return "word", word


@dataclass
class _Token:
    kind: str  # num, word, rel, wd, month, at, saa, saa_word, hours, noon, dom, next, delta..., neg, filler, period
    value: object
    text: str


# What a word may name that a service's own word must not be read as ("май", oil, is May).
NAMING_KINDS = frozenset({"rel", "wd", "month", "period", "noon", "week", "next"})


def _tokens(raw: str, theirs: frozenset[str] = frozenset()) -> list[_Token]:
    """The words and numbers of the text as the day reader knows them; `theirs` (folded)
    are words of something else named with the time, and name no day or time."""
    text = fold(raw)
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)  # type: ignore[arg-type]
    tokens = []
    for piece in _TOKEN.findall(text):
        if piece[0].isdecimal():
            tokens.append(_Token("num", None, piece))
        else:
            kind, value = _lookup(piece)
            if kind in NAMING_KINDS and piece in theirs:
                kind, value = "word", piece
            tokens.append(_Token(kind, value, piece))
    return tokens


# --- days -------------------------------------------------------------------------
def _weekday(today: date, weekday: int, next_week: bool) -> date:
    if next_week:  # the given day of next Monday-to-Sunday week
        return today - timedelta(days=today.weekday()) + timedelta(days=7 + weekday)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):  # 31 February, year 10**30
        return None


def _next_date(today: date, month: int, day: int) -> date | None:
    """The next day/month on or after today (29 Feb may be years away)."""
    for year in range(today.year, today.year + 9):
        found = _safe_date(year, month, day)
        if found is not None and found >= today:
            return found
    return None


def _next_day_of_month(today: date, day: int) -> date | None:
    year, month = today.year, today.month
    for _ in range(13):
        found = _safe_date(year, month, day)
        if found is not None and found >= today:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _numeric_date(text: str, today: date) -> date | None:
    """Read "25.12", "25/12", "25.12.2026", "25/12/26" or "2026-12-25" (already shape-checked)."""
    pieces = re.split(r"[./-]", text)
    numbers = [int(p) for p in pieces]
    if len(pieces) == 2:
        return _next_date(today, numbers[1], numbers[0])
    if len(pieces[0]) == 4:
        return _safe_date(numbers[0], numbers[1], numbers[2])
    year = numbers[2] + 2000 if len(pieces[2]) == 2 else numbers[2]
    return _safe_date(year, numbers[1], numbers[0])


# --- times ------------------------------------------------------------------------
def _western(hour: int, minute: int, period: str | None, padded: bool) -> time | None:
    period = WESTERN_EQUIVALENT.get(period or "", period)
    if period == "am":
        hour = 0 if hour == 12 else hour if hour < 12 else -1
    elif period == "pm":
        hour = hour + 12 if 1 <= hour <= 11 else hour if hour >= 12 else -1
    elif period == "night":
        hour = 0 if hour == 12 else hour + 12 if 7 <= hour <= 11 else hour
    elif 1 <= hour <= 6 and not padded:
        hour += 12  # workshop hours: "at 3" is 15:00, not 3 am
    if 0 <= hour <= 23 and 0 <= minute <= 59:
        return time(hour, minute)
    return None


def _swahili(hour: int, minute: int, period: str | None) -> time | None:
    """Swahili clock: saa moja = 7, ..., saa kumi na mbili = 18; night hours with usiku/jioni."""
    if not 1 <= hour <= 12 or not 0 <= minute <= 59:
        return None
    day, night = hour + 6, (hour + 18) % 24
    if period is None:
        return time(day, minute)
    for candidate in (day, night):
        if candidate in SWAHILI_PERIOD_HOURS.get(period, ()):
            return time(candidate, minute)
    return None


def _shift(moment: time, minutes: int) -> time:
    shifted = datetime.combine(date(2000, 1, 1), moment) + timedelta(minutes=minutes)
    return shifted.time()


# --- reading the tokens -----------------------------------------------------------------
@dataclass
class _Reading:
    today: date
    lang: str | None
    period: str | None  # "am", "pm", "night" or a Swahili period word
    plain: bool  # no unknown words: a bare number may be an hour
    days: set[date] = field(default_factory=set)
    times: set[time] = field(default_factory=set)
    maybe: list[tuple[date, time]] = field(default_factory=list)  # "10.05": a date, or a time
    used: set[int] = field(default_factory=set)  # tokens already read (a year after a month)
    named: list[date] = field(default_factory=list)  # the days weekdays named ("Saturday 5 Dec": the 5th, a Saturday)

    def add_day(self, found: date | None) -> bool:
        if found is not None:
            self.days.add(found)
        return found is not None

    def add_time(self, found: time | None) -> bool:
        if found is not None:
            self.times.add(found)
        return found is not None


def _beside(tokens: list[_Token], i: int, kind: str) -> bool:
    return kind in (_neighbour(tokens, i, -1)[1].kind, _neighbour(tokens, i, 1)[1].kind)


def _neighbour(
    tokens: list[_Token], i: int, step: int, skip: tuple[str, ...] = ("filler",)
) -> tuple[int, _Token]:
    i += step
    while 0 <= i < len(tokens) and tokens[i].kind in skip:
        i += step
    return (i, tokens[i]) if 0 <= i < len(tokens) else (-1, _Token("edge", None, ""))


def _clock(hour: int, minute: int, padded: bool, clock: str, period: str | None) -> time | None:
    """Read an hour on the Swahili clock ("saa 4") or the 24-hour clock ("4pm", "16:00")."""
    if clock != "24h" and period not in ("am", "pm", "night") and hour <= 12:
        found = _swahili(hour, minute, period)
        # "saa 10 asubuhi" is often meant as 10 am: digits may fall back, words may not.
        if found is not None or clock == "sw-word":
            return found
    return _western(hour, minute, period, padded)


def _read_number(tokens: list[_Token], i: int, r: _Reading) -> bool:
    """Read tokens[i] (a number) into ``r``; False if it makes no sense here."""
    text = tokens[i].text
    before, after = _neighbour(tokens, i, -1)[1], _neighbour(tokens, i, 1)[1]
    clock = {"saa_word": "sw-word", "saa": "sw"}.get(before.kind, "24h")
    marked = (
        before.kind in ("at", "saa", "saa_word")
        or after.kind in ("hours", "period")
        or after.kind.startswith("delta")
    )
    if CLOCK_TIME.fullmatch(text):
        hour, minute = (int(p) for p in text.split(":"))
        return r.add_time(_clock(hour, minute, text[0] == "0", clock, r.period))
    if DOTTED.fullmatch(text):  # "25.12" is a date, "10.30" a time, "10.05" either
        hour_text, minute_text = text.split(".")
        as_time = None
        if len(minute_text) == 2:
            as_time = _clock(int(hour_text), int(minute_text), hour_text[0] == "0", clock, r.period)
        as_day = None if marked else _numeric_date(text, r.today)
        if as_time and as_day:
            r.maybe.append((as_day, as_time))
            return True
        return r.add_day(as_day) or r.add_time(as_time)
    if NUMERIC_DATE.fullmatch(text):
        return r.add_day(_numeric_date(text, r.today))
    if not text.isdecimal():
        return False  # "10-12", "2:3025.12": a range or junk
    for step in (-1, 1):  # "25 December", "Dec 25", "25th of December"; not the hour of "25 Dec 11am"
        j, neighbour = _neighbour(tokens, i, step, skip=("filler", "dom"))
        if neighbour.kind == "month" and len(text) <= 2 and not (marked and _has_its_day(tokens, j, i)):
            return _month_day(tokens, i, j, r)
    if before.kind == "dom" or after.kind == "dom":
        return len(text) <= 2 and r.add_day(_next_day_of_month(r.today, int(text)))
    if len(text) > 2 or not (marked or r.plain):
        return False  # "I have 2 cars": a number in a sentence is not a time
    if clock == "24h" and r.lang == "sw" and before.kind != "at":
        clock = "sw"  # a Swahili speaker's bare "4" is saa nne
    return r.add_time(_clock(int(text), 0, text[0] == "0" and len(text) == 2, clock, r.period))


def _has_its_day(tokens: list[_Token], month: int, number: int) -> bool:
    """Is another number beside this month, its day ("25 december 11am": 25, not 11)?"""
    beside = (_neighbour(tokens, month, step, skip=("filler", "dom")) for step in (-1, 1))
    return any(k != number and t.kind == "num" and t.text.isdecimal() and len(t.text) <= 2 for k, t in beside)


def _month_day(tokens: list[_Token], i: int, j: int, r: _Reading) -> bool:
    """Read "25 December", "Dec 25", "25 декабря 2026" or "desemba 25"."""
    r.used.add(j)
    month, day = int(tokens[j].value), int(tokens[i].text)  # type: ignore[arg-type]
    year_at = max(i, j) + 1
    if year_at < len(tokens) and re.fullmatch(r"\d{4}", tokens[year_at].text):
        r.used.add(year_at)
        return r.add_day(_safe_date(int(tokens[year_at].text), month, day))
    return r.add_day(_next_date(r.today, month, day))


def _read_words(tokens: list[_Token], r: _Reading) -> None:
    for i, token in enumerate(tokens):
        if token.kind == "rel":
            r.add_day(r.today + timedelta(days=int(token.value)))  # type: ignore[arg-type]
        elif token.kind == "wd":
            next_week = _beside(tokens, i, "next") or any(
                t.kind == "week" and _beside(tokens, j, "next") for j, t in enumerate(tokens)
            )  # "next wednesday", or "wednesday next week" in any order
            named = _weekday(r.today, int(token.value), next_week)  # type: ignore[arg-type]
            r.add_day(named)
            r.named.append(named if not next_week else date.min)  # "next friday the 5th": which is meant? ask
        elif token.kind == "noon":
            r.add_time(time(12))


def names_weekday(text: str) -> bool:
    """Does the text name a day of the week ("friday", "в пятницу", "ijumaa")? Such a day
    is the next one to come when booking, the last one gone by when looking back."""
    raw = clean(text)
    return raw is not None and any(t.kind == "wd" for t in _tokens(raw))


def parse_when(text: str, today: date, lang: str | None = None) -> When | None:
    """Return the day and/or time the person means, or None.

    Why lenient about words but strict about numbers: "can I come tomorrow
    please" is clearly tomorrow, but "I have 2 cars" is not 14:00 — a number
    counts as an hour only when marked ("at 2", "в 2", "saa 2", "2pm") or
    when nothing else in the message is unknown.  See the module docstring
    for the rules on ambiguous input.
    """
    raw = clean(text)
    if isinstance(today, datetime):
        today = today.date()
    if raw is None or not isinstance(today, date) or today > date.max - timedelta(days=14):
        return None  # (the last check keeps "next friday" arithmetic inside the calendar)
    rest, greeted = _after_greeting(raw)
    return _read(rest, today, lang, greeted=greeted)


_DAY_AFTER_TOMORROW = re.compile(fold(DAY_AFTER_TOMORROW))
_GREETING_PARTS_OF_DAY = frozenset(squash_repeats(fold(w)) for w in GREETING_PARTS_OF_DAY.split())
_GREETED = frozenset(squash_repeats(fold(w)) for w in "there everyone all".split())  # "Morning all, ..."


def _after_greeting(raw: str) -> tuple[str, bool]:
    """The text after a greeting that opens it, and whether there was one: the "afternoon"
    of "Good afternoon, ... tomorrow at 10" greets, and makes no 22:00 of the 10. A part of
    the day after a stop ("Good. Evening at 7") or opening "day after tomorrow" says when."""
    pieces = raw.split()
    said = [[squash_repeats(w) for w in words_of(piece)] for piece in pieces]
    greeting = _greeting_pieces(raw, said)
    for j in range(1, greeting):
        if said[j][:1] and said[j][0] in PARTS_OF_DAY and (
            _punctuated(" ".join(pieces[:j])) or _DAY_AFTER_TOMORROW.match(fold(" ".join(pieces[j:])))
        ):
            greeting = j
            break
    greeting = greeting or _part_of_day_greeting(pieces, said)
    return (" ".join(pieces[greeting:]), True) if greeting else (raw, False)


def _greeting_pieces(raw: str, said: list[list[str]]) -> int:
    """How many whitespace pieces of the text its opening greeting fills (0: none, or
    one piece holds the greeting's end and more, "Hi,2")."""
    greeting = len(words_of(raw)) - len(after_greeting(words_of(raw)))
    count = 0
    for k, piece in enumerate(said):
        if count >= greeting:
            return k if count == greeting else 0
        count += len(piece)
    return len(said) if count == greeting else 0


def _part_of_day_greeting(pieces: list[str], said: list[list[str]]) -> int:
    """How many pieces a part of the day that greets alone fills ("Morning! I need...",
    "Afternoon all, ..."): after it a stop or "all", then words that are no day or time.
    "Evening, at 7" and "morning 10" say when, and are read so."""
    if not said or len(said[0]) != 1 or said[0][0] not in _GREETING_PARTS_OF_DAY:
        return 0
    k = 1
    while k < len(said) and len(said[k]) == 1 and said[k][0] in _GREETED:
        k += 1
    if not (k > 1 or _punctuated(pieces[0])):
        return 0
    first = next((t for t in _tokens(" ".join(pieces[k:])) if t.kind != "filler"), None)
    return k if first is not None and first.kind == "word" else 0


def _punctuated(text: str) -> bool:
    """Does the text end with a stop, a comma or a sign ("Good.", "Morning!", "Hi 👋")?"""
    text = text.rstrip()
    return bool(text) and not text[-1].isalnum()


def _read(raw: str, today: date, lang: str | None, theirs: frozenset[str] = frozenset(),
          greeted: bool = False) -> When | None:
    """The day and time the text says; `greeted`: a greeting opened it, and was taken out,
    so a bare number is still one among other words ("Hi, 2" is no 14:00)."""
    tokens = _tokens(raw, theirs)
    kinds = {t.kind for t in tokens}
    periods = {t.value for t in tokens if t.kind == "period"}
    deltas = [DELTAS[t.kind] for t in tokens if t.kind in DELTAS]
    if not tokens or "neg" in kinds or len(periods) > 1 or len(deltas) > 1:
        return None
    period = str(periods.pop()) if periods else None
    r = _Reading(today=today, lang=lang, period=period, plain=not (kinds & {"word", "week"} or greeted))  # "2 недели": no 14:00
    _read_words(tokens, r)
    for i, token in enumerate(tokens):
        if token.kind == "num" and i not in r.used and not _read_number(tokens, i, r):
            return None
    for as_day, as_time in r.maybe:  # "tomorrow 10.05" is a time, "10.05" alone a date...
        only_its_weekday = len(r.named) == 1 and r.days == {r.named[0]} and len(r.maybe) == 1 and \
            as_day.weekday() == r.named[0].weekday() and as_day - r.today <= timedelta(days=31)  # fmt: skip
        if r.days and not only_its_weekday:  # ...and "в субботу 5.12" the 5th, a Saturday
            r.add_time(as_time)
        else:
            r.add_day(as_day)
    if len(r.days) == 2 and len(r.named) == 1 and r.named[0] in r.days:  # one weekday, one date...
        [dated] = r.days - {r.named[0]}
        if dated.weekday() == r.named[0].weekday():  # ...that falls on it: "Jumamosi 5 Des", as the day buttons say
            r.days = {dated}
    if len(r.days) > 1 or len(r.times) > 1 or not (r.days or r.times):
        return None
    moment = r.times.pop() if r.times else None
    if moment is not None and deltas:
        moment = _shift(moment, deltas[0])
    return When(r.days.pop() if r.days else None, moment)


def when_said_apart(text: str, today: date, lang: str | None = None,
                    theirs: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Each way a message parts into a day and time said at its start or its end and the
    words left ("замена масла" and "завтра в 10"), as (words left, words of the time);
    `theirs` (folded) are the words of what may be named with the time, never a day or
    a time in it ("май ауыстыру": "май" is oil, not May).

    Why: a request says what and when at once. The time's words are all words for a day
    or a time ("на", "at", "saa" too), and they are read as the whole message is: so "в 10"
    of "замена масла завтра в 10" is no part of it (the whole says tomorrow), and neither
    is a number the whole does not take for an hour ("oil change 2"). Where the whole
    reads as no time ("oil change tomorrow 10": a bare 10 among other words), each part
    that names a day or a time is read alone, and all must mean the same.
    """
    raw = clean(text)
    if isinstance(today, datetime):
        today = today.date()
    if raw is None or not isinstance(today, date) or today > date.max - timedelta(days=14):
        return []
    rest, greeted = _after_greeting(raw)
    pieces = rest.split()
    parts = [(" ".join(pieces[:k]), " ".join(pieces[k:])) for k in range(1, len(pieces))]
    parts += [(" ".join(pieces[k:]), " ".join(pieces[:k])) for k in range(1, len(pieces))]
    timed = [(left, said) for left, said in parts if _only_time_words(said, theirs)]
    whole = _read(rest, today, lang, theirs, greeted)
    if whole is not None:
        return [(left, said) for left, said in timed if _read(said, today, lang) == whole]
    if any(t.kind == "neg" for t in _tokens(rest, theirs)):
        return []  # "oil change in 2 hrs", "ndani ya saa mbili": refused whole, so refused in part
    alone = [(left, said, _read(said, today, lang)) for left, said in timed if _names_when(said)]
    alone = [(left, said, when) for left, said, when in alone if when is not None]
    if len({when for _, _, when in alone}) != 1:
        return []
    return [(left, said) for left, said, _ in alone]


def _only_time_words(text: str, theirs: frozenset[str]) -> bool:
    tokens = _tokens(text, theirs)
    return bool(tokens) and all(t.kind != "word" for t in tokens)


def _names_when(text: str) -> bool:
    """More than a number ("tomorrow 10", "в 10"; not "10", "на 10"): alone beside a
    service's name, a bare number may be how many, or which."""
    return any(t.kind not in ("num", "filler") for t in _tokens(text))
