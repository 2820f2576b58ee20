"""A choice's label in every language, as typed answers are matched against it: the
labels without parameters are kept once rendered, and must read as freshly rendered ones."""

import pytest

from core import i18n
from core.messages import Msg, every_label, money, render


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_a_plain_label_reads_first_in_the_readers_language_then_in_the_others(lang):
    label = Msg("Skip")
    others = [render(label, other) for other in i18n.LANGUAGES if other != lang]

    assert every_label(label, lang) == list(dict.fromkeys([render(label, lang), *others]))
    assert every_label(label, lang) == every_label(label, lang)  # kept: the same again


def test_the_kept_words_are_not_shared_with_a_caller_who_adds_to_them():
    """remembered_choices adds a choice's other words to its list: the next caller must
    not find them in the kept ones."""
    first = every_label(Msg("Back"), "en")
    first.append("rudi nyuma kabisa")

    assert "rudi nyuma kabisa" not in every_label(Msg("Back"), "en")


def test_a_plain_label_in_english_then_swahili_russian_and_kazakh():
    assert every_label(Msg("Skip"), "en") == ["Skip", "Ruka", "Пропустить", "Өткізіп жіберу"]


def test_a_label_with_parameters_is_rendered_for_each_language_every_time():
    label = Msg("{name} · {minutes} min · {price}", {"name": "Oil", "minutes": 30, "price": money(250000, "KES")})

    assert every_label(label, "en")[0] == "Oil · 30 min · Ksh2,500"
    assert len(every_label(label, "en")) == len(set(every_label(label, "en")))
