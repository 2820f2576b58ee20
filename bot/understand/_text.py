"""Text clean-up shared by every parser in ``bot.understand``.

Why a separate module: all parsers must agree on what "the same word" means
(case, diacritics, Kazakh letters typed on a Russian keyboard, full-width
digits), otherwise a label that matches in one step would fail in another.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Longer than any sensible answer to a chat prompt.  Anything longer is not an
# answer we can act on, and refusing early keeps every parser fast on junk.
MAX_CHARS = 300

# Kazakh letters people often type as their Russian neighbours (no Kazakh
# layout installed): "ертен" for "ертең", "бугин" for "бүгін".  Folding both
# sides makes the two spellings equal.
_KAZAKH_FOLD = str.maketrans(
    {
        "ә": "а",
        "ғ": "г",
        "қ": "к",
        "ң": "н",
        "ө": "о",
        "ұ": "у",
        "ү": "у",
        "һ": "х",
        "і": "и",
        "ı": "i",
    }
)

# Emoji presentation selectors and the keycap mark ("2️⃣" -> "2").
_INVISIBLE = dict.fromkeys(map(ord, "\ufe0f\ufe0e\u20e3\u200b\u200c\u200d\u2060\ufeff"))


def clean(text: object) -> str | None:
    """Return NFKC-normalised, stripped text, or None if it cannot be an answer.

    NFKC turns full-width digits ("２") and no-break spaces into plain ones, so
    every parser below can use simple ASCII patterns.
    """
    if not isinstance(text, str):
        return None
    if len(text) > MAX_CHARS * 4:  # cheap guard before normalising megabytes
        return None
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).strip()
    if not text or len(text) > MAX_CHARS:
        return None
    return text


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower-case, drop diacritics and fold Kazakh letters: the matching key.

    Applied to both what people type and to our own word tables, so "Замена
    масла", "замена масла" and "ЗАМЕНА МАСЛА" compare equal, as do "ертең" and
    "ертен", "café" and "cafe". Remembered: every step folds the same labels again.
    """
    text = text.casefold().translate(_KAZAKH_FOLD)
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)


_WORD = re.compile(r"\w+")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019](?=\w)")


def words(text: str) -> list[str]:
    """Folded words (letters/digits runs); punctuation and emoji are dropped.

    Apostrophes inside a word are removed first, so "don't" is one word "dont".
    """
    return _WORD.findall(_APOSTROPHE.sub("", fold(text)).replace("_", " "))


def squash_repeats(word: str) -> str:
    """Undo stretching: "yeeees" -> "yes", "даааа" -> "да"."""
    return re.sub(r"(.)\1+", r"\1", word)
