"""Pick one or several items from a numbered menu.

Why: customers answer a menu in whatever way is quickest for them — the
number, the label, a typo of the label, one word of it, or the label in the
language they think in (a Russian speaker answers "замена масла" even when the
menu was shown in English).  We accept all of those, but we never guess
between two items: an ambiguous answer returns None and the engine re-asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz, process

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
# A label's similarity at or below this neither wins (it is under FUZZY_ACCEPT) nor keeps
# a winner from winning (one at FUZZY_ACCEPT or more is FUZZY_MARGIN ahead of it).
FUZZY_MATTERS = FUZZY_ACCEPT - FUZZY_MARGIN
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


@dataclass(frozen=True, eq=False)
class _Words:
    """A label or an answer, read once: its words, those that are not filler, and whether
    any says "change" (what `_differing` asks of both)."""

    phrase: str
    word_set: frozenset[str]
    changes: bool  # a word for changing a part, alike any other such word whatever its letters
    content: tuple[str, ...]  # the words that are not FILLER, in order
    content_phrase: str
    content_sorted: str  # the content words in order of their letters: `fuzz.token_sort_ratio` reads them so
    content_heads: frozenset[str]  # see _head


@lru_cache(maxsize=1024)  # labels recur in every table; pick_choices reads its answer twice
def _read(phrase: str) -> _Words:
    words = phrase.split()
    content = tuple(word for word in words if word not in FILLER)
    return _Words(phrase, frozenset(words), any(map(_says_change, words)), content, " ".join(content),
                  " ".join(sorted(content)), frozenset(map(_head, content)))  # fmt: skip


@dataclass(frozen=True, eq=False)
class _Table:
    """Choices with their labels read, and indexes from a word to the labels that have it.

    Why: an answer naming no choice (a plate, a time, "yes") was held against each label
    in turn, whole and word by word: 60 labels at the services step, 380 µs a message.
    Its few words looked up here, and the labels scored in one rapidfuzz call over them
    all, read it in a twentieth of that (issue #9)."""

    offered: tuple[str, ...]  # the choice ids, in the order shown: "2" is the second
    by_label: dict[str, frozenset[str]]  # a whole label: the ids it names
    labels: tuple[_Words, ...]  # every label of every choice...
    ids: tuple[str, ...]  # ...and the id of its choice
    content_phrases: tuple[str, ...]  # each label's words but filler...
    content_sorted: tuple[str, ...]  # ...and in order of their letters, as rapidfuzz reads them
    having: dict[str, frozenset[int]]  # a word: the labels that have it
    words: tuple[str, ...]  # every word of the labels, once
    words_by_head: dict[str, tuple[str, ...]]  # see _head
    saying_change: frozenset[int]  # the labels with a word for changing a part (alike whatever its letters)
    beginning: dict[str, frozenset[int]]  # a head (_head): the labels with a content word beginning so
    contentless: frozenset[int]  # the labels saying nothing but filler


def _table(choices: Choices) -> _Table:
    """The choices read, as remembered from the last time they were (`_folded`, which
    leaves out any label that is not a string).

    Why the labels are not looked at first: asking each whether it is a string took
    longer than reading most answers does; only a label that cannot be part of the key
    (a list or a dict, from a broken caller) makes us leave those out before."""
    try:
        return _folded(tuple((choice_id, tuple(labels)) for choice_id, labels in choices))
    except TypeError:
        return _folded(tuple((choice_id, tuple(label for label in labels if isinstance(label, str)))
                             for choice_id, labels in choices))  # fmt: skip


@lru_cache(maxsize=256)  # the same choices (the menu, the shop's services) are read at every message
def _folded(choices: tuple[tuple[str, tuple[str, ...]], ...]) -> _Table:
    """The table of these choices: that of their labels (`_shaped`), each choice named by
    its id. Choices whose ids change from one booking to the next ("yes:cancel-41", a
    confirmation's token) while their labels stay the same share the reading of those
    labels, the dearer part (100-250 µs, against 20-30 µs for this)."""
    ids = tuple(choice_id for choice_id, _ in choices)
    shape = _shaped(tuple(labels for _, labels in choices))
    return replace(shape, offered=ids, ids=tuple(ids[place] for place in shape.ids),
                   by_label={phrase: frozenset(ids[place] for place in places)
                             for phrase, places in shape.by_label.items()})  # fmt: skip


@lru_cache(maxsize=256)
def _shaped(choices: tuple[tuple[str, ...], ...]) -> _Table:
    """The table of choices with these labels, each choice named by its place (0, 1, ...)."""
    named = [(place, phrase) for place, labels in enumerate(choices)
             for phrase in (_phrase(label) for label in labels if isinstance(label, str)) if phrase]  # fmt: skip
    by_label: dict[str, frozenset[int]] = {}
    for place, phrase in named:
        by_label[phrase] = by_label.get(phrase, frozenset()) | {place}
    labels = tuple(_read(phrase) for _, phrase in named)
    having = _labels_by(labels, lambda label: label.word_set)
    return _Table(
        offered=tuple(range(len(choices))),
        by_label=by_label,
        labels=labels,
        ids=tuple(place for place, _ in named),
        content_phrases=tuple(label.content_phrase for label in labels),
        content_sorted=tuple(label.content_sorted for label in labels),
        having=having,
        words=tuple(having),
        words_by_head=_by_head(having),
        saying_change=frozenset(i for i, label in enumerate(labels) if label.changes),
        beginning=_labels_by(labels, lambda label: label.content_heads),
        contentless=frozenset(i for i, label in enumerate(labels) if not label.content),
    )


def _labels_by(labels: tuple[_Words, ...], keys: Callable[[_Words], frozenset[str]]) -> dict[str, frozenset[int]]:
    """Each key (a word, a head) and the labels (by place) that have it."""
    found: dict[str, set[int]] = {}
    for i, label in enumerate(labels):
        for key in keys(label):
            found.setdefault(key, set()).add(i)
    return {key: frozenset(places) for key, places in found.items()}


def _by_head(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for word in words:
        found.setdefault(_head(word), []).append(word)
    return {head: tuple(alike) for head, alike in found.items()}


def _head(word: str) -> str:
    """A word's first three letters (all of a shorter one). Two words are `_same_word` only
    if they begin alike so (the same, a stem, a case ending, all from the third letter
    on), or if both are words for changing a part: only those need asking."""
    return word[:3]


def _only(ids: Iterable[str]) -> str | None:
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


@lru_cache(maxsize=4096)  # asked at each step for the words beginning alike (_head): the words recur
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


def _naming(token: str, table: _Table, fuzzy: bool | None) -> frozenset[int]:
    """The labels that name the token: as a word of theirs (`fuzzy` None), by stem too
    (False), or by stem or a typo (True); a number only as itself."""
    named = table.having.get(token, frozenset())
    if fuzzy is None or token.isdigit() or token in NUMBERS:
        return named  # a number is that number or nothing
    alike = [table.having[word] for word in table.words_by_head.get(_head(token), ()) if _same_word(token, word)]
    if _says_change(token):
        alike.append(table.saying_change)
    if fuzzy and len(token) >= 4:
        typos = process.extract(token, table.words, scorer=fuzz.ratio, score_cutoff=WORD_FUZZY, limit=None)
        alike += [table.having[word] for word, _score, _place in typos]
    return named.union(*alike)


def _covering(tokens: tuple[str, ...], table: _Table, fuzzy: bool | None) -> frozenset[int]:
    """The labels that name every token (`_naming`)."""
    labels = _naming(tokens[0], table, fuzzy)
    for token in tokens[1:]:
        if not labels:
            break
        labels &= _naming(token, table, fuzzy)
    return labels


def _by_words(answer: _Words, table: _Table) -> str | None:
    tokens = answer.content
    if not tokens:
        return None
    for fuzzy in (None, False, True):  # the word itself first: "записаться" is "book", not "записи" (my bookings)
        hits = {table.ids[i] for i in _covering(tokens, table, fuzzy)}
        if hits:
            return _only(hits)
    return None


def _by_similarity(answer: _Words, table: _Table) -> str | None:
    scores: dict[str, float] = {}
    for i, score in _similarities(answer, table):
        scores[table.ids[i]] = max(scores.get(table.ids[i], 0.0), score)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] < FUZZY_ACCEPT:
        return None
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < FUZZY_MARGIN:
        return None
    return ranked[0][0]


def _similarities(answer: _Words, table: _Table) -> Iterator[tuple[int, float]]:
    """Each label's likeness to the answer (by place), the better of in order and with
    their words sorted, judged on their differing words (`_differing`). A likeness of
    FUZZY_MATTERS or less may be left out: it decides nothing.

    Why two ways: against most labels the answer shares no word nor one alike, so all the
    words but filler of both differ, and rapidfuzz scores those labels in one call a way
    (`token_sort_ratio` is `ratio` of the words sorted, sorted once here for the labels);
    the few others are judged one by one."""
    apart = _judged_apart(answer, table)
    if len(apart) < len(table.labels):
        for typed, named in ((answer.content_phrase, table.content_phrases),
                             (answer.content_sorted, table.content_sorted)):  # fmt: skip
            for _, score, i in process.extract(typed, named, scorer=fuzz.ratio, score_cutoff=FUZZY_MATTERS, limit=None):
                if i not in apart:
                    yield i, score
    for i in apart:
        typed, named = _differing(answer, table.labels[i])
        yield i, max(fuzz.ratio(typed, named), fuzz.token_sort_ratio(typed, named))


def _judged_apart(answer: _Words, table: _Table) -> set[int]:
    """The labels whose words `_differing` must sort out from the answer's: those sharing
    a word with it, or with one that may be the same word as one of its own (beginning
    alike, or both for changing a part), or with no words but filler; all of them when
    the answer has none but filler. A few more than need it do no harm."""
    if not answer.content:
        return set(range(len(table.labels)))
    apart = set(table.contentless)
    for word in answer.word_set:
        apart |= table.having.get(word, frozenset())
    for head in answer.content_heads:
        apart |= table.beginning.get(head, frozenset())
    if answer.changes:
        apart |= table.saying_change
    return apart


def _differing(answer: _Words, label: _Words) -> tuple[str, str]:
    """The words of an answer and a label that are not the same word in both: a typo is
    judged on them, so "kubadilisha breki" is not "Kubadilisha betri" for its shared word."""
    shared = answer.word_set & label.word_set
    typed_rest = [t for t in answer.content if t not in shared]
    named_rest = [w for w in label.content if w not in shared]
    alike = [(t, w) for t in typed_rest for w in named_rest if _same_word(t, w)]  # "booking"/"book"
    if alike:
        typed_alike, named_alike = {t for t, _ in alike}, {w for _, w in alike}
        typed_rest = [t for t in typed_rest if t not in typed_alike]
        named_rest = [w for w in named_rest if w not in named_alike]
    if not typed_rest or (not named_rest and not any(_counts(t) for t in typed_rest)):
        return answer.phrase, label.phrase  # one says all the other does and no more that counts ("my bookings now"): whole
    return " ".join(typed_rest), " ".join(named_rest)


def _counts(word: str) -> bool:
    """A figure or a number word: an hour or a count ("oil change 10", "saa nne") that
    an answer saying more than a label must not lose by being judged whole."""
    return any(c.isdigit() for c in word) or word in NUMBERS


def _exact(answer: str, table: _Table) -> frozenset[str]:
    return table.by_label.get(answer, frozenset())


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
    position = _position(raw, len(table.offered))
    if position is not None:
        return table.offered[position] if position >= 0 else _only(_exact(_phrase(raw), table))
    answer = _phrase(raw)
    if not answer:
        return None
    exact = _exact(answer, table)
    if exact:
        return _only(exact)
    read = _read(answer)
    return _by_similarity(read, table) or _by_words(read, table)


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
    exact = _exact(answer, table) if answer else frozenset()
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
