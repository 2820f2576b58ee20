"""`pick_choice` and `pick_choices` as they were before they were made faster (issue #9),
kept as the oracle `test_choices_same_answers` holds the new ones to.

Why a frozen copy: the speed-up must change no answer, and the surest proof is the old
code itself, run on the same random answers. Only the ways of reading are frozen here;
the word lists (FILLER, NUMBERS, ...) are the module's own, so a list later changed on
purpose changes both alike. Copied from bot/understand/choices.py at cbc9ee1.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz

from bot.understand._text import clean, fold, words
from bot.understand.choices import (
    _POSITION,
    _SEPARATOR,
    CHANGE_WORDS,
    FILLER,
    FUZZY_ACCEPT,
    FUZZY_MARGIN,
    KAZAKH_CASE_ENDINGS,
    NUMBERS,
    POLITE,
    WORD_FUZZY,
    Choices,
)


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

