"""Which of the shop's languages a first message is written in, when it says so plainly.

WhatsApp tells us nothing of a customer's language and Telegram only their phone's; a
customer who opens with "Habari, nataka kuweka miadi" should be greeted in Swahili, not
asked in English to choose. Letters decide between Cyrillic and Latin; among Cyrillic,
Kazakh's own letters mark Kazakh; among Latin, a handful of everyday words tell Swahili
from English. Anything less plain is None, and the shop's first language is used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

KAZAKH_LETTERS = frozenset("әғқңөұүһі")
SWAHILI = frozenset(
    "habari jambo hujambo mambo shikamoo salama poa nataka naomba ningependa tafadhali asante ndiyo ndio hapana "
    "sawa kesho leo sasa saa asubuhi mchana jioni wiki gari yangu wangu langu kuweka miadi nafasi kubadilisha "
    "kurekebisha huduma bei ngapi lini gani nini hii hiyo kwa na ni ya wa za la mimi wewe sana karibu".split()
)
ENGLISH = frozenset(
    "hello hi hey good morning afternoon evening i'm want need would like to the an my car please book "
    "booking appointment change oil service tomorrow today when what how much is can you yes no thanks thank "
    "for and of in at".split()
)
_WORD = re.compile(r"[a-z']+")


def language_of(text: str, offered: Sequence[str]) -> str | None:
    """The language among `offered` (codes: en, sw, ru, kk) that `text` is plainly in."""
    letters = [c for c in text.lower() if c.isalpha()] if isinstance(text, str) else []
    if not letters:
        return None
    cyrillic = [c for c in letters if "а" <= c <= "я" or c == "ё" or c in KAZAKH_LETTERS]
    if len(cyrillic) * 2 > len(letters):
        kazakh = any(c in KAZAKH_LETTERS for c in cyrillic)
        return next((lang for lang in (("kk", "ru") if kazakh else ("ru",)) if lang in offered), None)
    words = _WORD.findall(text.lower())
    swahili, english = sum(w in SWAHILI for w in words), sum(w in ENGLISH for w in words)
    if swahili > english and "sw" in offered:
        return "sw"
    if english > swahili and "en" in offered:
        return "en"
    return None
