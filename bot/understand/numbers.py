"""Money typed by a mechanic: "2,500", "2 500 тг", "KSh 2.500", "2500.50".

Why a strict parser: the amount is charged to a customer (extra work, a
deposit).  We accept every common way of writing a price in Kenya and
Kazakhstan, and refuse anything we would have to guess at ("2,50,0", "about
2000", "-300").
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from ._text import clean

# Currency marks, written before or after the number.  Longest first so "ksh"
# is removed before "sh".
CURRENCY = sorted(
    """
    kes ksh kshs ksh. kshs. shs shs. sh sh. shillings shilingi bob /= /-
    kzt тг тг. тенге теңге ₸ tenge
    """.split(),
    key=len,
    reverse=True,
)
# "2.5k", "3 тыс", "5 мың": thousands, common when typing fast.
THOUSANDS_SUFFIX = ("k", "к", "тыс.", "тыс", "мың")

MAX_DIGITS = 10  # a workshop price above 10 billion is a typo, not a price

_CURRENCY = re.compile(
    r"^(?:"
    + "|".join(map(re.escape, CURRENCY))
    + r")\s*|\s*(?:"
    + "|".join(map(re.escape, CURRENCY))
    + r")$",
    re.IGNORECASE,
)
_GROUPED = re.compile(r"\d{1,3}(?:([ ,.'])\d{3})(?:\1\d{3})*")  # 2,500 / 2 500 / 1.250.000
_DECIMALS = re.compile(r"(.+?)([.,])(\d{1,2})")  # "...,50" / "....5" at the end


def _strip_currency(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _CURRENCY.sub("", text).strip()
    return text


def _major_units(number: str) -> Decimal | None:
    """Read "2 500", "2,500.50", "2.500,5" or "2500" as a Decimal amount."""
    match = _DECIMALS.fullmatch(number)
    whole, point, decimals = match.groups() if match else (number, "", "0")
    if point and point in whole:
        return None  # "2.500.50": the same mark cannot both group and separate cents
    if whole.isdecimal():
        digits = whole
    elif _GROUPED.fullmatch(whole):
        digits = re.sub(r"\D", "", whole)
    else:
        return None
    if len(digits) > MAX_DIGITS:
        return None
    return Decimal(f"{digits}.{decimals}")


def parse_amount(text: str, digits: int = 2) -> int | None:
    """Return the price in minor units (cents/tiyn; `digits` of them to the major unit,
    none for a currency without cents), or None.

    Why the separator rule: "2.500" is two thousand five hundred in ru/kk
    habits while "2500.50" has cents, so a dot or comma followed by exactly
    three digits groups thousands and one or two digits are decimals.
    Rounding is half-up for the (rare) case a multiplier leaves fractions.
    """
    raw = clean(text)
    if raw is None:
        return None
    body = _strip_currency(raw.replace("\u2019", "'").rstrip(".!"))
    multiplier = 1
    lowered = body.casefold()
    for suffix in THOUSANDS_SUFFIX:
        if lowered.endswith(suffix) and lowered[: -len(suffix)].rstrip()[-1:].isdecimal():
            body, multiplier = body[: -len(suffix)].rstrip(), 1000
            break
    body = _strip_currency(body)
    if not re.fullmatch(r"\+?[0-9][0-9 ,.']*", body):  # ASCII digits only: money
        return None
    amount = _major_units(body.lstrip("+").strip())
    if amount is None:
        return None
    minor = amount * multiplier * 10**digits
    if multiplier == 1 and minor != minor.to_integral_value():
        return None  # cents typed for a currency that has none
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))
