"""Pick one or several items from a numbered menu.

Why: customers answer a menu in whatever way is quickest for them — the
number, the label, a typo of the label, one word of it, or the label in the
language they think in (a Russian speaker answers "замена масла" even when the
menu was shown in English).  We accept all of those, but we never guess
between two items: an ambiguous answer returns None and the engine re-asks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz

from ._text import clean, fold, words
from .answers import after_greeting
from .when import when_said_apart

Choices = Sequence[tuple[str, Sequence[str]]]

# Words that carry no choice of their own; dropped before matching single
# words ("oil please" -> "oil").  One line per language; folded as answers are
# ("пожалуйста" -> "пожалуиста").
# Only the words that make a request polite: dropped around a list number ("2 pls").
POLITE = frozenset(fold(word) for word in "please pls plz пожалуйста пж плз өтінемін tafadhali".split())
FILLER = POLITE | frozenset(
    fold(word)
    for word in """
    the a an i want need needs would like to my for just one service id
    я мне нужно нужна нужен надо хочу хотел хотела бы на
    мен маган керек келеди
    nataka ninataka nahitaji ninahitaji ningependa naomba ninaomba kwa ya
    """.split()
)
# Words for "a service" in general: in a request they name none ("nataka huduma" is not
# "Huduma kamili"), though alone at the menu they are its "Book a service" ("huduma").
ANY_SERVICE = frozenset(fold(word) for word in "huduma servisi сервис обслуживание техобслуживание қызмет".split())

# Words for the customer's car, and the words that go with them ("for my car", "в машине",
# "ya gari langu", "көлігіме"): which car is asked next, so they name no service.
CAR_WORDS = frozenset(fold(word) for word in
                      "car cars vehicle auto машина машину машине машины машиной авто автомобиль автомобиля "
                      "автомобилю автомобиле көлік көлігім көлігіме көлігімді көлікке gari".split())  # fmt: skip
CAR_PREPOSITIONS = frozenset(fold(word) for word in "for of on in to в для у на kwa ya la".split())

# "1, 3", "1 and 3", "1 и 3", "1 na 3", "1 және 3" (folded: "жане").
_SEPARATOR = re.compile(r"\s*(?:[,;&+/]|\b(?:and|и|na|жане|also)\b)\s*")
# "2", " 2. ", "#2", "№2" (NFKC turns "№" into "No"), "2)".
_POSITION = re.compile(r"^(?:#|no\.?)?\s*(\d{1,3})\s*[.)]?$", re.IGNORECASE)

# Stems of the words for changing a part, any of which means the others: "поменять масло"
# is the shop's "Замена масла", "replace" its "change". Not "смена": in Russian that is
# also a mechanic's shift.
CHANGE_WORDS = tuple(fold(stem) for stem in
                     "change replac swap замен помен менят ауыстыр алмастыр badili kubadili".split())  # fmt: skip

# Words for the work done to a part (changing, checking, repairing): alone they name no
# service ("проверить", "check", "ремонт"), though "Проверка аккумулятора" begins with one.
DOING_WORDS = CHANGE_WORDS + tuple(fold(stem) for stem in
                                   "check провер тексер kagua kukagua repair fix ремонт почин жөнде rekebish "
                                   "kurekebish tengenez kutengenez".split())  # fmt: skip

# Words for what is already one's own: "my oil change booking", "мою запись" speak of a
# booking made, not of a new one.
POSSESSIVE = frozenset(fold(word) for word in
                       "my mine мой моя мою мое моё мои моей моего моих менің yangu zangu langu wangu".split())  # fmt: skip

# Words for a booking ("booking", "запись", "жазылу", "miadi"): with a "my", one already made.
BOOKING_STEMS = tuple(fold(stem) for stem in "book appointment запис жазыл miadi nafasi".split())

# Kazakh case endings a service's word takes in a request: "майды ауыстыру" (its "Май"),
# "майға" (folded: ғ is г, қ is к, і is и).
KAZAKH_CASE_ENDINGS = tuple(fold(e) for e in "ды ді ны ні ты ті ға ге қа ке".split())

FUZZY_ACCEPT = 82  # whole-answer similarity needed to accept a typo
FUZZY_MARGIN = 6  # ...and how far ahead of the runner-up it must be
WORD_FUZZY = 80  # per-word similarity for the single-word fallback
# How many: a number is never a typo or a stem of another word ("matatu", three, is not
# "matairi", tyres; "трёх" is not "трос"), so "three tyres" never books the set of four.
NUMBERS = frozenset(fold(word) for word in """
    one two three four five six seven eight nine ten
    один одна одно два две три четыре пять шесть семь восемь девять десять
    двух трёх трех четырёх четырех пяти одну
    бір екі үш төрт бес алты жеті сегіз тоғыз он
    moja mbili tatu nne tano sita saba nane tisa kumi mmoja
    mawili matatu manne matano wawili watatu wanne watano
    """.split())


def _phrase(text: str) -> str:
    return " ".join(words(text))


def _table(choices: Choices) -> list[tuple[str, list[str]]]:
    return _folded(tuple((choice_id, tuple(label for label in labels if isinstance(label, str)))
                         for choice_id, labels in choices))  # fmt: skip


@lru_cache(maxsize=256)  # the same choices (the menu, the shop's services) are read at every message
def _folded(choices: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[str, list[str]]]:
    table = []
    for choice_id, labels in choices:
        folded = [_phrase(label) for label in labels]
        table.append((choice_id, [label for label in folded if label]))
    return table


def _only(ids: set[str] | list[str]) -> str | None:
    unique = set(ids)
    return unique.pop() if len(unique) == 1 else None


def _position(text: str, count: int) -> int | None:
    match = _position_match(text)
    if match is None:
        return None
    number = int(match.group(1))
    return number - 1 if 1 <= number <= count else -1


def _position_match(text: str) -> re.Match | None:
    """A place in the list, politely put or not ("2", "2 please", "tafadhali 2"); not "на
    10" or "for 10", which are ten o'clock."""
    return _POSITION.match(text) or _POSITION.match(" ".join(w for w in text.split() if fold(w) not in POLITE))


def is_position(text: str) -> bool:
    """Whether the answer is a place in the list ("2", "#2", "№2", "no. 2", "2 pls")."""
    raw = clean(text)
    return raw is not None and _position_match(raw) is not None


def _stem_match(token: str, word: str) -> bool:
    """Same word or same stem: "oil"/"oili", "масло"/"масла", "brake"/"brakes"."""
    if token == word or (len(token) >= 3 and word.startswith(token)):
        return True
    common = _common_prefix(token, word)
    return common >= 4 and common >= min(len(token), len(word)) - 2


def _says_change(word: str) -> bool:
    return word.startswith(CHANGE_WORDS)


@lru_cache(maxsize=4096)  # asked for every word of every label at each step: the words recur
def _same_word(token: str, word: str) -> bool:
    """By its stem ("масло"/"масла"), a Kazakh case ending ("майды"/"май"), or another word
    for changing a part ("поменять"/"замена")."""
    return _stem_match(token, word) or _in_kazakh_case(token, word) or (_says_change(token) and _says_change(word))


def _in_kazakh_case(token: str, word: str) -> bool:
    """"майды" is "май" as the object; a whole word only, so the ending adds nothing else."""
    return len(word) >= 3 and token.startswith(word) and token[len(word):] in KAZAKH_CASE_ENDINGS


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _covers(tokens: list[str], label: str, fuzzy: bool | None) -> bool:
    """Does the label name every token: as a word of it (`fuzzy` None), by stem (False),
    or by stem or a typo (True)?"""
    label_words = label.split()
    for token in tokens:
        if token in label_words:
            continue
        if fuzzy is not None and (token.isdigit() or token in NUMBERS):
            return False  # a number is that number or nothing
        if fuzzy is not None and any(_same_word(token, w) for w in label_words):
            continue
        if (
            fuzzy
            and len(token) >= 4
            and any(fuzz.ratio(token, w) >= WORD_FUZZY for w in label_words)
        ):
            continue
        return False
    return True


def _by_words(answer: str, table: list[tuple[str, list[str]]]) -> str | None:
    tokens = [t for t in answer.split() if t not in FILLER]
    if not tokens:
        return None
    for fuzzy in (None, False, True):  # the word itself first: "записаться" is "book", not "записи" (my bookings)
        hits = {cid for cid, labels in table if any(_covers(tokens, lb, fuzzy) for lb in labels)}
        if hits:
            return _only(hits)
    return None


def _by_similarity(answer: str, table: list[tuple[str, list[str]]]) -> str | None:
    scores: dict[str, float] = {}
    for cid, labels in table:
        for label in labels:
            typed, named = _differing(answer, label)
            score = max(fuzz.ratio(typed, named), fuzz.token_sort_ratio(typed, named))
            scores[cid] = max(scores.get(cid, 0.0), score)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] < FUZZY_ACCEPT:
        return None
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < FUZZY_MARGIN:
        return None
    return ranked[0][0]


def _differing(answer: str, label: str) -> tuple[str, str]:
    """The words of an answer and a label that are not the same word in both: a typo is
    judged on them, so "kubadilisha breki" is not "Kubadilisha betri" for its shared word."""
    typed, named = answer.split(), label.split()
    shared = set(typed) & set(named)
    typed_rest = [t for t in typed if t not in shared and t not in FILLER]
    named_rest = [w for w in named if w not in shared and w not in FILLER]
    alike = [(t, w) for t in typed_rest for w in named_rest if _same_word(t, w)]  # "booking"/"book"
    if alike:
        typed_alike, named_alike = {t for t, _ in alike}, {w for _, w in alike}
        typed_rest = [t for t in typed_rest if t not in typed_alike]
        named_rest = [w for w in named_rest if w not in named_alike]
    if not typed_rest or (not named_rest and not any(_counts(t) for t in typed_rest)):
        return answer, label  # one says all the other does and no more that counts ("my bookings now"): whole
    return " ".join(typed_rest), " ".join(named_rest)


def _counts(word: str) -> bool:
    """A figure or a number word: an hour or a count ("oil change 10", "saa nne") that
    an answer saying more than a label must not lose by being judged whole."""
    return any(c.isdigit() for c in word) or word in NUMBERS


def _exact(answer: str, table: list[tuple[str, list[str]]]) -> set[str]:
    return {cid for cid, labels in table if answer in labels}


def pick_choice(text: str, choices: Choices) -> str | None:
    """Return the id of the one choice the person meant, or None.

    Why this order: a number is what the menu invites, so it wins; then an
    exact label (any language); then a typo-tolerant match of the whole
    answer; then single words ("oil" when only one item mentions oil).  Each
    step refuses to choose between two equally good items, because booking the
    wrong service is worse than asking again.
    """
    raw = clean(text)
    if raw is None or not choices:
        return None
    table = _table(choices)
    position = _position(raw, len(table))
    if position is not None:
        return table[position][0] if position >= 0 else _only(_exact(_phrase(raw), table))
    answer = _phrase(raw)
    if not answer:
        return None
    exact = _exact(answer, table)
    if exact:
        return _only(exact)
    return _by_similarity(answer, table) or _by_words(answer, table)


def pick_choices(text: str, choices: Choices) -> list[str] | None:
    """Return the ids of every choice named ("1, 3", "oil change and brake pads").

    Why: some steps (extra services, several vehicles) allow more than one
    item.  A label that itself contains "and" ("Wash and vacuum") is tried as a
    whole first; otherwise every part must be understood, or we return None
    rather than silently dropping the part we could not read.
    """
    raw = clean(text)
    if raw is None or not choices:
        return None
    table = _table(choices)
    answer = _phrase(raw)
    exact = _exact(answer, table) if answer else set()
    if exact:
        one = _only(exact)
        return [one] if one else None
    parts = [p for p in _SEPARATOR.split(fold(raw)) if p.strip()]
    if len(parts) == 1 and all(_POSITION.match(p) for p in parts[0].split()):
        parts = parts[0].split()  # "1 3": numbers separated by spaces only
    if len(parts) > 1:
        picked = [pick_choice(part, choices) for part in parts]
        if all(picked):
            return list(dict.fromkeys(picked))  # type: ignore[arg-type]
        if all(_POSITION.match(part.strip()) for part in parts):
            return None  # "1, 9" when there are 3 items: do not half-answer
    one = pick_choice(raw, choices)
    return [one] if one else None


@dataclass(frozen=True)
class Request:
    """What one message asks for: the choices it names, and whether words that ask
    ("book", "записаться", "weka nafasi") said so, or the names alone ("oil change"); and
    the words of the day and time wanted with them, if said ("завтра в 10")."""

    picked: list[str]
    asked: bool
    wanted: str | None = None


def pick_requested(text: str, choices: Choices, asking: Sequence[str]) -> Request | None:
    """The choices a whole request names ("записаться на замену масла", "I need an oil
    change", "weka nafasi ya kubadilisha oili"), around the `asking` words, or None.

    Why: people say what they want in one message rather than in a menu's two steps.
    Every word must be read (a greeting first, asking, filler, or the choices' own
    words): "замена масла когда?" asks a person something, and list numbers ("2")
    belong to the list on the screen, not to these choices.
    """
    raw = clean(text)
    if raw is None or not choices:
        return None
    tokens = _without_the_car(after_greeting(words(raw)))
    rest, asked = _without_asking(tokens, [words(phrase) for phrase in asking])
    rest = [t for t in rest if t not in ANY_SERVICE]
    if not [t for t in rest if t not in FILLER and not t.startswith(DOING_WORDS)]:
        return None  # "замена", "проверить запись": what is done, but to nothing named
    if POSSESSIVE.intersection(tokens) and any(t.startswith(BOOKING_STEMS) for t in tokens):
        return None  # "my oil change booking", "check my bookings": one already theirs
    answer = " ".join(rest)
    in_list = any(_position_match(part.strip()) for part in _SEPARATOR.split(answer))
    if in_list or all(t.isdigit() for t in rest):
        return None  # "1, 3", "1 3", "book 2": places in the list on the screen
    picked = pick_choices(answer, choices)
    return Request(picked, asked) if picked else None


def _without_the_car(tokens: list[str]) -> list[str]:
    """The words once those for the customer's car are taken out, with their "my" and
    "for" when it has its own ("oil change for my car", "ya gari langu", "в машине"): that
    "my" is then no booking made. Without one, "my car's oil change booking" still is."""
    dropped: set[int] = set()
    for i, token in enumerate(tokens):
        if token not in CAR_WORDS:
            continue
        dropped.add(i)
        after = [i + 1] if i + 1 < len(tokens) and tokens[i + 1] in POSSESSIVE else []  # "gari langu"
        before = [i - 1] if i > 0 and tokens[i - 1] in POSSESSIVE else []  # "my car", "моей машине"
        preposition = min(before or [i]) - 1
        if preposition >= 0 and tokens[preposition] in CAR_PREPOSITIONS:
            dropped.update([preposition, *before, *after])
    return [token for i, token in enumerate(tokens) if i not in dropped]


def _without_asking(tokens: list[str], asking: list[list[str]]) -> tuple[list[str], bool]:
    """The words left once every phrase that asks ("book", "хочу записаться") is taken
    out, and whether there was one; longest phrases first, each word as it is listed:
    "booked", "записался", "записи" speak of a booking made, not of one to make."""
    phrases = sorted((p for p in asking if p), key=len, reverse=True)
    rest, asked, i = [], False, 0
    while i < len(tokens):
        said = next((p for p in phrases if tokens[i : i + len(p)] == p), None)
        if said:
            asked, i = True, i + len(said)
        else:
            rest.append(tokens[i])
            i += 1
    return rest, asked


def pick_requested_when(text: str, choices: Choices, asking: Sequence[str], today: date,
                        lang: str | None = None) -> Request | None:
    """The choices a request names, as `pick_requested` reads them, and the day and time
    said first or last with them ("замена масла завтра в 10", "kesho saa nne: kubadilisha
    oili"), as `parse_when` reads them; or None.

    Why: people say what and when in one message. Every other word must still be read as
    `pick_requested` reads a request alone, and where the message parts in more than one
    way ("for" with the service or with "friday at 3pm") every way must name the same
    choices: otherwise we ask rather than guess.
    """
    plain = pick_requested(text, choices, asking)
    if plain is not None:
        return plain
    readings = []
    for left, said in when_said_apart(text, today, lang, _their_words(choices)):
        request = pick_requested(left, choices, asking)
        if request is not None:
            readings.append(Request(request.picked, request.asked, said))
    if not readings or len({tuple(r.picked) for r in readings}) > 1:
        return None
    return Request(readings[0].picked, all(r.asked for r in readings), max((r.wanted for r in readings), key=len))


def _their_words(choices: Choices) -> frozenset[str]:
    """Every word of the choices' names, and its Kazakh case forms ("май", "майды"): in a
    request they name the choice, never a day or a time."""
    return _words_of_labels(tuple(label for _, labels in choices for label in labels if isinstance(label, str)))


@lru_cache(maxsize=64)  # the shop's service names, asked for at every message the menu reads
def _words_of_labels(labels: tuple[str, ...]) -> frozenset[str]:
    named = {word for label in labels for word in _phrase(label).split()}
    return frozenset(named | {word + ending for word in named for ending in KAZAKH_CASE_ENDINGS})
