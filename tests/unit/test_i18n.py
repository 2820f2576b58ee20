"""Every message a person can see exists in all four languages, translated for real."""

from datetime import UTC, datetime

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from core import i18n
from tests.conftest import ROOT

PLURALS = {"en": 2, "sw": 2, "ru": 3, "kk": 2}
# Words that are the same in every language (brand names, codes) may stay as they are.
SAME_EVERYWHERE = {"M-Pesa", "Kaspi", "OK", "Telegram", "WhatsApp"}


def test_a_plural_message_has_every_form_of_each_language():
    for lang, forms in PLURALS.items():
        entry = catalog(lang).get("You have {n} token left this month.")
        assert entry is not None and entry.pluralizable, lang
        assert len(entry.string) == forms and all(entry.string), lang


def source_messages() -> set[str]:
    found = set()
    for package in ("core", "bot", "webhooks", "pitstop"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords={"N_": None, "NP_": (1, 2), "ngettext": (2, 3)}
        ):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalog(lang: str):
    with (i18n.LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_language_has_a_catalog_with_its_own_plural_rules(lang):
    assert catalog(lang).num_plurals == PLURALS[lang]


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_message_in_the_code_is_translated(lang):
    cat = catalog(lang)
    missing = []
    for msgid in sorted(source_messages(), key=str):
        entry = cat.get(msgid[0] if isinstance(msgid, tuple) else msgid)
        strings = entry.string if entry is not None else None
        strings = [strings] if isinstance(strings, str) else list(strings or [])
        if not strings or not all(s.strip() for s in strings) or (entry is not None and entry.fuzzy):
            missing.append(msgid)
    assert missing == [], f"{lang}: run `make locales` and translate these"


@pytest.mark.parametrize("lang", ["sw", "ru", "kk"])
def test_translations_are_not_english_copied(lang):
    cat = catalog(lang)
    copied = [m.id for m in cat if m.id and m.string == m.id and m.id not in SAME_EVERYWHERE]
    assert copied == []


@pytest.mark.parametrize(
    "minor, currency, lang, shown",
    [
        (350000, "KES", "en", "Ksh3,500"),
        (350050, "KES", "en", "Ksh3,500.50"),
        (350000, "KES", "sw", "Ksh\xa03,500"),
        (1200050, "KZT", "ru", "12\xa0000,50\xa0₸"),
        (1200000, "KZT", "en", "₸12,000"),  # English knows no tenge sign: the one Kazakhstan writes
        (350000, "KES", "ru", "3\xa0500\xa0Ksh"),
        (1200000, "KZT", "ru", "12\xa0000\xa0₸"),
        (1200000, "KZT", "kk", "12\xa0000\xa0₸"),
    ],
)
def test_money_is_shown_the_way_the_reader_writes_it(minor, currency, lang, shown):
    assert i18n.money(minor, currency, lang) == shown


def test_a_utc_time_is_shown_in_the_shops_timezone():
    at = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert i18n.clock(at, "Africa/Nairobi", "en") == "10:00"
    assert i18n.clock(at, "Asia/Atyrau", "ru") == "12:00"
    assert i18n.day(at, "Asia/Atyrau", "ru") == "пн 23 нояб."
