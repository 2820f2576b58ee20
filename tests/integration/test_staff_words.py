"""The staff dialogue without a database: what staff type, in four languages and with
typos, and what the engine asks core to do (pure functions, so these run in milliseconds)."""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot import staff_engine
from bot.model import Event
from bot.staff_model import (
    AnswerCustomer,
    Complete,
    Denied,
    Export,
    JobAction,
    JobView,
    MarkRefunded,
    ProposeExtra,
    Report,
    ResetTokens,
    Restock,
    SetDay,
    Shift,
    StaffDone,
    StaffInfo,
    StaffRefused,
)  # fmt: skip
from bot.staff_words import Parsed, parse, parse_day
from core.messages import render_reply

NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # Tuesday 10:00 in Nairobi


@pytest.mark.parametrize("typed, name, code", [
    ("/jobs", "jobs", None), ("kazi zangu", "jobs", None), ("мои заказы", "jobs", None), ("жұмыстарым", "jobs", None),
    ("received MM-1042", "received", "MM-1042"), ("recieved mm1042", "received", "MM-1042"),
    ("imepokelewa 1042", "received", "1042"), ("принял 1042", "received", "1042"), ("1042 қабылдадым", "received", "1042"),
    ("start 1042", "start", "1042"), ("anza 1042", "start", "1042"), ("начать 1042", "start", "1042"),
    ("бастау 1042", "start", "1042"),
    ("extra 1042", "extra", "1042"), ("kazi ya ziada 1042", "extra", "1042"), ("доп работа 1042", "extra", "1042"),
    ("қосымша 1042", "extra", "1042"),
    ("ready 1042", "ready", "1042"), ("redy 1042", "ready", "1042"), ("tayari 1042", "ready", "1042"),
    ("готово 1042", "ready", "1042"), ("дайын 1042", "ready", "1042"),
    ("done 1042", "done", "1042"), ("finsihed 1042", "done", "1042"), ("imekamilika 1042", "done", "1042"),
    ("выдано 1042", "done", "1042"), ("бітті 1042", "done", "1042"),
    ("/no_show 1042", "noshow", "1042"), ("hakuja 1042", "noshow", "1042"), ("неявка 1042", "noshow", "1042"),
    ("келмеді 1042", "noshow", "1042"),
    ("off shift", "offshift", None), ("naondoka", "offshift", None), ("конец смены", "offshift", None),
    ("ауысым бітті", "offshift", None), ("on shift", "onshift", None),
    ("/stock", "stock", None), ("vipuri", "stock", None), ("склад", "stock", None), ("қойма", "stock", None),
    ("/digest@pitstop_bot", "digest", None), ("ripoti", "digest", None), ("сводка", "digest", None), ("есеп", "digest", None),
    ("MM-1042", "job", "MM-1042"), ("I work here", "staff", None), ("я здесь работаю", "staff", None),
    ("/refunded MM-1042", "refunded", "MM-1042"), ("refund done 1042", "refunded", "1042"),
    ("вернул 1042", "refunded", "1042"), ("қайтардым 1042", "refunded", "1042"), ("nimerudisha 1042", "refunded", "1042"),
    ("nimerudi", "onshift", None),
    ("готово №1042", "ready", "1042"), ("дайын №1042", "ready", "1042"), ("готово № 1042", "ready", "1042"),
    ("готово ЗА-1042", "ready", "1042"), ("ready (1042)", "ready", "1042"), ("ready no.1042", "ready", "1042"),
])  # fmt: skip
def test_commands_in_four_languages_with_typos(typed, name, code):
    parsed = parse(typed)
    assert (parsed.name, parsed.code) == (name, code)


@pytest.mark.parametrize("typed", [
    "қабылдамадым 1042", "қабылданбады 1042", "бастамадым 1042", "аяқталмады 1042", "тапсырылмады 1042",
    "дайын емес 1042", "1042 дайын емес", "unfinished 1042", "incomplete 1042", "uncompleted 1042",
    "not ready 1042", "ready? not yet", "ещё не готово 1042", "не принял 1042", "bado tayari 1042", "tayari bado",
    "қабылдамады 1042", "аяқтамады 1042", "ready? no, not yet", "done? no", "received? never", "готово? ещё нет",
    "дайын ба? жоқ", "бітті ме? жоқ", "1042 дайын болған жоқ", "дайын болмады 1042", "tayari? si bado",
    "ready 1042 not yet", "готово 1042 не", "тапсырмады 1042", "1042 тапсырмадым", "бітпеді 1042",
    "refunded? not yet 1042", "вернул 1042? нет", "not refunded 1042",
])  # fmt: skip
def test_a_job_action_said_with_not_is_no_command(typed):
    """Aidos types "қабылдамадым ZA-1001" ("I did NOT receive it"): the customer must not
    hear that their car was received."""
    parsed = parse(typed)
    assert parsed is None or parsed.name not in ("received", "start", "ready", "done", "refunded"), parsed


@pytest.mark.parametrize("typed", ["ready 1042 tomorrow", "tayari kesho 1042", "готово завтра 1042",
                                   "готово будет через час 1042", "дайын болады 1042", "ready later 1042"])  # fmt: skip
def test_a_job_action_said_for_later_shows_the_job_and_moves_nothing(typed):
    assert parse(typed) == Parsed("job", (), "1042", False)


@pytest.mark.parametrize("typed", ["готово ли 1042?", "готов ли 1042", "1042 дайын ба?", "дайын ба 1042?",
                                   "бітті ме 1042?", "принял ли 1042?", "ready 1042?"])  # fmt: skip
def test_a_question_about_a_job_shows_the_job_and_moves_nothing(typed):
    """"готово ли 1042?" is the owner asking whether the car is ready: the customer was
    told it was, and "бітті ме 1042?" ("finished?") completed a paid job and sent the receipt."""
    assert parse(typed) == Parsed("job", (), "1042", False)


@pytest.mark.parametrize("typed", ["ready?", "дайын ба?", "is 1042 done?"])
def test_a_question_without_its_job_or_in_other_words_is_no_command(typed):
    assert parse(typed) is None


@pytest.mark.parametrize("typed", ["верну 1042", "refund 1042", "refundd 1042", "вернуть деньги 1042", "qaytardym 1042"])
def test_money_returned_is_read_only_as_written_never_from_a_word_like_it(typed):
    """"верну 1042" is "I will return it": the customer must not hear it came back."""
    parsed = parse(typed)
    assert parsed is None or parsed.name != "refunded", parsed


@pytest.mark.parametrize("typed, name", [
    ("received 1042 no scratches", "received"), ("дайын 1042, ақау жоқ", "ready"),
    ("принял 1042, повреждений нет", "received"), ("готово 1042, ещё поменял фильтр", "ready"),
    ("imepokewa 1042", "received"), ("finish 1042", "done"),
])  # fmt: skip
def test_a_remark_after_the_booking_or_a_shorter_form_of_the_word_still_moves_the_job(typed, name):
    assert (parse(typed).name, parse(typed).code) == (name, "1042")


@pytest.mark.parametrize("typed", ["hello", "I'd like an oil change tomorrow", "asante sana", "", "⭐⭐⭐", "x" * 400, "/@pitstop_bot"])
def test_ordinary_chat_is_not_a_command(typed):
    assert parse(typed) is None


def test_days_and_the_rest_of_the_arguments():
    today = date(2026, 11, 24)
    assert parse_day(["2026-12-24", "stocktake", "day"], today, "en") == (date(2026, 12, 24), ["stocktake", "day"])
    assert parse_day(["25", "dec", "party"], today, "en") == (date(2026, 12, 25), ["party"])
    assert parse_day(["завтра"], today, "ru") == (date(2026, 11, 25), [])
    assert parse_day(["sometime"], today, "en") == (None, ["sometime"])


def test_a_digests_date_without_its_year_is_a_day_gone_by():
    """"/digest 20.1" on 25 December was 20 January next year, a day still to come."""
    christmas = date(2026, 12, 25)
    assert parse_day(["20.1"], christmas, "en", past=True) == (date(2026, 1, 20), [])
    assert parse_day(["24", "dec"], christmas, "en", past=True) == (date(2026, 12, 24), [])
    assert parse_day(["26.12"], christmas, "en", past=True) == (date(2025, 12, 26), [])
    assert parse_day(["tomorrow"], christmas, "en", past=True) == (date(2026, 12, 26), [])  # named so: meant


@pytest.mark.parametrize("typed", ["отчёт за вчера", "сводка за вчера", "digest for yesterday", "есеп кешегі"])
def test_yesterdays_digest_asked_for_the_way_people_say_it(typed):
    talk = Talk(Ctx(role="owner")).type(typed)
    assert talk.commands == [Report("digest", date(2026, 11, 23))], talk.text  # Ctx's today is Tuesday 24 November


def test_a_weekday_named_for_a_digest_is_the_last_one_gone_by():
    """"/digest friday" on a Monday gave next Friday's digest: no revenue, nothing done."""
    monday = date(2026, 11, 23)
    assert parse_day(["friday"], monday, "en", past=True) == (date(2026, 11, 20), [])
    assert parse_day(["пятница"], monday, "ru", past=True) == (date(2026, 11, 20), [])
    assert parse_day(["ijumaa"], monday, "sw", past=True) == (date(2026, 11, 20), [])
    assert parse_day(["monday"], monday, "en", past=True) == (monday, [])  # today's, so far
    assert parse_day(["friday"], monday, "en") == (date(2026, 11, 27), [])  # /close friday: the one to come


# -- the engine, with a context made by hand ------------------------------------------------


def job(id=1, status="in_progress", mechanic_id=3, price=450_000, paid=0):
    return JobView(id, f"MM-{1000 + id}", NOW, NOW, status, "Amina", "KCB 123A", ({"en": "Brake pads"},), None,
                   "Kiprono Langat", mechanic_id, price, paid)  # fmt: skip


@dataclass
class Ctx:
    role: str = "mechanic"
    mine: list = field(default_factory=lambda: [job()])
    now: datetime = NOW

    @property
    def staff(self):
        return StaffInfo(3, "Kiprono Langat", self.role, "en", True, "Mwangaza Motors", ("en", "sw"), "Africa/Nairobi", "KES")

    def today(self):
        return date(2026, 11, 24)

    def jobs(self):
        return list(self.mine)

    def job(self, booking_id):
        return next((j for j in self.mine if j.id == booking_id), None)

    def find_job(self, number):
        return next((j for j in self.mine if j.code.endswith(number)), None)


class Talk:
    def __init__(self, ctx):
        self.ctx, self.data, self.commands, self.text, self.choices = ctx, {}, [], "", []

    def send(self, event):
        step = staff_engine.step(self.data, event, self.ctx)
        self.data, self.commands = step.data, step.commands
        shown = [render_reply(r, "en") for r in step.replies]
        self.text = "\n".join(t for t, _ in shown)
        self.choices = [cid for _, cs in shown for cid, _ in cs]
        return self

    def type(self, text):
        return self.send(Event.typed(text))


def test_owner_commands_become_commands_for_the_owner_and_denials_for_a_mechanic():
    typed = {"/digest": Report("digest", date(2026, 11, 24)), "/close 2026-12-01 party": SetDay(date(2026, 12, 1), True, "party"),
             "/open 26.12": SetDay(date(2026, 12, 26), False), "/tokens reset 0712 345 678": ResetTokens("0712 345 678"),
             "/export 1.11 30.11": Export(date(2026, 11, 1), date(2026, 11, 30)), "/restock oil filter 6": Restock("oil filter", 6),
             "/week": Report("week", date(2026, 11, 24)), "/hours": Report("hours", date(2026, 11, 24)),
             "/refunded MM-1042": MarkRefunded("MM-1042")}  # fmt: skip
    for text, command in typed.items():
        assert Talk(Ctx(role="owner")).type(text).commands == [command], text
        assert Talk(Ctx()).type(text).commands == [Denied(text.split()[0].lstrip("/"))], text



@pytest.mark.parametrize("typed, first, last", [
    ("/export 1.12 31.12", date(2026, 12, 1), date(2026, 12, 31)),  # this year's December, though ahead
    ("/export 1.11 30.11", date(2026, 11, 1), date(2026, 11, 30)),
    ("/export 1.12 31.1", date(2025, 12, 1), date(2026, 1, 31)),  # an end before the start: the start a year back
    ("/export 2026-11-30 2026-11-01", date(2026, 11, 1), date(2026, 11, 30)),  # typed the other way round
])
def test_an_exports_two_days_without_a_year_are_one_span_of_this_year(typed, first, last):
    assert Talk(Ctx(role="owner")).type(typed).commands == [Export(first, last)]



def test_in_january_last_decembers_days_are_last_years():
    from bot.staff_words import parse_span

    january = date(2027, 1, 10)
    assert parse_span(["1.12", "31.12"], january, "en") == (date(2026, 12, 1), date(2026, 12, 31))
    assert parse_span(["1.12"], january, "en") == (date(2026, 12, 1), date(2026, 12, 1))
    assert parse_span(["1.1", "10.1"], january, "en") == (date(2027, 1, 1), date(2027, 1, 10))


def test_a_job_card_left_on_the_screen_an_hour_ago_is_not_acted_on_by_a_word_alone():
    from datetime import timedelta

    ctx = Ctx(mine=[job(status="confirmed")])
    talk = Talk(ctx)
    talk.type("1001")  # the card of MM-1001
    ctx.now += timedelta(minutes=45)
    talk.type("nimefika kazini")  # "I have arrived at work", the next morning or an hour later
    assert talk.commands == [] and talk.text.startswith("Is it this job? Tap what to do.")

@pytest.mark.parametrize("typed", ["/digest 31.12.9999", "/export 1.1.9999 31.12.9999", "/close 31.12.9999"])
def test_a_day_years_away_is_asked_for_again_not_a_crash(typed):
    talk = Talk(Ctx(role="owner")).type(typed)
    assert talk.commands == [] and talk.text.startswith(("Which day", "Which days"))

def test_extra_work_is_described_priced_and_confirmed_before_it_is_sent():
    talk = Talk(Ctx())
    assert talk.type("extra 1001").text.startswith("Extra work on MM-1001 (KCB 123A): what is needed?")
    talk.type("Worn discs")
    assert talk.text.startswith('How much will "Worn discs" cost?')
    talk.type("about a lot")
    assert talk.text.startswith("That does not look like a price.")
    talk.type("9 000")
    talk.type("skip")
    assert talk.text.startswith('Ask the customer to approve "Worn discs" for Ksh9,000? With it, the total is Ksh13,500.')
    talk.type("ndio")
    assert talk.commands == [ProposeExtra(1, "Worn discs", 900_000, None)]


@pytest.mark.parametrize("step, typed", [("extra_desc", "1"), ("extra_price", "1"), ("extra_price", "отмена")])
def test_the_cancel_listed_under_a_description_or_price_question_is_chosen_by_its_number_or_name(step, typed):
    """WhatsApp shows "1. Cancel" under both questions: "1" is the choice, not work called
    "1" or a price of Ksh1."""
    talk = Talk(Ctx())
    talk.type("extra 1001")
    if step == "extra_price":
        talk.type("Worn wiper blades")
    assert talk.data["state"] == step and talk.choices == ["st:job:1"]  # Cancel: back to the job
    talk.type(typed)
    assert (talk.data["state"], talk.commands) == ("job", [])
    assert talk.text.startswith("MM-1001")


def test_extra_work_is_priced_in_the_shops_own_minor_units():
    class KampalaCtx(Ctx):  # a garage paid in Ugandan shillings, which have no cents
        @property
        def staff(self):
            return replace(super().staff, currency="UGX")

    talk = Talk(KampalaCtx())
    for typed in ("extra 1001", "Worn discs", "50000", "skip", "yes"):
        talk.type(typed)
    assert talk.commands == [ProposeExtra(1, "Worn discs", 50_000, None)]


def test_done_with_money_owed_asks_whether_it_was_paid():
    talk = Talk(Ctx(mine=[job(status="ready", paid=100_000)]))
    assert talk.type("done 1001").text.startswith("MM-1001: the customer owes Ksh3,500. Did they pay it at the shop?")
    assert talk.type("2").commands == [Complete(1, False)]
    talk = Talk(Ctx(mine=[job(status="ready", paid=450_000)]))
    assert talk.type("done").text.startswith("Is it this job? Tap what to do.")  # without its number: shown first
    assert talk.type("done").commands == [Complete(1, False)]  # the job on the screen; nothing owed: no question


@pytest.mark.parametrize("typed", ["nimefika kazini", "Келдім", "приехал"])
def test_saying_i_have_arrived_shows_the_only_job_and_tells_no_customer(typed):
    talk = Talk(Ctx(mine=[job(status="confirmed")]))
    talk.type(typed)
    assert talk.commands == [] and talk.text.startswith("Is it this job? Tap what to do.")
    assert "st:a:received:1" in talk.choices


@pytest.mark.parametrize("typed", ["sawa", "конечно", "ага", "yep", "👍"])
def test_a_yes_in_words_the_buttons_do_not_list_answers_the_question(typed):
    talk = Talk(Ctx(mine=[job(status="confirmed")]))
    talk.type("no-show 1001")
    assert talk.type(typed).commands == [JobAction(1, "noshow")]


def test_numbered_answers_typos_and_the_job_on_screen():
    talk = Talk(Ctx(mine=[job(status="confirmed")]))
    talk.type("hi")
    assert talk.choices == ["st:jobs", "st:off", "st:stock", "st:help"]
    talk.type("1")
    assert talk.choices == ["st:job:1", "st:home"]
    talk.type("1")
    assert talk.choices == ["st:a:received:1", "st:a:start:1", "st:a:noshow:1", "st:jobs"]
    assert talk.type("recieved").commands == [JobAction(1, "received")]
    talk.send(Event("outcome", outcome=StaffDone("moved", {"code": "MM-1001", "status": "received"})))
    assert talk.text.startswith("MM-1001 is now: car received. The customer has been told.")
    assert talk.type("off shift").text.startswith("Go off shift now?")
    assert talk.type("yes").commands == [Shift(False)]


def test_a_colleagues_job_is_refused_and_nonsense_gets_help():
    talk = Talk(Ctx(mine=[job(mechanic_id=9)]))
    assert talk.type("ready 1001").commands == [Denied("ready MM-1001")]
    assert talk.type("blah blah").text.startswith("Sorry, I did not get that.\nTap a button, or type /help for the commands.")
    assert talk.type("/help").text.startswith("Staff commands")


@pytest.mark.parametrize("typed", ["/staff", "I work here", "nafanya kazi hapa", "я здесь работаю"])
def test_a_mechanic_whose_first_message_is_staff_as_told_is_greeted_once(typed):
    text = Talk(Ctx()).send(Event("verified", text=typed)).text
    assert text == "Thank you, Kiprono: you are now recognised as mechanic of Mwangaza Motors.\nKiprono, what do you need?"


@pytest.mark.parametrize("step", ["extra_desc", "extra_price"])
def test_a_job_command_typed_at_the_extra_work_questions_is_the_command(step):
    """Describing extra work on MM-1001, the next car is ready: "tayari 1002" alone is that
    command, not the work's description nor a price."""
    talk = Talk(Ctx(mine=[job(1), job(2)]))
    talk.type("extra 1001")
    if step == "extra_price":
        talk.type("Worn discs")
    assert talk.data["state"] == step

    assert talk.type("tayari 1002").commands == [JobAction(2, "ready")]


def test_a_price_typed_after_looking_it_up_for_35_minutes_is_the_price():
    ctx = Ctx(mine=[job(1)])
    talk = Talk(ctx)
    talk.type("extra 1001").type("Worn discs")
    ctx.now += timedelta(minutes=35)

    talk.type("4500")

    assert talk.data["state"] == "extra_photo" and talk.data["extra"]["price"] == 450000


def on(j, start):
    return replace(j, start=start, end=start + timedelta(hours=1))


# -- a time for later that LATER does not list: the car is marked ready NOW

@pytest.mark.parametrize("typed", [
    "ready 1001 in 20 mins", "ready 1001 in 20 min", "ready 1001 at 4pm", "ready 1001 by 3pm",
    "ready 1001 this afternoon", "ready 1001 tmrw", "ready 1001 tommorow", "ready 1001 next week",
    "tayari 1001 baada ya saa moja", "tayari 1001 jioni", "tayari 1001 baadae",
    "готово 1001 к вечеру", "готово 1001 после обеда", "готово 1001 скоро",
    "дайын 1001 кешке", "дайын 1001 ертеңге",
])
def test_ready_said_for_later_in_everyday_words_moves_nothing(typed):
    talk = Talk(Ctx(mine=[job(status="in_progress")]))
    assert talk.type(typed).commands == [], f"{typed!r}: the customer is told to come and collect now"


# -- a LATER word in a remark after the number undoes the command

@pytest.mark.parametrize("typed, action", [
    ("received 1001 will call the customer", "received"),
    ("received 1001, fuel quarter tank, will check brakes", "received"),
    ("start 1001 will take 2 hours", "start"),
    ("ready 1001 - will need new tyres soon", "ready"),
    ("ready 1001, customer says he will come tomorrow", "ready"),
    ("готово 1001, клиент заберёт завтра", "ready"),
])
def test_a_remark_after_the_booking_number_with_a_later_word_still_moves_the_job(typed, action):
    status = "confirmed" if action in ("received", "start") else "in_progress"
    talk = Talk(Ctx(mine=[job(status=status)]))
    assert talk.type(typed).commands == [JobAction(1, action)], talk.text


# -- digits of a plate / an amount read as the booking (8e4ac80)

def test_a_plate_named_with_the_command_is_not_booking_123():
    """MM-1001's card (KCB 123A) is open and the plate is typed: the card's job moves."""
    talk = Talk(Ctx(mine=[job(status="confirmed")]))
    talk.type("1001")  # the card
    talk.type("received KCB 123A")
    assert "booking 123" not in talk.text
    assert talk.commands == [JobAction(1, "received")]


def test_the_amount_paid_is_not_another_customers_booking():
    """MM-1001's card is open; 'done, paid 1500' is about it, not another customer's MM-1500."""
    other = replace(job(id=500, status="ready", paid=450_000), code="MM-1500")
    talk = Talk(Ctx(mine=[job(status="ready", paid=300_000), other]))
    talk.type("1001")
    talk.type("done, paid 1500")
    assert talk.commands != [Complete(500, False)], "MM-1500 was completed"
    assert talk.data.get("job") == 1


# -- the early question answered with its own verb asks it again, forever

@pytest.mark.parametrize("answer", ["келді", "приехала", "limefika", "arrived", "imefika"])
def test_has_its_car_come_in_answered_with_came_is_yes(answer):
    talk = Talk(Ctx(mine=[on(job(status="confirmed"), NOW + timedelta(days=1))]))
    assert "Has its car come in already?" in talk.type("received 1001").text
    talk.type(answer)
    assert talk.commands == [JobAction(1, "received")], talk.text


# -- night shift: a car booked 23:30 taken in at 00:05 is asked about as another day's

def test_a_car_booked_late_in_the_evening_taken_in_after_midnight_is_not_asked_about():
    after_midnight = datetime(2026, 11, 24, 21, 5, tzinfo=UTC)  # 00:05 Wednesday in Nairobi
    ctx = Ctx(mine=[on(job(status="confirmed"), datetime(2026, 11, 24, 20, 30, tzinfo=UTC))], now=after_midnight)  # 23:30 Tue
    talk = Talk(ctx)
    assert talk.type("received 1001").commands == [JobAction(1, "received")], talk.text


# -- the owner's 'Answer' open (12 h): a job command with a remark goes to that customer

@dataclass
class OwnerCtx(Ctx):
    role: str = "owner"

    def customer_name(self, customer_id):
        return "Kamau"


def answering():
    talk = Talk(OwnerCtx(mine=[job(status="confirmed")]))
    talk.send(Event("choice", choice="st:answer:7"))
    assert talk.data["state"] == "answer"
    return talk


@pytest.mark.parametrize("typed", ["received 1001 no scratches", "ready 1001, also changed the filter"])
def test_a_job_command_with_a_remark_is_not_sent_to_the_customer_being_answered(typed):
    """The owner tapped 'Answer' under Kamau's message, and a car came in meanwhile."""
    talk = answering()
    talk.type(typed)
    assert not any(isinstance(c, AnswerCustomer) for c in talk.commands), talk.commands


@pytest.mark.parametrize("typed", ["Принял 15000", "Received 2500, thanks"])
def test_an_answer_acknowledging_money_is_sent_not_read_as_a_booking(typed):
    """Kamau: 'I sent 2500 by M-Pesa'. 'Received 2500, thanks' is the answer: there is no booking 2500."""
    talk = answering()
    talk.type(typed)
    assert talk.commands == [AnswerCustomer(7, typed)], talk.text


@pytest.mark.parametrize("typed", ["принял машину 1042", "received the car 1042", "tayari gari 1042"])
def test_the_booking_named_after_a_word_about_the_car_is_the_one_moved(typed):
    parsed = parse(typed)
    assert (parsed.name, parsed.code) == ("received" if "tayari" not in typed else "ready", "1042")


def test_a_photo_captioned_like_a_command_at_the_description_of_extra_work_is_its_description():
    """The caption went back through the dialogue as if typed: "ready 1002" moved job 1002."""
    talk = Talk(Ctx(mine=[job(1), job(2)]))
    talk.type("extra 1001")
    talk.send(Event("photo", text="ready 1002", photo="telegram:abc"))
    assert talk.commands == [] and talk.data["state"] == "extra_price"
    assert talk.data["extra"]["photo"] == "telegram:abc"


# -- an owner's album: Telegram sends a message a photo, each with the album's id -------------

KAMAU_ANSWERED = StaffDone("answered", {"name": "Kamau"})


def album_photo(album: str, n: int, caption: str = "") -> Event:
    return Event("photo", text=caption, photo=f"telegram:AgACalbum{album}-{n}", album=album)


def photos_sent(talk: Talk, *photos: Event, outcome=KAMAU_ANSWERED) -> tuple[list, list[str]]:
    """Each photo, then what carrying out its commands came to (as bot.staff.converse
    does): the commands, and what was said to each photo."""
    commands, said = [], []
    for photo in photos:
        talk.send(photo)
        commands += talk.commands
        said.append(talk.text if not talk.commands else talk.send(Event("outcome", outcome=outcome)).text)
    return commands, said


def test_the_rest_of_an_owners_album_goes_to_the_customer_he_answers_without_a_word_each():
    talk = answering()

    commands, said = photos_sent(talk, album_photo("77", 1, "The quote"), album_photo("77", 2), album_photo("77", 3))

    assert commands == [AnswerCustomer(7, "The quote", "telegram:AgACalbum77-1"),
                        AnswerCustomer(7, "", "telegram:AgACalbum77-2"), AnswerCustomer(7, "", "telegram:AgACalbum77-3")]
    assert said == ["Sent to Kamau.\nKiprono, what do you need?", "", ""]
    assert (talk.data["state"], talk.data["answered"]["to"], talk.data["album"]) == ("home", 7, "77")


@pytest.mark.parametrize("between", ["another album", "a photo alone", "words"])
def test_what_comes_after_an_owners_album_is_answered_as_ever(between):
    talk = answering()
    photos_sent(talk, album_photo("77", 1, "The quote"))
    photo = {"another album": album_photo("88", 1), "a photo alone": Event("photo", photo="telegram:AgACalone")}
    if between == "words":
        talk.type("help")
    else:
        photos_sent(talk, photo[between])

    commands, said = photos_sent(talk, album_photo("77", 2))

    assert commands == [AnswerCustomer(7, "", "telegram:AgACalbum77-2")]
    assert said == ["Sent to Kamau.\nKiprono, what do you need?"]


def test_an_owners_album_that_reaches_nobody_is_said_so_once():
    talk = Talk(OwnerCtx())

    commands, said = photos_sent(talk, album_photo("77", 1, "The quote"), album_photo("77", 2), album_photo("77", 3))

    assert commands == []
    assert [s.split("\n")[0] for s in said] == ["This photo was not sent to anyone.", "", ""]


def test_an_album_for_a_customer_who_cannot_be_reached_goes_to_nobody_not_to_the_one_answered_before():
    """Answer tapped under another message: the album is that customer's, not Kamau's."""
    talk = answering()
    photos_sent(talk, album_photo("66", 1))
    talk.send(Event("choice", choice="st:answer:8"))
    gone = StaffRefused("That customer can no longer be reached here.")

    commands, said = photos_sent(talk, album_photo("77", 1), album_photo("77", 2), outcome=gone)

    assert commands == [AnswerCustomer(8, "", "telegram:AgACalbum77-1")]
    assert said == ["That customer can no longer be reached here.\nKiprono, what do you need?", ""]
