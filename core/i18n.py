"""Languages, translation and locale-aware formatting.

Core and the conversation engine never produce finished sentences: they return message
ids marked with `N_()` plus parameters, and the channel renders them here, in the
reader's language, at the edge. Catalogs live in locales/<lang>/LC_MESSAGES/messages.po;
`make locales` compiles them, and a missing or stale .mo is compiled on first use so a
fresh checkout still speaks every language.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_precision
from babel.support import Translations

# The languages Pitstop speaks; each has a catalog (a test checks it).
LANGUAGES: tuple[str, ...] = ("en", "sw", "ru", "kk")
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def N_(msgid: str) -> str:
    """Mark a message id for extraction without translating it yet."""
    return msgid


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a message with plural forms (rendered with the count's form per language)."""
    return singular, plural


@cache
def translations(lang: str) -> Translations:
    """The compiled catalog of `lang`, compiling the .po first if the .mo is missing or old."""
    po = LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if po.is_file() and (not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime):
        with po.open("rb") as src:
            catalog = read_po(src, locale=lang)
        tmp = mo.with_suffix(f".mo.{id(catalog)}")
        with tmp.open("wb") as dst:
            write_mo(dst, catalog)
        tmp.replace(mo)
    return Translations.load(str(LOCALES_DIR), [lang], DOMAIN)


def gettext(lang: str, msgid: str, **params) -> str:
    """Translate a message id into `lang` and fill in its named parameters."""
    text = translations(lang).gettext(msgid)
    return text.format(**params) if params else text


def ngettext(lang: str, singular: str, plural: str, count: int, **params) -> str:
    """Translate with the plural form `lang` uses for `count` (shown as {n})."""
    text = translations(lang).ngettext(singular, plural, count)
    return text.format(**{"n": count, **params})


REGION_OF_CURRENCY = {"KES": "KE", "KZT": "KZ"}
HOME_OF_CURRENCY = {"KES": ("en", "KE"), "KZT": ("kk", "KZ")}
DEFAULT_REGION = {"sw": "KE", "kk": "KZ", "ru": "RU", "en": "KE"}


@lru_cache(maxsize=64)
def babel_locale(lang: str, region: str | None = None) -> Locale:
    """The CLDR locale for numbers and dates: the reader's language in the shop's country
    (Russian in Kazakhstan writes tenge as ₸), falling back to the language alone."""
    for candidate in (f"{lang}_{region or DEFAULT_REGION.get(lang, '')}", lang):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


# The formatters below are pure, and a menu shows the same prices and times over and
# over: each answer is kept (Babel takes tens of microseconds to format one).


@lru_cache(maxsize=4096)
def money(minor: int, currency: str, lang: str) -> str:
    """An amount in minor units, in the reader's way of writing money; whole amounts
    without the cents nobody in a garage writes."""
    digits = get_currency_precision(currency)
    amount = Decimal(minor).scaleb(-digits)
    locale = babel_locale(lang, REGION_OF_CURRENCY.get(currency))
    if minor % (10**digits):
        text = format_currency(amount, currency, locale=locale)
    else:
        pattern = locale.currency_formats["standard"].pattern.split(";")[0]
        whole = pattern.replace("0.00", "0").replace("#,##0.0", "#,##0")
        text = format_currency(amount, currency, format=whole, locale=locale, currency_digits=False)
    return text.replace(currency, _home_symbol(currency))  # "KZT" where the language knows no sign


@lru_cache(maxsize=16)
def _home_symbol(currency: str) -> str:
    """The sign the currency's own country writes (₸, Ksh), for a language whose CLDR
    data has none for it (English knows no tenge sign and would write "KZT15,000")."""
    home = babel_locale(*HOME_OF_CURRENCY[currency]) if currency in HOME_OF_CURRENCY else None
    return home.currency_symbols.get(currency, currency) if home is not None else currency


@lru_cache(maxsize=4096)
def decimal(value: str, lang: str) -> str:
    """A number with one decimal, as the reader writes it ("4.5", "4,5")."""
    return format_decimal(Decimal(value), format="#,##0.0", locale=babel_locale(lang))


@lru_cache(maxsize=4096)
def percent(n: int, lang: str) -> str:
    """A whole percentage, as the reader writes it ("19%", "19 %")."""
    return format_percent(n / 100, locale=babel_locale(lang))


def local_time(at: datetime, timezone: str) -> datetime:
    return at.astimezone(ZoneInfo(timezone))


@lru_cache(maxsize=4096)
def when(at: datetime, timezone: str, lang: str) -> str:
    """A moment shown in the shop's timezone and the reader's language."""
    local = local_time(at, timezone)
    return format_datetime(local, "EEE d MMM, HH:mm", locale=babel_locale(lang))


@lru_cache(maxsize=4096)
def day(at: datetime, timezone: str, lang: str) -> str:
    return format_date(local_time(at, timezone), "EEE d MMM", locale=babel_locale(lang))


@lru_cache(maxsize=4096)
def clock(at: datetime, timezone: str, lang: str) -> str:
    return format_time(local_time(at, timezone), "HH:mm", locale=babel_locale(lang))
