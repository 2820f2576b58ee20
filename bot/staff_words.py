"""What staff type: short commands in English, Swahili, Russian and Kazakh, with typos.

"ready MM-1042", "/ready 1042", "готово 1042", "tayari 1042", "1042 дайын" all mean the
same. A command is its words at the start of the message (a slash is optional); what
follows are its arguments, kept as typed. Words are compared folded (case, diacritics,
Kazakh letters typed on a Russian keyboard), and a long word may carry one typo (two
for very long words) as long as that does not make it another command. A job action
said with "not" (in any of the four languages) is no command. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from rapidfuzz.distance import OSA

from bot.understand import names_weekday, parse_when
from bot.understand._text import clean, fold

# One line per language: en, sw, ru, kk. Phrases are separated by "|".
VOCABULARY = {
    "jobs": "jobs|my jobs|job list|jobs today|"
            "kazi|kazi zangu|kazi za leo|"
            "работа|работы|заказы|мои заказы|задачи|"
            "жұмыстар|жұмыстарым|менің жұмыстарым|тапсырыстар",
    "job": "job|card|details|maelezo|карточка|заказ|детали|тапсырыс|карта",
    "received": "received|receive|arrived|car in|"
                "imepokelewa|pokea|imefika|"
                "принял|принята|принят|приехал|приехала|"
                "қабылдадым|қабылданды|келді",
    "start": "start|begin|started|start work|anza|anza kazi|начать|начал|старт|в работу|бастау|бастадым",
    "extra": "extra|extra work|found|additional work|ziada|kazi ya ziada|доп|доп работа|допработа|"
             "дополнительно|дополнительная работа|қосымша|қосымша жұмыс",
    "ready": "ready|ready for pickup|tayari|готово|готов|готова|дайын",
    "done": "done|complete|completed|finished|handed over|imekamilika|nimemaliza|kamili|"
            "выдано|выдан|завершено|завершить|бітті|аяқталды|тапсырылды",
    "noshow": "no show|noshow|no-show|didnt come|hakuja|hajaja|hakufika|"
              "не приехал|не приехала|неявка|не пришел|не пришла|келмеді",
    "offshift": "off shift|offshift|off|going home|end shift|"
                "natoka|naondoka|zamu imeisha|nimetoka zamu|"
                "ухожу|конец смены|смена окончена|ушел|"
                "ауысым бітті|кеттім|кетемін",
    "onshift": "on shift|onshift|back on shift|start shift|nimerudi|niko kazini|"
               "на смене|вышел на смену|начало смены|ауысымдамын|жұмыстамын|ауысым басталды",
    "stock": "stock|parts|stock levels|stoo|vipuri|склад|запчасти|остатки|қойма|бөлшектер|қосалқы бөлшектер",
    "restock": "restock|add stock|ongeza|ongeza vipuri|пополнить|приход|пополнение|толықтыру",
    "digest": "digest|report|summary|daily report|ripoti|muhtasari|сводка|отчет|отчёт|есеп|қорытынды",
    "today": "today|leo|сегодня|бүгін",
    "week": "week|this week|wiki|wiki hii|неделя|за неделю|апта|осы апта",
    "close": "close|close day|closed|funga|funga siku|закрыть|закрыто|выходной|жабу|жабық",
    "open": "open|open day|fungua|fungua siku|открыть|открыто|ашу|ашық",
    "hours": "hours|opening hours|schedule|masaa|saa za kazi|часы|график|режим работы|жұмыс уақыты|кесте",
    "tokens": "tokens|tokens reset|reset tokens|reset|tokeni|токены|сбросить токены|сброс токенов|токендер",
    "export": "export|csv|pakua|hamisha|выгрузка|экспорт|выгрузить|экспорттау|жүктеу",
    "refunded": "refunded|refund done|money returned|nimerudisha|nimerejesha|pesa imerudishwa|"
                "вернул|вернула|вернули деньги|деньги возвращены|қайтардым|ақша қайтарылды",
    "help": "help|commands|msaada|amri|помощь|команды|көмек|командалар",
    "menu": "menu|home|menyu|nyumbani|меню|главное меню|мәзір|басты мәзір",
    "language": "language|lang|lugha|язык|тіл",
    "staff": "staff|i work here|im staff|nafanya kazi hapa|mfanyakazi|я здесь работаю|я сотрудник|"
             "сотрудник|мен осында жұмыс істеймін|қызметкер",
}
OWNER_ONLY = frozenset({"digest", "week", "close", "open", "hours", "tokens", "export", "restock", "refunded",
                        "answer"})  # answer: the button under a customer's message to the shop
# The word a mechanic is shown for each job action, in their language (used in examples).
WORD_FOR = {
    "received": {"en": "received", "sw": "pokea", "ru": "принял", "kk": "қабылдадым"},
    "start": {"en": "start", "sw": "anza", "ru": "начать", "kk": "бастау"},
    "extra": {"en": "extra", "sw": "ziada", "ru": "доп", "kk": "қосымша"},
    "ready": {"en": "ready", "sw": "tayari", "ru": "готово", "kk": "дайын"},
    "done": {"en": "done", "sw": "kamili", "ru": "выдано", "kk": "бітті"},
    "noshow": {"en": "no show", "sw": "hakuja", "ru": "неявка", "kk": "келмеді"},
}
JOB_ACTIONS = ("received", "start", "extra", "ready", "done", "noshow")
CODE = re.compile(r"^#?(?:([a-z]{1,4})-?)?(\d{3,7})$", re.IGNORECASE)


def _phrases(block: str) -> list[tuple[str, ...]]:
    return [tuple(fold(w) for w in p.split()) for p in block.split("|") if p.strip()]


TABLE = {name: _phrases(block) for name, block in VOCABULARY.items()}
# Words of "/tokens reset PHONE" that are not the phone, in every language.
YESTERDAY = frozenset(fold(w) for w in ("yesterday", "вчера", "кеше", "кешегі", "jana"))
FOR_A_DAY = frozenset(fold(w) for w in ("for", "of", "за", "на", "ya"))  # "отчёт за вчера", "digest for friday"
TOKENS_WORDS = frozenset(word for phrase in TABLE["tokens"] for word in phrase) | {fold("сбросить"), fold("сброс")}


@dataclass(frozen=True)
class Parsed:
    name: str
    args: tuple[str, ...]  # the rest of the message, as typed (booking code removed)
    code: str | None  # a booking number found in the message ("1042" from "MM-1042")
    slash: bool


def _key(token: str) -> str:
    return fold(token).strip(".,!?:;\"'()")


def _near(word: str, keyword: str) -> bool:
    """A typo of `keyword`: one slip, or two in a long word that is no longer than it
    (letters added are how Kazakh says "not", -ма-/-ба-, and English un-/in-:
    "қабылдамады" is not "қабылданды", "unfinished" is not "finished"; "finish" is)."""
    if word == keyword:
        return True
    if min(len(word), len(keyword)) < 4 or abs(len(word) - len(keyword)) > 2:
        return False  # no edit distance is below the difference in length
    distance = OSA.distance(word, keyword)
    if len(keyword) == 4:
        return distance == 1 and sorted(word) == sorted(keyword)
    return distance <= (2 if len(keyword) >= 8 and len(word) <= len(keyword) else 1)


# Words that deny a job action said just before them ("дайын емес", "ready? no, not yet").
# Before the action they already make no command: a command is the words a message starts with.
NEGATIONS = frozenset(fold(w) for w in ("not", "no", "never", "isnt", "didnt", "bado", "si", "sio", "hapana",
                                        "нет", "не", "емес", "жоқ", "болмады"))  # fmt: skip
# Kazakh says "not" inside the verb: these deny the job words, and are never typos of them.
DENIED_VERBS = frozenset(fold(w) for w in (
    "қабылдамадым", "қабылдамады", "қабылданбады", "бастамадым", "бастамады", "басталмады", "аяқтамадым",
    "аяқтамады", "аяқталмады", "тапсырмадым", "тапсырмады", "тапсырылмады", "бітпеді"))  # fmt: skip
# Words passed over on the way to a denial: "not yet", "ещё нет", "дайын ба? жоқ", "дайын болған жоқ".
# Words that make a job action a question ("готово ли 1042?", "1042 дайын ба?", "бітті ме?"):
# asked, not done; the job is shown.
QUESTION_PARTICLES = frozenset(fold(w) for w in ("ли", "ба", "бе", "ма", "ме", "па", "пе"))
PARTICLES = QUESTION_PARTICLES | frozenset(fold(w) for w in ("yet", "ещё", "еще", "болған"))
DENIABLE = frozenset({"received", "start", "ready", "done", "refunded"})
# Words that put a job action later ("ready tomorrow", "готово будет через час", "дайын болады"):
# not done now, so nothing moves and the customer is told nothing.
LATER = frozenset(fold(w) for w in (
    "tomorrow", "tmrw", "tommorow", "tomorow", "later", "tonight", "soon", "kesho", "baadaye", "baadae", "baada",
    "jioni", "kabla", "завтра", "позже", "потом", "скоро", "через", "после", "будет", "вечером", "ертең", "ертеңге",
    "кейін", "кешке", "болады", "сағаттан"))  # fmt: skip
# A word that leads a time ("in 20 mins", "at 4pm", "this afternoon", "к вечеру"), and the words of time.
TIME_LEADS = frozenset(fold(w) for w in ("in", "at", "by", "within", "after", "this", "next", "к", "до", "saa"))
TIME_WORDS = frozenset(fold(w) for w in (
    "hour", "hours", "hr", "hrs", "min", "mins", "minute", "minutes", "am", "pm", "afternoon", "evening", "morning",
    "night", "week", "lunch", "noon", "вечеру", "вечера", "вечер", "обеда", "утра", "часа", "час", "минут", "неделе",
    "saa", "asubuhi", "mchana", "ya", "moja"))  # fmt: skip
# Commands read only as written, no typo allowed: "верну 1042" (I will return it) and
# "refund 1042" must not tell a customer their money came back.
EXACT = frozenset({"refunded"})


@lru_cache(maxsize=4096)
def _starting_like(word: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The (command, phrase) pairs whose first word `word` may be, typos allowed. Every
    customer message is asked too, and their first words repeat: remembered."""
    return tuple((name, phrase) for name, phrases in TABLE.items() for phrase in phrases
                 if (word == phrase[0] if name in EXACT else _near(word, phrase[0])))  # fmt: skip


# A booking's number in a word we cannot read as a code: "(1042)", "no.1042", "за-1042" (Cyrillic)
_ODD_REFERENCE = re.compile(r"^[(\[#]*(?:no\.?)?(?:[a-zа-яёәғқңөұүһі]{1,4}[-.]?)?(\d{3,7})[)\].,;:!]*$")


def booking_number(token: str) -> str | None:
    """The booking a word names: its number ("1042"), or its whole code when a prefix is
    typed ("ZA-1042"), which in another shop's chat must find nothing, not MM-1042."""
    match = CODE.match(token.strip(".,!?:;"))
    if not match:
        return None
    prefix, number = match.groups()
    return f"{prefix.upper()}-{int(number)}" if prefix else number


def parse(text: str) -> Parsed | None:
    """The command a staff member typed, or None."""
    raw = clean(text.replace("№", " "))  # "готово №1001": the number sign marks a number (NFKC would make it "No")
    if raw is None:
        return None
    slash = raw.startswith("/")
    tokens = raw.lstrip("/").split()
    if not tokens:
        return None
    tokens[0] = re.sub(r"@\w+$", "", tokens[0])  # "/jobs@pitstop_bot"
    if slash:
        tokens = tokens[0].replace("_", " ").split() + tokens[1:]
    code = None
    if tokens and booking_number(tokens[0]) and len(tokens) > 1:  # "1042 ready"
        code, tokens = booking_number(tokens[0]), tokens[1:]
    keys = [_key(t) for t in tokens]
    if not keys or keys[0] in DENIED_VERBS:  # "/@pitstop_bot": nothing but the bot's name; "тапсырмады"
        return None
    best: list[tuple[int, bool, str]] = []
    for name, phrase in _starting_like(keys[0]):
        k = len(phrase)
        if k <= len(keys) and all(keys[i] == phrase[i] if name in EXACT else _near(keys[i], phrase[i])
                                  for i in range(1, k)):  # fmt: skip
            best.append((k, all(keys[i] == phrase[i] for i in range(k)), name))
    if not best:
        if code is None and len(tokens) == 1 and booking_number(tokens[0]):  # just "MM-1042"
            return Parsed("job", (), booking_number(tokens[0]), slash)
        return None
    best.sort(reverse=True)
    top = best[0]
    rivals = {name for k, exact, name in best if (k, exact) == top[:2]}
    if len(rivals) > 1:
        return None
    k, _, name = top
    if name in DENIABLE and _denied(keys[k:]):
        return None  # said it is not so: nothing to do (a customer would be told otherwise)
    args = list(tokens[k:])
    rest = keys[k:]
    at = _number_at(args, rest) if code is None and name in (*JOB_ACTIONS, "job", "jobs", "refunded") else None
    before, after = (rest[:at], rest[at + 1:]) if at is not None else ([], rest)
    if at is not None:  # the booking's number comes first after the command (words of time aside)
        code = booking_number(args[at]) or (str(int(m.group(1))) if (m := _ODD_REFERENCE.match(rest[at])) else None)
        del args[at]
    later = any(w in LATER for w in before) or _for_later(after)  # "tayari kesho 1042", "ready 1042 in 20 mins"
    if name in DENIABLE and (raw.endswith("?") or QUESTION_PARTICLES & set(rest) or later):  # "готово ли 1042?"
        return Parsed("job", (), code, slash) if code else None  # asked, or said for later: the job's card
    return Parsed(name, tuple(args), code, slash)


def _number_at(args: list[str], keys: list[str]) -> int | None:
    """Where the booking's number is: the first word after the command that reads as one
    ("принял машину 1042", "ready for pickup 1042"), but not a sum paid ("done, paid
    1500") nor a plate's digits ("KCB 123A"); a number after it is a remark ("received
    1042 mileage 125000")."""
    for i, (arg, key) in enumerate(zip(args, keys, strict=True)):
        if i and keys[i - 1] in MONEY_WORDS:
            continue
        if booking_number(arg) or _ODD_REFERENCE.match(key):
            return i
    return None


# Words a sum follows: the number after them is money, not a booking.
MONEY_WORDS = frozenset(fold(w) for w in ("paid", "pay", "ksh", "kes", "sh", "kzt", "tg", "тг", "тенге", "₸",
                                          "оплатил", "оплатила", "заплатил", "заплатила", "төледі", "amelipa",
                                          "alilipa", "shilingi"))  # fmt: skip


def _for_later(after: list[str]) -> bool:
    """Whether the words right after the booking's number put the action later: "tomorrow",
    "in 20 mins", "at 4pm", "this afternoon", "к вечеру"; not a remark that only holds one
    ("received 1042 will call the customer")."""
    words = [w for w in after if w and w not in PARTICLES]
    if not words:
        return False
    first, second = words[0], words[1] if len(words) > 1 else ""
    return first in LATER or (first in TIME_LEADS and (second in TIME_WORDS or any(c.isdigit() for c in second)))


def _denied(rest: list[str]) -> bool:
    """Do the words after a job action deny it? Those right after it ("ready? no"), or
    all that follows its booking number ("ready 1042 not yet"); a remark after the
    number is no denial ("received 1042 no scratches")."""
    words = [w for w in rest if w not in PARTICLES]
    if words and booking_number(words[0]):
        return len(words) > 1 and all(w in NEGATIONS for w in words[1:])
    return bool(words) and words[0] in NEGATIONS


MAX_YEARS_AWAY = 5
_YEAR = re.compile(r"\d{4}|\d[./-]\d{1,2}[./-]\d{2}\b")  # a year typed: "2026-12-24", "24.12.26"


def parse_day(args: list[str] | tuple[str, ...], today: date, lang: str,
              past: bool = False) -> tuple[date | None, list[str]]:  # fmt: skip
    """A day at the start of the arguments ("2026-12-24", "24.12", "tomorrow", "24 dec"),
    and the arguments after it. A day typed without its year is the next one to come; with
    `past` (a digest, of a day gone by) a date still to come ("20.1" on 25 December) is
    last year's, as is a day named in words more than a month ahead, and a weekday named
    is the last one gone by ("friday" on a Monday: three days ago)."""
    args = list(args)
    if len(args) > 1 and _key(args[0]) in FOR_A_DAY:
        args = args[1:]
    if args and _key(args[0]) in YESTERDAY:  # reports look back; customers never book yesterday
        return today - timedelta(days=1), args[1:]
    for k in range(1, min(3, len(args)) + 1):
        typed = " ".join(args[:k])
        found = parse_when(typed, today, lang)
        if found is not None and found.day is not None and found.time is None:
            day = found.day
            if abs(day.year - today.year) > MAX_YEARS_AWAY:
                return None, args  # "31.12.9999": not a day the shop will see
            dated = any(ch.isdigit() for ch in typed)  # "20.1", "20 jan": not "tomorrow" or "friday"
            if past and not _YEAR.search(typed) and (day > today if dated else (day - today).days > 31):
                day = _year_before(day)
            elif past and day > today and not dated and names_weekday(typed):  # "friday" on Monday: the last one
                day -= timedelta(days=7)
            return day, args[k:]
    return None, args


def parse_span(args: list[str] | tuple[str, ...], today: date, lang: str) -> tuple[date, date] | None:
    """The first and last day of an export ("1.12 31.12", "2026-11-01 2026-11-30", one
    day alone). Days typed without their year are this year's, read together as one
    span: an end before the start ("1.12 31.1" in January) puts the start a year back,
    and a span starting more than a month ahead ("1.12 31.12" in January) is last year's."""
    first, rest = parse_day(args, today, lang)
    if first is None:
        return None
    last = parse_day(rest, today, lang)[0] or first
    if not _YEAR.search(" ".join(args)):
        first, last = _this_year(first, today), _this_year(last, today)
        if last < first:
            first = _year_before(first)
        if (first - today).days > 31:
            first, last = _year_before(first), _year_before(last)
    return (first, last) if first <= last else (last, first)  # "30.11.2026 1.11.2026" means the same days


def _this_year(day: date, today: date) -> date:
    return _year_before(day) if day.year > today.year else day


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1) if not (day.month == 2 and day.day == 29) else day - timedelta(days=365)


def parse_qty(token: str) -> int | None:
    token = token.strip().lstrip("+")
    return int(token) if token.isdecimal() and 0 < int(token) <= 100000 else None
