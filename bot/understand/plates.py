"""Vehicle registration plates for Kenya and Kazakhstan.

Why: the plate is how a workshop recognises a car, so "kcb 123a", "KCB123A"
and "KCB-123-A" must become the same "KCB 123A", and a Kazakh plate typed on a
Russian keyboard ("123 АВС 06" with Cyrillic letters) must equal the Latin one.
"""

from __future__ import annotations

import re

from ._text import clean

# Cyrillic letters that look like Latin ones; plates only use the Latin set.
CYRILLIC_LOOKALIKES = str.maketrans("АВСЕНКМОРТХУ", "ABCEHKMOPTXY")

# (pattern on the compact form, display template).  Order matters: specific first.
PLATE_FORMATS = [
    (re.compile(r"(K[A-Z]{2})(\d{3})([A-Z])"), "{0} {1}{2}"),  # Kenya car: KCB 123A
    (re.compile(r"(KM[A-Z]{2})(\d{3})([A-Z])"), "{0} {1}{2}"),  # Kenya motorbike: KMDA 123A
    (re.compile(r"(\d{3})([A-Z]{2,3})(\d{2})"), "{0} {1} {2}"),  # Kazakhstan: 123 ABC 06
]
_SEPARATORS = re.compile(r"[\s\-.·_]+")


def _compact_groups(text: str) -> list[str] | None:
    raw = clean(text)
    if raw is None:
        return None
    groups = [g for g in _SEPARATORS.split(raw.upper().translate(CYRILLIC_LOOKALIKES)) if g]
    if not groups or not all(re.fullmatch(r"[A-Z0-9]+", g) for g in groups):
        return None
    return groups


def normalise_plate(text: str) -> str | None:
    """Return the plate's display form ("KCB 123A", "123 ABC 06"), or None.

    Why lenient for unknown formats: visitors, old and special plates exist;
    any 2-10 Latin letters and digits with at least one of each are kept as
    typed (upper-case, single spaces) so the workshop can still record them.
    Anything else (a sentence, emoji, only digits) is not a plate.
    """
    groups = _compact_groups(text)
    if groups is None:
        return None
    compact = "".join(groups)
    if not 2 <= len(compact) <= 10 or compact.isdigit() or compact.isalpha():
        return None
    for pattern, template in PLATE_FORMATS:
        match = pattern.fullmatch(compact)
        if match:
            return template.format(*match.groups())
    return " ".join(groups)


def plate_key(text: str) -> str | None:
    """Return the storage key: the display form without spaces ("KCB123A").

    Why: comparisons and unique indexes must not depend on how the plate was
    spaced when typed.
    """
    display = normalise_plate(text)
    return display.replace(" ", "") if display else None
