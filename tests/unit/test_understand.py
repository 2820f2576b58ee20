"""Stories about what people type, and what the bot must understand from it.

Every table row is a real way a customer or mechanic in Nairobi or Atyrau might
answer; the hypothesis tests at the end feed junk to every function.
"""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.understand import (
    When,
    is_position,
    language_of,
    looks_like,
    normalise_plate,
    parse_amount,
    parse_rating,
    parse_when,
    parse_yes_no,
    pick_choice,
    pick_choices,
    pick_requested,
    pick_requested_when,
    plate_key,
)

TODAY = date(2026, 11, 23)  # a Monday
TOMORROW = date(2026, 11, 24)
FRIDAY = date(2026, 11, 27)
NEXT_FRIDAY = date(2026, 12, 4)
CHRISTMAS = date(2026, 12, 25)

SERVICES = [
    ("oil", ["Oil change", "Замена масла", "Майды ауыстыру", "Kubadilisha oili"]),
    ("brakes", ["Brake pads", "Тормозные колодки", "Тежегіш қалыптары", "Pedi za breki"]),
    ("wash", ["Wash and vacuum", "Мойка", "Жуу", "Kuosha gari"]),
    (
        "tyres",
        ["Tyre rotation", "Перестановка шин", "Дөңгелектерді ауыстыру", "Kuzungusha magurudumu"],
    ),
]


# --- pick_choice ------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("2", "brakes"),
        (" 2. ", "brakes"),
        ("#2", "brakes"),
        ("２", "brakes"),  # full-width digit from an Asian keyboard
        ("2️⃣", "brakes"),  # keycap emoji
        ("№2", "brakes"),
        ("2)", "brakes"),
        ("4", "tyres"),
        ("2 please", "brakes"),  # how people text in Nairobi
        ("2 pls", "brakes"),
        ("tafadhali 2", "brakes"),
        ("2 пожалуйста", "brakes"),
    ],
)
def test_customer_answers_the_menu_with_its_number(typed, expected):
    assert pick_choice(typed, SERVICES) == expected
    assert is_position(typed)  # a place in the list, not two o'clock


@pytest.mark.parametrize("typed", ["at 2 please", "2 cars", "на 10", "for 10", "kwa 10", "мне на 10", "need 2"])
def test_a_number_with_more_than_politeness_is_not_a_place_in_the_list(typed):
    assert not is_position(typed)  # "на 10" is ten o'clock


@pytest.mark.parametrize("typed", ["0", "5", "22", "-1", "2.5"])
def test_a_number_that_is_not_on_the_menu_picks_nothing(typed):
    assert pick_choice(typed, SERVICES) is None


@pytest.mark.parametrize(
    "typed, expected",
    [
        # exact labels, any case, any of the four languages
        ("Oil change", "oil"),
        ("OIL CHANGE", "oil"),
        ("oil change.", "oil"),
        ("замена масла", "oil"),
        ("ЗАМЕНА МАСЛА", "oil"),
        ("майды ауыстыру", "oil"),
        ("маиды ауыстыру", "oil"),  # й typed without its breve
        ("kubadilisha oili", "oil"),
        ("мойка", "wash"),
        ("Жуу", "wash"),
        # typos
        ("oil chnge", "oil"),
        ("brak pads", "brakes"),
        ("badilisha oil", "oil"),
        ("pads brake", "brakes"),
        # one word of one item only
        ("oil", "oil"),
        ("brake", "brakes"),
        ("breki", "brakes"),
        ("колодки", "brakes"),
        ("масло", "oil"),  # another case of "масла"
        ("шины", "tyres"),
        ("kuosha", "wash"),
        ("the oil one please", "oil"),
    ],
)
def test_customer_names_the_service_in_any_language_with_typos(typed, expected):
    assert pick_choice(typed, SERVICES) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "ауыстыру",  # "change" in Kazakh: both oil change and tyre rotation
        "banana",
        "tormoz",  # transliteration is not supported
        "",
        "   ",
        "🙂",
    ],
)
def test_an_ambiguous_or_unrelated_answer_picks_nothing(typed):
    assert pick_choice(typed, SERVICES) is None


def test_oil_is_ambiguous_when_two_items_mention_oil():
    choices = [("change", ["Oil change"]), ("filter", ["Oil filter"])]
    assert pick_choice("oil", choices) is None
    assert pick_choice("oil chnge", choices) == "change"
    assert pick_choice("oil filtr", choices) == "filter"


def test_two_items_with_the_same_label_are_never_guessed_between():
    choices = [("a", ["Diagnostics"]), ("b", ["diagnostics"])]
    assert pick_choice("diagnostics", choices) is None


def test_a_menu_with_no_items_picks_nothing():
    assert pick_choice("1", []) is None
    assert pick_choices("1", []) is None


# --- pick_choices -------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("1, 3", ["oil", "wash"]),
        ("1 and 3", ["oil", "wash"]),
        ("1 3", ["oil", "wash"]),
        ("1. 3.", ["oil", "wash"]),
        ("1 и 3", ["oil", "wash"]),
        ("1 na 3", ["oil", "wash"]),
        ("1 және 3", ["oil", "wash"]),
        ("1 3 4", ["oil", "wash", "tyres"]),
        ("1, 1", ["oil"]),
        ("2", ["brakes"]),
        ("oil change and brake pads", ["oil", "brakes"]),
        ("замена масла и мойка", ["oil", "wash"]),
        ("oil, brakes", ["oil", "brakes"]),
        ("wash and vacuum", ["wash"]),  # a label containing "and" stays whole
    ],
)
def test_customer_picks_several_services_at_once(typed, expected):
    assert pick_choices(typed, SERVICES) == expected


@pytest.mark.parametrize("typed", ["1, 9", "1 and banana", "1 or 3", "", "ауыстыру"])
def test_several_picks_with_one_part_not_understood_pick_nothing(typed):
    assert pick_choices(typed, SERVICES) is None


@pytest.mark.parametrize("typed, expected", [("поменять масло", ["oil"]), ("масло поменять", ["oil"]),
                                             ("replace the oil", ["oil"]), ("badilisha oili", ["oil"])])  # fmt: skip
def test_a_service_is_known_by_another_word_for_the_same_work(typed, expected):
    """"поменять" is the "замена" of "Замена масла", "replace" the "change" of "Oil change"."""
    assert pick_choices(typed, SERVICES) == expected


# --- pick_requested: a whole request in one message ---------------------------------------

ASKING = ["book", "записаться", "жазылу", "weka nafasi", "i want to book"]


@pytest.mark.parametrize(
    "typed, picked, asked",
    [
        ("записаться на замену масла", ["oil"], True),
        ("Записаться на ЗАМЕНУ масла!", ["oil"], True),
        ("book an oil change", ["oil"], True),
        ("I want to book a wash and an oil change", ["wash", "oil"], True),
        ("майды ауыстыруға жазылу", ["oil"], True),
        ("weka nafasi ya kubadilisha oili", ["oil"], True),
        ("нужна замена масла", ["oil"], False),
        ("замены масла", ["oil"], False),
        ("хочу поменять масло", ["oil"], False),
        ("nataka kubadilisha oil", ["oil"], False),
        ("Здравствуйте, хочу записаться на замену масла", ["oil"], True),
        ("Hello, I need an oil change", ["oil"], False),
        ("Habari za asubuhi, nataka kubadilisha oili", ["oil"], False),
    ],
)
def test_a_request_in_one_message_names_its_services_and_says_whether_it_asked(typed, picked, asked):
    request = pick_requested(typed, SERVICES, ASKING)
    assert request is not None and (request.picked, request.asked) == (picked, asked)


@pytest.mark.parametrize("typed", [
    "book", "записаться",  # only asking: the list of services is the answer
    "замена масла когда?", "oil change, how much?",  # a question for a person
    "замена", "change my booking", "ауыстыру",  # what is done, to nothing named
    "2", "1, 3", "book 2",  # a list's numbers belong to the list on the screen
    "записаться на шиномонтаж", "hello", "", "отменить запись на замену масла",
])  # fmt: skip
def test_words_that_name_no_service_or_say_more_are_no_request(typed):
    assert pick_requested(typed, SERVICES, ASKING + ["запись"]) is None


CHECKED = SERVICES + [("battery", ["Battery and electrics check", "Проверка аккумулятора и электрики",
                                   "Аккумулятор мен электриканы тексеру"]),
                      ("suspension", ["Suspension repair", "Ремонт подвески", "Аспаны жөндеу"])]  # fmt: skip


@pytest.mark.parametrize("typed", [
    "проверить запись", "хочу проверить запись", "check my booking", "жазылуды тексеру",  # the booking is checked
    "check", "проверка", "ремонт", "repair",  # the work, to nothing named
    "I booked an oil change", "записался на замену масла", "записан на замену масла",  # a booking made
    "my oil change booking", "bookings oil change", "мою запись на замену масла",
])  # fmt: skip
def test_words_for_the_work_or_for_a_booking_made_are_no_request(typed):
    """"проверить" is the "Проверка" of a battery check, but no service is named by it."""
    assert pick_requested(typed, CHECKED, ASKING + ["запись", "booking"]) is None


@pytest.mark.parametrize("typed, picked", [
    ("проверка аккумулятора", ["battery"]), ("check the battery", ["battery"]), ("ремонт подвески", ["suspension"]),
    ("майды ауыстыру", ["oil"]), ("майды ауыстыруға жазылу", ["oil"]), ("майды ауыстырғым келеді", ["oil"]),
    ("ninataka kubadilisha oili", ["oil"]), ("nahitaji kubadilisha oili", ["oil"]),
    ("я хотел бы записаться на замену масла", ["oil"]), ("I would like to book a wash", ["wash"]),
])  # fmt: skip
def test_a_request_is_read_in_the_ways_people_put_it(typed, picked):
    shop = [("oil", ["Oil change", "Замена масла", "Май мен сүзгіні ауыстыру", "Kubadilisha oili"]), *CHECKED[1:]]
    request = pick_requested(typed, shop, ASKING)
    assert request is not None and request.picked == picked


NAIROBI_CHANGES = [("pads", ["Kubadilisha pedi za breki"]), ("discs", ["Kubadilisha diski za breki"]),
                   ("tyres", ["Kubadilisha matairi (manne)"]), ("battery", ["Kubadilisha betri"])]  # fmt: skip


@pytest.mark.parametrize("typed, expected", [("kubadilisha breki", None), ("kubadilisha pedi", "pads"),
                                             ("kubadilisha tairi", "tyres"), ("kubadilisha betri", "battery"),
                                             ("kubadilisha betr", "battery")])  # fmt: skip
def test_a_word_shared_by_the_names_does_not_make_them_alike(typed, expected):
    """A typo is judged on the words that differ: "kubadilisha breki" is not "Kubadilisha
    betri" for their common "kubadilisha" (and the brakes are two services)."""
    assert pick_choice(typed, NAIROBI_CHANGES) == expected


@pytest.mark.parametrize("typed, lang, picked, asked, wanted", [
    ("oil change tomorrow 10am", "en", ["oil"], False, "tomorrow 10am"),
    ("book an oil change for friday at 3pm", "en", ["oil"], True, "for friday at 3pm"),
    ("замена масла завтра в 10", "ru", ["oil"], False, "завтра в 10"),
    ("записаться на замену масла на 25.12 в 10", "ru", ["oil"], True, "на 25.12 в 10"),
    ("май ауыстыру ертең сағат 10-да", "kk", ["oil"], False, "ертең сағат 10-да"),
    ("kubadilisha oili kesho saa nne asubuhi", "sw", ["oil"], False, "kesho saa nne asubuhi"),
    ("завтра в 10 замена масла", "ru", ["oil"], False, "завтра в 10"),  # the time first
    ("oil change and brake pads tomorrow at 10", "en", ["oil", "brakes"], False, "tomorrow at 10"),
])  # fmt: skip
def test_a_request_says_when_as_well_as_what(typed, lang, picked, asked, wanted):
    request = pick_requested_when(typed, SERVICES, ASKING, TODAY, lang)
    assert request is not None and (request.picked, request.asked, request.wanted) == (picked, asked, wanted)
    assert parse_when(request.wanted, TODAY, lang) == parse_when(typed, TODAY, lang)


def test_a_request_without_a_time_is_read_as_before():
    request = pick_requested_when("записаться на замену масла", SERVICES, ASKING, TODAY, "ru")
    assert request is not None and (request.picked, request.asked, request.wanted) == (["oil"], True, None)


@pytest.mark.parametrize("typed", [
    "замена масла 10", "oil change 2",  # a number the whole message does not take for an hour
    "замена масла когда? завтра в 10", "oil change, how much? tomorrow",  # a question for a person
    "oil change not tomorrow", "oil change tomorrow or friday",  # no one time
    "brake pads oil change tomorrow 10am", "отменить запись на замену масла завтра в 10",
    "cancel my oil change tomorrow 10am", "ремонт завтра в 10", "записаться завтра в 10",
])  # fmt: skip
def test_words_that_are_neither_a_service_nor_a_time_make_no_request(typed):
    assert pick_requested_when(typed, SERVICES, ASKING, TODAY, "en") is None


SHOP_NAMES = [("oil", ["Oil and filter change", "Замена масла и фильтра", "Май мен сүзгіні ауыстыру",
                        "Kubadilisha oili na chujio"]),
              ("tyres", ["Tyre change (set of four)", "Сезонная смена шин", "Маусымдық шина ауыстыру",
                         "Kubadilisha matairi (manne)"]),
              ("full", ["Full service", "Huduma kamili"]), ("winter", ["Winter preparation", "Подготовка к зиме"])]


@pytest.mark.parametrize("typed, lang, picked, wanted", [
    ("kubadilisha matairi manne saa nne", "sw", ["tyres"], "saa nne"),  # four tyres, not Jumanne (Tuesday)
    ("nataka kubadilisha matairi manne kesho", "sw", ["tyres"], "kesho"),
    ("сағат 15 май ауыстыру", "kk", ["oil"], "сағат 15"),  # "май" is oil, not May
    ("ертең сағат 10 май ауыстыру", "kk", ["oil"], "ертең сағат 10"),
    ("сағат 10 маусымдық шина ауыстыру", "kk", ["tyres"], "сағат 10"),  # seasonal, not June ("маусым")
    ("подготовка к зиме завтра к 10", "ru", ["winter"], "завтра к 10"),
])  # fmt: skip
def test_the_words_of_a_services_name_are_never_its_day(typed, lang, picked, wanted):
    request = pick_requested_when(typed, SHOP_NAMES, ASKING, TODAY, lang)
    assert request is not None and (request.picked, request.wanted) == (picked, wanted)


@pytest.mark.parametrize("typed, lang, wanted", [
    ("oil change tomorrow 10", "en", "tomorrow 10"),
    ("замена масла на завтра на 10", "ru", "на завтра на 10"),
    ("запишите на замену масла на завтра на 10", "ru", "на завтра на 10"),
    ("Good afternoon, I need an oil change tomorrow at 10", "en", "tomorrow at 10"),
    ("Habari za mchana, nataka kubadilisha oili kesho saa nne", "sw", "kesho saa nne"),
    ("I need an oil change for my car tomorrow at 10", "en", "tomorrow at 10"),
])  # fmt: skip
def test_a_time_said_with_a_service_is_read_as_it_would_be_alone(typed, lang, wanted):
    request = pick_requested_when(typed, SHOP_NAMES, ASKING + ["запишите"], TODAY, lang)
    assert request is not None and (request.picked, request.wanted) == (["oil"], wanted)
    assert parse_when(wanted, TODAY, lang) == When(TOMORROW, time(10))


@pytest.mark.parametrize("typed", ["oil change 10", "замена масла на 10", "oil change in 2 hrs",
                                   "15 май ауыстыру", "oil change tomorrow 10 or friday"])  # fmt: skip
def test_a_number_beside_a_service_is_still_no_time_of_its_own(typed):
    """"10" may be how many or which; "15 май" the 15th of May or 15:00: asked, not guessed."""
    assert pick_requested_when(typed, SHOP_NAMES, ASKING, TODAY, "ru") is None


@pytest.mark.parametrize("typed, picked", [
    ("I need an oil change for my car", ["oil"]), ("хочу поменять масло в машине", ["oil"]),
    ("nataka kubadilisha oili ya gari langu", ["oil"]), ("көлігіме май ауыстыру", ["oil"]),
    ("huduma kamili", ["full"]), ("full service", ["full"]),
])  # fmt: skip
def test_words_for_the_car_are_no_part_of_the_service_asked_for(typed, picked):
    request = pick_requested(typed, SHOP_NAMES, ASKING)
    assert request is not None and request.picked == picked


@pytest.mark.parametrize("typed", ["nahitaji huduma", "nataka huduma", "хочу на обслуживание", "service",
                                   "my car", "my oil change booking for my car", "my car's oil change booking",
                                   "my car oil change booking", "запись моей машины на замену масла"])  # fmt: skip
def test_a_word_for_service_or_for_the_car_alone_names_no_service(typed):
    """"huduma" is Swahili for any service, as "service" is: not the shop's "Huduma kamili"."""
    assert pick_requested(typed, SHOP_NAMES, ASKING + ["booking"]) is None


# --- parse_yes_no -------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        # en
        "yes", "Yes!", "y", "yeah", "yeees", "ok", "OK", "sure", "yep", "confirm", "yes please",
        "of course", "why not",
        # ru
        "да", "Да.", "ага", "конечно", "конешно", "ок", "хорошо", "да, конечно", "ладно",
        # kk
        "иә", "ия", "жарайды", "әрине",
        # sw
        "ndio", "ndiyo", "sawa", "Sawa sawa", "ehe", "poa",
        # emoji
        "👍", "👍🏽", "✅", "ok 👍",
    ],
)  # fmt: skip
def test_customer_agrees_in_any_language(typed):
    assert parse_yes_no(typed) is True


@pytest.mark.parametrize(
    "typed",
    [
        "no", "No.", "n", "nope", "nah", "no thanks", "not now",
        "нет", "Нет, спасибо", "неа", "не надо",
        "жоқ", "жок", "керек емес",
        "hapana", "la", "hapna", "sitaki", "hapana asante", "I don't want",
        "👎", "❌",
    ],
)  # fmt: skip
def test_customer_refuses_in_any_language(typed):
    assert parse_yes_no(typed) is False


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "maybe",
        "не знаю",  # "I don't know"
        "labda",
        "not sure",
        "yes no",
        "да 👎",
        "👍👎",
        "is it ok?",  # a question is not an answer
        "ok but change the time to 10",
        "ok change the time to 10",
        "what is the price",
        "yas",  # too short to guess a typo
        "🙂",
    ],
)
def test_unclear_answers_are_not_taken_as_yes_or_no(typed):
    assert parse_yes_no(typed) is None


# --- parse_when: days -------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, expected",
    [
        # en
        ("today", TODAY),
        ("tomorrow", TOMORROW),
        ("Tomorrow!", TOMORROW),
        ("tommorow", TOMORROW),
        ("day after tomorrow", date(2026, 11, 25)),
        ("the day after tomorrow", date(2026, 11, 25)),
        ("Mon", TODAY),  # the next Monday on or after today is today
        ("friday", FRIDAY),
        ("this friday", FRIDAY),
        ("on friday please", FRIDAY),
        ("next friday", NEXT_FRIDAY),
        ("next monday", date(2026, 11, 30)),
        ("wensday", date(2026, 11, 25)),
        ("25.12", CHRISTMAS),
        ("25/12", CHRISTMAS),
        ("25.12.2026", CHRISTMAS),
        ("25/12/26", CHRISTMAS),
        ("2026-12-25", CHRISTMAS),
        ("Dec 25", CHRISTMAS),
        ("25 December", CHRISTMAS),
        ("on the 25th of December", CHRISTMAS),
        ("25th", date(2026, 11, 25)),
        ("1/1", date(2027, 1, 1)),  # no year: the next 1 January
        ("29.02", date(2028, 2, 29)),  # the next 29 February is years away
        ("10 December 2027", date(2027, 12, 10)),
        # ru
        ("сегодня", TODAY),
        ("завтра", TOMORROW),
        ("послезавтра", date(2026, 11, 25)),
        ("после завтра", date(2026, 11, 25)),
        ("в пятницу", FRIDAY),
        ("в следующую пятницу", NEXT_FRIDAY),
        ("пн", TODAY),
        ("в среду", date(2026, 11, 25)),
        ("понеделник", TODAY),
        ("25 декабря", CHRISTMAS),
        ("25-го", date(2026, 11, 25)),
        # kk
        ("бүгін", TODAY),
        ("ертең", TOMORROW),
        ("ертен", TOMORROW),  # typed without Kazakh letters
        ("ертеңге", TOMORROW),
        ("бүрсігүні", date(2026, 11, 25)),
        ("жұма", FRIDAY),
        ("жұмада", FRIDAY),
        ("дүйсенбі", TODAY),
        ("сенбіде", date(2026, 11, 28)),
        ("келесі жұма", NEXT_FRIDAY),
        ("25 желтоқсан", CHRISTMAS),
        # sw
        ("leo", TODAY),
        ("kesho", TOMORROW),
        ("kesho kutwa", date(2026, 11, 25)),
        ("keshokutwa", date(2026, 11, 25)),
        ("jumatatu", TODAY),
        ("juma tatu", TODAY),
        ("ijumaa", FRIDAY),
        ("jumamosi", date(2026, 11, 28)),
        ("ijumaa ijayo", NEXT_FRIDAY),
        ("ijumaa hii", FRIDAY),
        # the week named apart from the day, in any order (read as this week's day before)
        ("friday next week", NEXT_FRIDAY),
        ("next week on friday", NEXT_FRIDAY),
        ("на следующей неделе в пятницу", NEXT_FRIDAY),
        ("в пятницу на следующей неделе", NEXT_FRIDAY),
        ("келесі аптада жұма", NEXT_FRIDAY),
        ("ijumaa wiki ijayo", NEXT_FRIDAY),
        ("wiki ijayo ijumaa", NEXT_FRIDAY),
        ("friday this week", FRIDAY),
        ("ijumaa wiki hii", FRIDAY),
        ("tarehe 25", date(2026, 11, 25)),
        ("tarehe 25 desemba", CHRISTMAS),
    ],
)
def test_customer_names_a_day(typed, expected):
    assert parse_when(typed, TODAY) == When(expected, None)


# --- parse_when: times --------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, expected",
    [
        # en
        ("10", time(10)),
        ("10am", time(10)),
        ("10 a.m.", time(10)),
        ("10:30", time(10, 30)),
        ("10.30", time(10, 30)),
        ("2pm", time(14)),
        ("14:00", time(14)),
        ("at 10", time(10)),
        ("@10", time(10)),
        ("at ten", time(10)),
        ("noon", time(12)),
        ("12am", time(0)),
        ("12pm", time(12)),
        ("10 o'clock", time(10)),
        # ru
        ("в 10", time(10)),
        ("в 10:30", time(10, 30)),
        ("в 2 часа дня", time(14)),
        ("в 7 вечера", time(19)),
        ("в 9 утра", time(9)),
        ("в десять утра", time(10)),
        ("в час дня", time(13)),
        ("в полдень", time(12)),
        # kk
        ("10-да", time(10)),
        ("10:00-де", time(10)),
        ("сағат 10", time(10)),
        ("сағат 10-да", time(10)),
        ("кешкі 7", time(19)),
    ],
)
def test_customer_names_a_time(typed, expected):
    assert parse_when(typed, TODAY) == When(None, expected)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("1", time(13)),
        ("3", time(15)),
        ("at 3", time(15)),
        ("в 3", time(15)),
        ("6", time(18)),
        ("3:30", time(15, 30)),
        ("7", time(7)),
        ("03:00", time(3)),  # a leading zero is a 24-hour time, taken as typed
        ("3am", time(3)),
        ("в 3 ночи", time(3)),
    ],
)
def test_a_bare_hour_from_one_to_six_means_the_afternoon_at_a_workshop(typed, expected):
    assert parse_when(typed, TODAY) == When(None, expected)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("saa moja", time(7)),
        ("saa mbili", time(8)),
        ("saa tatu", time(9)),
        ("saa nne", time(10)),
        ("saa tano", time(11)),
        ("saa sita", time(12)),
        ("saa saba", time(13)),
        ("saa nane", time(14)),
        ("saa tisa", time(15)),
        ("saa kumi", time(16)),
        ("saa kumi na moja", time(17)),
        ("saa kumi na mbili", time(18)),
        ("saa nne asubuhi", time(10)),
        ("saa nane mchana", time(14)),
        ("saa sita mchana", time(12)),
        ("saa kumi jioni", time(16)),
        ("saa moja jioni", time(19)),
        ("saa mbili usiku", time(20)),
        ("saa sita usiku", time(0)),
        ("saa kumi na moja alfajiri", time(5)),
        ("saa nne na nusu", time(10, 30)),
        ("saa nne na robo", time(10, 15)),
        ("saa nne kasorobo", time(9, 45)),
        ("saa 4", time(10)),
        ("saa 4:30", time(10, 30)),
        ("saa 2 usiku", time(20)),
        ("saa 14:00", time(14)),  # past 12 it can only be the 24-hour clock
        ("saa 10 asubuhi", time(10)),  # digits that fit no Swahili hour: read as 10 am
    ],
)
def test_swahili_clock_counts_hours_from_seven_in_the_morning(typed, expected):
    assert parse_when(typed, TODAY) == When(None, expected)


def test_saa_moja_usiku_is_seven_in_the_evening_and_saa_nne_usiku_is_ten_at_night():
    assert parse_when("saa moja usiku", TODAY) == When(None, time(19))
    assert parse_when("saa nne usiku", TODAY) == When(None, time(22))


def test_swahili_words_that_fit_no_period_are_not_guessed():
    assert parse_when("saa nne jioni", TODAY) is None  # 10 is morning or night, not evening


@pytest.mark.parametrize(
    "typed, lang, expected",
    [
        ("4", "sw", time(10)),  # a Swahili speaker's bare 4 is saa nne
        ("4", None, time(16)),
        ("4", "en", time(16)),
        ("10:00", "sw", time(10)),  # a clock time with minutes stays on the 24-hour clock
        ("10am", "sw", time(10)),
        ("at 4", "sw", time(16)),
    ],
)
def test_bare_numbers_follow_the_swahili_clock_only_for_swahili_speakers(typed, lang, expected):
    assert parse_when(typed, TODAY, lang) == When(None, expected)


# --- parse_when: day and time together -----------------------------------------------------


@pytest.mark.parametrize(
    "typed, lang, expected",
    [
        ("tomorrow 10am", None, When(TOMORROW, time(10))),
        ("tomorrow at 10", "en", When(TOMORROW, time(10))),
        ("can I come tomorrow at 10?", "en", When(TOMORROW, time(10))),
        ("next friday 14:30", "en", When(NEXT_FRIDAY, time(14, 30))),
        ("25.12 9:00", None, When(CHRISTMAS, time(9))),
        ("Dec 25 at 3pm", "en", When(CHRISTMAS, time(15))),
        ("tomorrow 10.05", None, When(TOMORROW, time(10, 5))),
        ("завтра в 10", "ru", When(TOMORROW, time(10))),
        ("завтра в 10-30", "ru", When(TOMORROW, time(10, 30))),  # a dash between hour and minutes
        ("ертең сағат 15-00", "kk", When(TOMORROW, time(15))),
        ("tomorrow half past nine", "en", When(TOMORROW, time(9, 30))),
        ("tomorrow quarter past ten", "en", When(TOMORROW, time(10, 15))),
        ("tomorrow quarter to ten", "en", When(TOMORROW, time(9, 45))),
        ("завтра утром в 9", "ru", When(TOMORROW, time(9))),
        ("в пятницу в 2 часа дня", "ru", When(FRIDAY, time(14))),
        ("25 декабря в 10:30", "ru", When(CHRISTMAS, time(10, 30))),
        ("ертең 10:00", "kk", When(TOMORROW, time(10))),
        ("ертең сағат 10-да", "kk", When(TOMORROW, time(10))),
        ("5.12-де", "kk", When(date(2026, 12, 5), None)),  # "on 5 December": a date's case ending, not 17:12
        ("3 жел.", "kk", When(date(2026, 12, 3), None)),  # as the bot's own day buttons abbreviate
        ("5 қаң.", "kk", When(date(2027, 1, 5), None)),
        ("25-ші желтоқсан", "kk", When(CHRISTMAS, None)),  # a Kazakh ordinal
        ("жел соғып тұр", "kk", None),  # "the wind is blowing": no month without its day
        ("в 11 там", "ru", When(None, time(11))),  # "там" is "there", not August: an hour's number before it
        ("завтра в 10, там увидимся", "ru", When(TOMORROW, time(10))),
        ("ертең сағат 10, сау болыңыз", "kk", When(TOMORROW, time(10))),  # "goodbye", not April
        ("2-нші желтоқсан", "kk", When(date(2026, 12, 2), None)),
        ("5 Des", "sw", When(date(2026, 12, 5), None)),
        ("Jumamosi 5 Des", "sw", When(date(2026, 12, 5), None)),  # as the day buttons write it
        ("Saturday 5 Dec", "en", When(date(2026, 12, 5), None)),
        ("Friday 5 Dec", "en", None),  # the 5th is a Saturday: which one is meant?
        ("next wednesday the 25th", "en", None),  # the 25th is this Wednesday: which is meant?
        ("this saturday or next saturday", "en", None),
        ("30 қар 10:00", "kk", When(date(2026, 11, 30), time(10))),  # an abbreviated month, then the hour
        ("в субботу 5.12", "ru", When(date(2026, 12, 5), None)),  # the 5th is a Saturday: not 17:12 this Saturday
        ("saturday 10.05", "en", When(date(2026, 11, 28), time(10, 5))),  # 10 May is no Saturday: five past ten
        ("25 december 11am", "en", When(CHRISTMAS, time(11))),  # the hour is not a second day of December
        ("5 декабря 10 утра", "ru", When(date(2026, 12, 5), time(10))),
        ("dec 2 afternoon", "en", When(date(2026, 12, 2), None)),  # a month's only number is its day
        ("к 5 декабря", "ru", When(date(2026, 12, 5), None)),
        ("к 5 декабря 10:00", "ru", When(date(2026, 12, 5), time(10))),  # a clock time is no second day
        ("к 5 декабря 2026", "ru", When(date(2026, 12, 5), None)),
        ("monday 10.05", "en", When(TODAY, time(10, 5))),  # 10 May is a Monday, but months away: five past ten
        ("saturday 5.12 or 12.12", "en", None),
        ("5 жел сағат 10-да", "kk", When(date(2026, 12, 5), time(10))),
        ("10.12-да", "kk", When(date(2026, 12, 10), None)),
        ("1.12-ге", "kk", When(date(2026, 12, 1), None)),
        ("ертең 9.30-да", "kk", When(TOMORROW, time(9, 30))),
        ("келесі жұма 14:30", "kk", When(NEXT_FRIDAY, time(14, 30))),
        ("kesho saa nne", "sw", When(TOMORROW, time(10))),
        ("kesho saa nne", None, When(TOMORROW, time(10))),
        ("kesho 10", "sw", When(TOMORROW, time(16))),  # bare number on the Swahili clock
        ("ijumaa saa nane mchana", "sw", When(FRIDAY, time(14))),
        ("tarehe 25 saa tatu asubuhi", "sw", When(date(2026, 11, 25), time(9))),
    ],
)
def test_customer_names_a_day_and_a_time(typed, lang, expected):
    assert parse_when(typed, TODAY, lang) == expected


def test_swahili_customer_says_kesho_saa_nne_and_means_tomorrow_ten_am():
    assert parse_when("kesho saa nne", TODAY, "sw") == When(TOMORROW, time(10))


def test_russian_customer_says_dot_date_and_a_dot_time_together():
    assert parse_when("25.12 10.10", TODAY, "ru") == When(CHRISTMAS, time(10, 10))


def test_ten_dot_zero_five_alone_is_a_date_but_after_a_day_it_is_a_time():
    assert parse_when("10.05", TODAY) == When(date(2027, 5, 10), None)
    assert parse_when("at 10.05", TODAY) == When(None, time(10, 5))


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "hello",
        "the back brakes squeak",
        "I have 2 cars",  # a number in a sentence is not an hour
        "decline 2",  # "dec..." is not December unless it is the month's name
        "not tomorrow",
        "не завтра",
        "si kesho",
        "tomorrow or friday",
        "завтра или в пятницу",
        "before 10",
        "после 2",
        "10-12",  # a range
        "завтра в 10-12 часов",  # a range of hours, not 10:12
        "10 or 11",
        "31.02",
        "25",  # a lone 25 is neither an hour nor (without "tarehe"/"25th") a day
        "24:00",
        "10:75",
        "12/25",  # month/day order is not used in Kenya or Kazakhstan
        "tomorrow morning evening",
        "через 2 дня",  # "in two days": the day after tomorrow, never 14:00 ("2 дня") today
        "через неделю",
        "2 күннен кейін",
        "2 недели",  # a number of weeks is no hour today
        "на 2 недели",
        "1 week",
        "2 апта",
        "wiki 2",
        "next week 3",
        "🙂",
    ],
)
def test_things_that_are_not_one_clear_moment_give_none(typed):
    assert parse_when(typed, TODAY) is None


def test_a_period_word_alone_gives_the_day_without_guessing_a_time():
    assert parse_when("tomorrow morning", TODAY) == When(TOMORROW, None)
    assert parse_when("завтра утром", TODAY) == When(TOMORROW, None)


def test_a_date_with_a_year_in_the_past_is_returned_for_the_engine_to_refuse():
    assert parse_when("25.12.2020", TODAY) == When(date(2020, 12, 25), None)


def test_weekday_named_on_a_friday_is_that_same_friday():
    assert parse_when("friday", FRIDAY) == When(FRIDAY, None)
    assert parse_when("next friday", FRIDAY) == When(NEXT_FRIDAY, None)


@pytest.mark.parametrize("typed", ["manne", "matatu", "matano", "mawili"])
def test_a_swahili_number_is_no_typo_for_the_weekday_it_looks_like(typed):
    """"matairi manne" is four tyres; "Jumanne" (Tuesday) is still read, and its typos."""
    assert parse_when(typed, TODAY, "sw") is None
    assert parse_when("jumane", TODAY, "sw") == When(TOMORROW, None)


@pytest.mark.parametrize("typed, lang, expected", [
    ("Good afternoon, tomorrow at 10", "en", When(TOMORROW, time(10))),
    ("good morning, tomorrow at 3", "en", When(TOMORROW, time(15))),
    ("Good evening! Tomorrow 10am", "en", When(TOMORROW, time(10))),
    ("Добрый вечер, завтра в 10", "ru", When(TOMORROW, time(10))),
    ("Habari za jioni, kesho saa nne", "sw", When(TOMORROW, time(10))),
    ("hi, evening at 7", "en", When(None, time(19))),  # said when, not a greeting
    ("habari, jioni saa moja", "sw", When(None, time(19))),
])  # fmt: skip
def test_a_greetings_part_of_the_day_does_not_set_the_time(typed, lang, expected):
    assert parse_when(typed, TODAY, lang) == expected


@pytest.mark.parametrize("typed", ["in 2 hrs", "in 2h", "within 2 hrs", "in an hour", "in half an hour",
                                   "2 hrs from now", "in two hours", "in 30 min", "oil change in 2 hrs"])  # fmt: skip
def test_a_span_from_now_is_asked_again_never_read_as_a_clock_time(typed):
    """"in 2 hrs" at 9:00 is 11:00, not 14:00: refused, as "через 2 часа" is."""
    assert parse_when(typed, TODAY, "en") is None


@pytest.mark.parametrize("typed", ["ndani ya saa mbili", "ndani ya masaa mawili", "ndani ya dakika 30"])
def test_a_span_from_now_in_swahili_is_asked_again_never_read_as_a_clock_time(typed):
    """"ndani ya saa mbili" is within two hours, not saa mbili (08:00)."""
    assert parse_when(typed, TODAY, "sw") is None
    assert pick_requested_when("kubadilisha oili " + typed, SHOP_NAMES, ASKING, TODAY, "sw") is None


@pytest.mark.parametrize("typed, lang", [("Hi, 2", "en"), ("Hello 2 please", "en"), ("hi, 2 please", "en"),
                                         ("Привет, 2", "ru"), ("Habari, 2", "sw")])  # fmt: skip
def test_a_greeting_before_a_bare_number_makes_it_no_hour(typed, lang):
    """"2" alone may be an hour; after "Hi" it is a number among words, as "I have 2 cars"."""
    assert parse_when(typed, TODAY, lang) is None
    assert parse_when("Hi, tomorrow at 10", TODAY, "en") == When(TOMORROW, time(10))


@pytest.mark.parametrize("typed, expected", [
    ("Good, day after tomorrow at 10", When(date(2026, 11, 25), time(10))),
    ("good day after tomorrow at 10", When(date(2026, 11, 25), time(10))),
    ("Good. Evening at 7", When(None, time(19))),
    ("Good evening, tomorrow at 10am", When(TOMORROW, time(10))),
])  # fmt: skip
def test_good_before_words_that_say_when_is_no_good_day_or_good_evening(typed, expected):
    assert parse_when(typed, TODAY, "en") == expected


@pytest.mark.parametrize("typed, expected", [
    ("Morning! I need an oil change tomorrow at 3", When(TOMORROW, time(15))),  # not 03:00
    ("Afternoon, I need an oil change tomorrow at 10", When(TOMORROW, time(10))),  # not 22:00
    ("Morning all, can I come tomorrow at 3", When(TOMORROW, time(15))),
    ("Evening, at 7", When(None, time(19))),  # said when
    ("Evening at 7", When(None, time(19))),
    ("Morning, 10", When(None, time(10))),
    ("morning 10", When(None, time(10))),
])  # fmt: skip
def test_a_part_of_the_day_alone_greets_only_before_a_stop_and_a_request(typed, expected):
    assert parse_when(typed, TODAY, "en") == expected


# --- normalise_plate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, display",
    [
        # Kenya
        ("kcb 123a", "KCB 123A"),
        ("KDA123B", "KDA 123B"),
        ("KCB-123-A", "KCB 123A"),
        ("k.c.b 123 a", "KCB 123A"),
        ("kmda 123a", "KMDA 123A"),  # motorbike
        # Kazakhstan
        ("123 ABC 06", "123 ABC 06"),
        ("123abc06", "123 ABC 06"),
        ("123 АВС 06", "123 ABC 06"),  # Cyrillic А, В, С from a Russian keyboard
        ("123 авс 06", "123 ABC 06"),
        ("777 ХМЕ 06", "777 XME 06"),
        ("123 AB 06", "123 AB 06"),
        # other formats: kept as typed, upper-case, single spaces
        ("ab-12-cd", "AB 12 CD"),
        ("А123ВС77", "A123BC77"),
        ("GK  A 123A", "GK A 123A"),
    ],
)
def test_mechanic_types_a_plate_any_way_and_gets_one_display_form(typed, display):
    assert normalise_plate(typed) == display
    assert plate_key(typed) == display.replace(" ", "")


@pytest.mark.parametrize(
    "typed",
    ["", "123", "abc", "my car is KCB 123A", "Ж123", "🚗", "ABCDEFGHIJ1", "KCB/123A", "x"],
)
def test_things_that_are_not_plates_give_none(typed):
    assert normalise_plate(typed) is None
    assert plate_key(typed) is None


# --- parse_amount ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, minor",
    [
        ("2500", 250000),
        ("2,500", 250000),
        ("2 500", 250000),
        ("2\u00a0500", 250000),  # no-break space from a phone keyboard
        ("2500 KES", 250000),
        ("KSh 2,500", 250000),
        ("Ksh.2,500/=", 250000),
        ("Kshs. 1,500", 150000),
        ("2500/-", 250000),
        ("2500 тг", 250000),
        ("2 500 ₸", 250000),
        ("2.500 тенге", 250000),
        ("2.500", 250000),  # dot as thousands separator (ru/kk habit)
        ("1.250.000", 125000000),
        ("2500.50", 250050),
        ("2500.5", 250050),
        ("2,50", 250),  # comma as decimal mark
        ("2.500,50", 250050),
        ("1,250,000.75", 125000075),
        ("2.5k", 250000),
        ("3 тыс", 300000),
        ("5 мың", 500000),
        ("0", 0),
    ],
)
def test_mechanic_types_a_price(typed, minor):
    assert parse_amount(typed) == minor


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "about 2000",
        "-300",
        "2,50,0",
        "2500.505",
        "2.500.50",
        "25 00",
        "12345678901",
        "two",
        "٢٥٠٠",
    ],
)
def test_prices_we_would_have_to_guess_give_none(typed):
    assert parse_amount(typed) is None


@pytest.mark.parametrize("typed, minor", [("50000", 50000), ("50 000", 50000), ("50k", 50000), ("2.5k", 2500)])
def test_a_price_in_a_currency_without_cents_is_counted_in_whole_units(typed, minor):
    assert parse_amount(typed, digits=0) == minor  # UGX: "50000" is 50,000 shillings, not 5,000,000


def test_cents_typed_for_a_currency_without_them_are_not_guessed():
    assert parse_amount("2500.50", digits=0) is None


# --- parse_rating ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, stars",
    [
        ("5", 5),
        ("5!", 5),
        ("5️⃣", 5),
        ("⭐⭐⭐⭐", 4),
        ("⭐⭐⭐⭐⭐ great service", 5),
        ("★★★☆☆", 3),
        ("4/5", 4),
        ("4 out of 5", 4),
        ("5 stars", 5),
        ("one", 1),
        ("five", 5),
        ("пять", 5),
        ("4 из 5", 4),
        ("5 звёзд", 5),
        ("бес", 5),
        ("төрт", 4),
        ("tano", 5),
        ("nyota nne", 4),
    ],
)
def test_customer_rates_the_job(typed, stars):
    assert parse_rating(typed) == stars


@pytest.mark.parametrize("typed", ["", "0", "6", "10/10", "4.5", "4 or 5", "good", "⭐" * 6])
def test_things_that_are_not_a_rating_give_none(typed):
    assert parse_rating(typed) is None


# --- looks_like ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, group",
    [
        ("back", "back"),
        ("Back!", "back"),
        ("bakc", "back"),
        ("go back", "back"),
        ("назад", "back"),
        ("артқа", "back"),
        ("rudi", "back"),
        ("menu", "menu"),
        ("меню", "menu"),
        ("мәзір", "menu"),
        ("menyu", "menu"),
        ("/menu", "menu"),
        ("/start", "menu"),
        ("/start@PitstopBot", "menu"),
        ("stop", "stop"),
        ("cancel", "stop"),
        ("cancle", "stop"),
        ("отмена", "stop"),
        ("стоп", "stop"),
        ("тоқта", "stop"),
        ("бас тарту", "stop"),
        ("acha", "stop"),
        ("sitisha", "stop"),
        ("/stop", "stop"),
        ("help", "help"),
        ("hepl", "help"),
        ("помощь", "help"),
        ("көмек", "help"),
        ("msaada", "help"),
        ("/help", "help"),
        ("/lang", "language"),
        ("language", "language"),
        ("язык", "language"),
        ("тіл", "language"),
        ("lugha", "language"),
        ("help please", "help"),
    ],
)
def test_global_commands_are_recognised_in_every_language(typed, group):
    assert looks_like(typed, group) is True


@pytest.mark.parametrize(
    "typed, group",
    [
        ("the back brakes squeak", "back"),
        ("stop by tomorrow", "stop"),
        ("can you help me with the brakes", "help"),
        ("step", "stop"),  # one letter off, but not a swap: a different word
        ("menu", "back"),
        ("", "back"),
        ("back", "no-such-group"),
        ("/lang", "menu"),
        ("language school", "language"),
    ],
)
def test_commands_do_not_fire_on_sentences_or_other_words(typed, group):
    assert looks_like(typed, group) is False


# --- never raise, whatever is typed -----------------------------------------------------------------

ANY_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=40),
    st.text(alphabet="0123456789 .,:/-#№kKsShHaApPmMсСаАтТ⭐👍👎", max_size=30),
    st.text(min_size=1, max_size=3).map(lambda s: s * 4000),  # ~10 kB and more of junk
    st.sampled_from(["", " ", "\x00", "\u202e", "🙂" * 5000, "9" * 5000, "1." * 200, "﷽"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, lang=st.sampled_from([None, "en", "ru", "kk", "sw", "xx"]))
def test_nothing_anyone_types_makes_the_parsers_raise(text, lang):
    assert pick_choice(text, SERVICES) in (None, "oil", "brakes", "wash", "tyres")
    picked = pick_choices(text, SERVICES)
    assert picked is None or (picked and set(picked) <= {"oil", "brakes", "wash", "tyres"})
    request = pick_requested(text, SERVICES, ASKING)
    assert request is None or (request.picked and set(request.picked) <= {"oil", "brakes", "wash", "tyres"})
    assert parse_yes_no(text) in (None, True, False)
    when = parse_when(text, TODAY, lang)
    assert when is None or (isinstance(when, When) and (when.day or when.time))
    plate = normalise_plate(text)
    assert plate is None or (isinstance(plate, str) and plate == plate.upper())
    amount = parse_amount(text)
    assert amount is None or (isinstance(amount, int) and amount >= 0)
    assert parse_rating(text) in (None, 1, 2, 3, 4, 5)
    for group in ("back", "menu", "stop", "help", "language"):
        assert looks_like(text, group) in (True, False)
    assert language_of(text, ("en", "sw", "ru", "kk")) in (None, "en", "sw", "ru", "kk")


@pytest.mark.parametrize("junk", [None, 42, b"yes", ["1"]])
def test_a_non_string_from_a_broken_adapter_is_not_understood(junk):
    assert pick_choice(junk, SERVICES) is None  # type: ignore[arg-type]
    assert parse_yes_no(junk) is None  # type: ignore[arg-type]
    assert parse_when(junk, TODAY) is None  # type: ignore[arg-type]
    assert normalise_plate(junk) is None  # type: ignore[arg-type]
    assert parse_amount(junk) is None  # type: ignore[arg-type]
    assert language_of(junk, ("en", "sw")) is None  # type: ignore[arg-type]
    assert parse_rating(junk) is None  # type: ignore[arg-type]
    assert looks_like(junk, "back") is False  # type: ignore[arg-type]


# -- the language of a first message -------------------------------------------------------

NAIROBI_LANGUAGES, ATYRAU_LANGUAGES = ("en", "sw", "ru", "kk"), ("ru", "kk")


@pytest.mark.parametrize(
    "text, offered, lang",
    [
        ("Habari, nataka kuweka miadi kesho saa nne", NAIROBI_LANGUAGES, "sw"),
        ("Nataka kubadilisha oili", NAIROBI_LANGUAGES, "sw"),
        ("Hi, I need an oil change tomorrow", NAIROBI_LANGUAGES, "en"),
        ("Здравствуйте, хочу записаться на замену масла", ATYRAU_LANGUAGES, "ru"),
        ("Сәлеметсіз бе, көлікті жазғым келеді", ATYRAU_LANGUAGES, "kk"),
        ("Сәлем", ("ru",), "ru"),  # Kazakh, read in Russian where the shop has no Kazakh
        ("Привет", ("en", "sw"), None),  # not a language of the shop
        ("Habari", ("en",), None),
        ("KCB 123A", NAIROBI_LANGUAGES, None),  # a plate says nothing
        ("ok", NAIROBI_LANGUAGES, None),
        ("👍 1", NAIROBI_LANGUAGES, None),
        ("", NAIROBI_LANGUAGES, None),
    ],
)
def test_a_first_message_plainly_in_one_of_the_shops_languages_is_recognised(text, offered, lang):
    assert language_of(text, offered) == lang
