import tomllib
from datetime import time, timedelta

import pytest

from core.shopfile import ShopFileError, parse_shop, read_shop_file
from tests.conftest import ATYRAU, NAIROBI


def nairobi_raw() -> dict:
    return tomllib.loads(NAIROBI.read_text())


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ShopFileError) as error:
        parse_shop(raw)
    return error.value.problems


def test_the_nairobi_garage_file_describes_a_real_workshop():
    spec = read_shop_file(NAIROBI)
    assert (spec.slug, spec.timezone, spec.currency, spec.country) == (
        "mwangaza-motors", "Africa/Nairobi", "KES", "KE")
    assert spec.languages == ("en", "sw")
    assert [s.role for s in spec.staff].count("mechanic") == 3
    assert len(spec.bays) == 2
    assert spec.payment_methods == ("mpesa", "cash")
    oil = spec.services[0]
    assert (oil.code, oil.duration_minutes, oil.price_minor) == ("oil-change", 45, 350000)
    assert oil.names["sw"] == "Kubadilisha oili na chujio"
    assert spec.hours[0].open == time(8) and spec.hours[0].close == time(18)
    assert 6 not in spec.hours  # closed on Sunday
    assert spec.booking.buffer == timedelta(minutes=10)
    assert spec.cancellation.tokens == 2


def test_the_atyrau_service_centre_file_describes_a_real_workshop():
    spec = read_shop_file(ATYRAU)
    assert (spec.timezone, spec.currency, spec.languages) == ("Asia/Atyrau", "KZT", ("ru", "kk", "en"))
    assert [s.role for s in spec.staff].count("mechanic") == 4
    assert len(spec.bays) == 3
    assert spec.providers["kaspi"]["response_format"] == "xml"
    assert {s.code for s in spec.services} >= {"oil-change", "brake-pads", "wheel-alignment"}


def test_prices_in_major_units_become_minor_units_and_deposits_are_kept_as_written():
    spec = read_shop_file(NAIROBI)
    by_code = {s.code: s for s in spec.services}
    assert by_code["brake-pads"].deposit_minor == 100000
    assert by_code["brake-discs"].deposit_percent == 30
    assert by_code["diagnosis"].deposit_minor is None


def test_a_lunch_break_and_a_split_shift_both_become_breaks():
    raw = nairobi_raw()
    raw["hours"]["sat"] = [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "16:00"}]
    spec = parse_shop(raw)
    sat = spec.hours[5]
    assert (sat.open, sat.close) == (time(8), time(16))
    assert [(b.open, b.close) for b in sat.breaks] == [(time(12), time(13))]


def test_a_broken_file_reports_every_problem_with_its_path():
    raw = nairobi_raw()
    raw["timezone"] = "Africa/Nairobbi"
    raw["currency"] = "KSH"
    raw["languages"] = ["en", "sw", "fr"]
    raw["hours"]["mon"] = {"open": "18:00", "close": "08:00"}
    raw["hours"]["tue"] = {"open": "08:00", "close": "18:00", "breaks": [["19:00", "20:00"]]}
    raw["hours"]["wed"] = [{"open": "08:00", "close": "13:00"}, {"open": "12:00", "close": "18:00"}]
    raw["services"][0]["duration_minutes"] = 0
    raw["services"][1]["category"] = "painting"
    raw["telegram"]["token_env"] = "123456789:AAH-not-a-variable-name"
    raw["payments"]["mpesa"]["passkey"] = "bfb279f9aa9bdbcf158e97dd71a467cd"
    assert problems_of(raw) == [
        "timezone: unknown timezone 'Africa/Nairobbi' (use an IANA name like Africa/Nairobi)",
        "currency: unknown currency 'KSH' (use an ISO 4217 code like KES)",
        "languages[2]: no catalog for language 'fr' (have en, sw, ru, kk)",
        "hours.mon: closes at 08:00, not after it opens at 18:00",
        "hours.tue.breaks[0]: break 19:00-20:00 is outside opening hours 08:00-18:00",
        "hours.wed: opening hours overlap (08:00-13:00 and 12:00-18:00)",
        "services[0].duration_minutes: must be a positive number of minutes, not 0",
        "services[1].category: no mechanic has the skill 'painting', so nobody can do this service",
        "payments.mpesa.passkey: secrets may not be written in the file; put the value in an environment variable and name it in passkey_env",
        "telegram.token_env: looks like a secret value; write the NAME of an environment variable that holds it (e.g. SHOP_TELEGRAM_TOKEN)",
    ]


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda r: r.pop("slug"), "slug: is required"),
        (lambda r: r.update(code_prefix="mm1"), "code_prefix: must be 1 to 4 capital letters, not 'mm1'"),
        (lambda r: r["services"][0].update(price=-5), "services[0].price: must be an amount of money like 2500, not -5"),
        (lambda r: r["services"][0].update(price="35.005"), "services[0].price: has more decimals than KES allows"),
        (lambda r: r["services"][0]["names"].pop("sw"), "services[0].names.sw: is missing: every shop language needs a name"),
        (lambda r: r["services"][1].update(deposit=99999), "services[1].deposit: is more than the price of the service"),
        (lambda r: r["services"][2].update(deposit={"percent": 150}), "services[2].deposit.percent: must be a whole percentage from 1 to 100, not 150"),
        (lambda r: r["services"][0]["parts"].update({"spark-plug": 4}), "services[0].parts.spark-plug: is not listed under [[parts]]"),
        (lambda r: r["services"][1].update(code="oil-change"), "services[1].code: 'oil-change' is used twice"),
        (lambda r: r["staff"][1].update(phone="0722"), "staff[1].phone: '0722' is not a valid phone number"),
        (lambda r: r["staff"][2].update(phone="+254722000002"), "staff[2].phone: +254722000002 is already listed for another staff member"),
        (lambda r: r["staff"][1].update(role="boss"), "staff[1].role: must be one of mechanic, owner, not 'boss'"),
        (lambda r: r["booking"].update(slot_step_minutes=0), "booking.slot_step_minutes: must be a positive number of minutes, not 0"),
        (lambda r: r["payments"].update(methods=["mpesa", "bitcoin"]), "payments.methods[1]: unknown payment method 'bitcoin' (use mpesa, kaspi, cash)"),
        (lambda r: r["payments"]["mpesa"].pop("passkey_env"), "payments.mpesa.passkey_env: is required: the name of the environment variable holding it"),
        (lambda r: r["templates"]["reminder"].update(content_sid="reminder-1"), "templates.reminder.content_sid: must be a Twilio ContentSid (HX + 32 hex digits), not 'reminder-1'"),
        (lambda r: r["hours"].update(funday={"open": "08:00", "close": "09:00"}), "hours.funday: unknown weekday (use mon, tue, wed, thu, fri, sat, sun)"),
        (lambda r: r["staff"][1].update(name=" "), "staff[1].name: must not be empty"),
        (lambda r: r["templates"].pop("reminder"), "templates.reminder: is required with WhatsApp: outside its 24-hour window only an approved template can be sent"),
        (lambda r: r["templates"]["status"].update(variables=["nmae", "code"]), "templates.status.variables[0]: unknown variable 'nmae' (use code, name, status)"),
        (lambda r: r["hours"].update(mon={"open": "8am", "close": "18:00"}), "hours.mon.open: must be a time like \"08:30\", not '8am'"),
        (lambda r: r.update(reminders={"hours_before": [168, 2]}), "reminders.hours_before[0]: must be a number of hours from 1 to 72, not 168"),
        # a section written as a value, or a day as nothing: a line each, not a crash
        (lambda r: r["hours"].update(sun=[]), 'hours.sun: must be "closed" or opening hours like {open = "08:00", close = "18:00"}'),
        (lambda r: r.update(digest="19:00"), "digest: must be a table, like [digest] on a line of its own, not '19:00'"),
        (lambda r: r.update(booking=30), "booking: must be a table, like [booking] on a line of its own, not 30"),
        (lambda r: r["hours"]["mon"].update(breaks="13:00-14:00"), 'hours.mon.breaks: must be a list of pairs like [["13:00", "14:00"]]'),
        (lambda r: r.update(public_holidays="false"), "public_holidays: must be true or false, not 'false'"),
        (lambda r: r["closures"][0].update(closed="no"), "closures[0].closed: must be true or false, not 'no'"),
        # a key misspelt where every key has a default: the default would quietly stay
        (lambda r: r["booking"].update(slot_stepminutes=15), "booking.slot_stepminutes: unknown key (did you mean slot_step_minutes?)"),
        (lambda r: r.update(public_holiday=False), "public_holiday: unknown key (did you mean public_holidays?)"),
        (lambda r: r["cancellation"].update(refunds=True), "cancellation.refunds: unknown key (use tokens, late_window_hours)"),
    ],
)
def test_each_mistake_an_operator_makes_gets_one_clear_line(edit, expected):
    raw = nairobi_raw()
    edit(raw)
    assert problems_of(raw) == [expected]


def test_mpesa_is_refused_for_a_shop_that_does_not_charge_shillings():
    raw = tomllib.loads(ATYRAU.read_text())
    raw["payments"]["methods"] = ["kaspi", "mpesa"]
    raw["payments"]["mpesa"] = {k: "X_" + k.upper() for k in ("shortcode_env", "passkey_env", "consumer_key_env", "consumer_secret_env")}
    assert problems_of(raw) == ["payments.methods: M-Pesa takes KES only, but the shop's currency is KZT"]


def test_an_unreadable_or_malformed_file_is_one_line_too(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\nslug = \n')
    with pytest.raises(ShopFileError) as error:
        read_shop_file(broken)
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith("not valid TOML")


def test_a_kaspi_table_needs_the_device_token_every_scheme_uses_and_no_api_key_but_on_r1():
    raw = tomllib.loads(ATYRAU.read_text())
    without_key = {**raw, "payments": {**raw["payments"], "kaspi": {k: v for k, v in raw["payments"]["kaspi"].items()
                                                                      if k != "api_key_env"}}}  # fmt: skip
    parse_shop(without_key)  # r2 and r3 have no Api-Key: loads

    del raw["payments"]["kaspi"]["device_token_env"]
    with pytest.raises(ShopFileError) as refused:
        parse_shop(raw)
    assert refused.value.problems == [
        "payments.kaspi.device_token_env: is required: the name of the environment variable holding it"]


def test_the_readmes_shop_file_sample_loads_as_written():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sample = readme.split("## Shop files", 1)[1].split("```toml", 1)[1].split("```", 1)[0]

    spec = parse_shop(tomllib.loads(sample))

    assert (spec.slug, spec.public_holidays, [p.code for p in spec.parts]) == ("mwangaza-motors", True, ["oil-filter"])
