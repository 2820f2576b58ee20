"""The pure parts of payments: reading what M-Pesa and Kaspi send, and deciding what it
means, with the real-format fixtures from /work/shared/fixtures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest

from core import kaspi, mpesa
from core.payments import FailureKind, Verdict, after_payment
from tests.conftest import FIXTURES


def fixture(path: str) -> dict:
    data = json.loads((FIXTURES / path).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def request_line(path: str) -> dict[str, str]:
    for line in (FIXTURES / path).read_text(encoding="utf-8").splitlines():
        if line.startswith("GET "):
            return dict(parse_qsl(urlsplit(line.split()[1]).query))
    raise AssertionError(path)


# -- what a payment does to its booking ----------------------------------------------------------


@pytest.mark.parametrize("status, live, free, before, owed, verdict", [
    ("held", True, False, 0, 3500, Verdict.CONFIRM),
    ("held", False, True, 0, 3500, Verdict.CONFIRM_LATE),  # ran out, not swept yet
    ("expired", False, True, 0, 3500, Verdict.CONFIRM_LATE),
    ("expired", False, False, 0, 3500, Verdict.REFUND_SLOT_TAKEN),
    ("cancelled", False, True, 0, 3500, Verdict.REFUND_INACTIVE),
    ("no_show", False, True, 0, 3500, Verdict.REFUND_INACTIVE),
    ("confirmed", False, False, 1000, 4500, Verdict.CREDIT),
    ("ready", False, False, 1000, 4500, Verdict.CREDIT),
    ("completed", False, False, 4500, 4500, Verdict.REFUND_OVERPAID),
])  # fmt: skip
def test_what_money_received_does_to_a_booking(status, live, free, before, owed, verdict):
    assert after_payment(status, live, free, before, owed) == verdict


@pytest.mark.parametrize("status, live", [("held", False), ("expired", False), ("held", True)])
def test_money_for_a_hold_on_a_day_closed_since_goes_back(status, live):
    assert after_payment(status, live, True, 0, 3500, day_open=False) == Verdict.REFUND_DAY_CLOSED


# -- M-Pesa: the request ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", fixture("mpesa/stk_password_vectors.json")["vectors"])
def test_the_stk_password_matches_the_published_vectors(vector):
    assert mpesa.password(vector["BusinessShortCode"], vector["Passkey"], vector["Timestamp"]) == vector["Password"]


def test_the_stk_timestamp_is_nairobi_time():
    assert mpesa.timestamp(datetime(2026, 3, 14, 7, 15, tzinfo=UTC)) == "20260314101500"


@pytest.mark.parametrize("phone, msisdn", [
    ("+254712345678", "254712345678"), ("0712345678", "254712345678"), ("254 712 345 678", "254712345678"),
    ("whatsapp:+254110123456", "254110123456"), ("0110123456", "254110123456"),
    ("+77012000001", None), ("+254201234567", None), ("", None), (None, None), ("banana", None),
])  # fmt: skip
def test_phones_are_normalised_to_what_daraja_takes(phone, msisdn):
    assert mpesa.msisdn(phone) == msisdn


def test_a_push_asks_whole_shillings_under_a_short_reference():
    cfg = mpesa.MpesaConfig("174379", "key", "ck", "cs")
    body = mpesa.push_body(cfg, "20260314101500", 350050, "254712345678", "https://x/webhooks/mpesa/t/1", "MM-1042")
    assert (body["Amount"], body["AccountReference"], body["TransactionDesc"]) == (3501, "MM1042", "MM1042")
    assert (body["PartyA"], body["PartyB"], body["TransactionType"]) == ("254712345678", "174379", "CustomerPayBillOnline")
    assert mpesa.account_reference("ABCD-1234567890") == "ABCD12345678"
    assert "key" not in repr(cfg) and "cs" not in repr(cfg)


# -- M-Pesa: callbacks -------------------------------------------------------------------------------


def test_a_success_callback_is_read_by_item_name():
    cb = mpesa.StkCallback.parse(fixture("mpesa/callback_success.json"))
    assert cb == mpesa.StkCallback("ws_CO_DMZ_264695293_11032019122104433", "19918-3028728-2", 0,
                                   "The service request is processed successfully.", Decimal("1.0"),
                                   "NCB9FJNAIT", "254719748260", "20190311122121")  # fmt: skip
    assert cb.amount_minor == 100


@pytest.mark.parametrize("path, outcome, why", [
    ("mpesa/callback_success.json", mpesa.Outcome.PAID, None),
    ("mpesa/callback_cancelled_1032.json", mpesa.Outcome.FAILED, FailureKind.CANCELLED),
    ("mpesa/callback_wrong_pin_2001.json", mpesa.Outcome.FAILED, FailureKind.WRONG_PIN),
    ("mpesa/callback_insufficient_funds_1.json", mpesa.Outcome.FAILED, FailureKind.INSUFFICIENT),
    ("mpesa/callback_timeout_1037.json", mpesa.Outcome.NO_ANSWER, None),
])  # fmt: skip
def test_every_fixture_callback_is_classified_by_its_code(path, outcome, why):
    cb = mpesa.StkCallback.parse(fixture(path))
    assert mpesa.classify(cb.result_code) == (outcome, why)


def test_result_codes_from_the_table():
    table = {c["code"]: c["outcome"] for c in fixture("mpesa/result_codes.json")["codes"]}
    for code, outcome in table.items():
        got, _ = mpesa.classify(code)
        expected = {"paid": "paid", "failed": "failed", "cancelled": "failed", "timeout": "no_answer",
                    "pending": "pending"}[outcome]  # fmt: skip
        assert got == expected, code
    assert mpesa.classify(4242) == (mpesa.Outcome.UNKNOWN, None)  # not a failure: the query decides


@pytest.mark.parametrize("body", [None, [], {}, {"Body": {}}, {"Body": {"stkCallback": {"ResultCode": 0}}},
                                  {"Body": {"stkCallback": {"CheckoutRequestID": "x", "ResultCode": True}}},
                                  {"Body": {"stkCallback": {"CheckoutRequestID": "x", "ResultCode": 0,
                                   "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": "lots"}]}}}}])  # fmt: skip
def test_what_is_not_a_callback_is_refused(body):
    with pytest.raises(mpesa.BadCallback):
        mpesa.StkCallback.parse(body)


def test_the_same_content_has_the_same_fingerprint_in_any_key_order():
    body = fixture("mpesa/callback_success.json")
    reordered = json.loads(json.dumps(body, sort_keys=True))
    assert mpesa.digest(body) == mpesa.digest(reordered)
    cb = mpesa.StkCallback.parse(body)
    assert mpesa.hint_of(mpesa.inbox_key(cb, "f", 42)) == 42
    assert mpesa.hint_of(mpesa.inbox_key(cb, "f")) is None


SUCCESS = mpesa.StkCallback.parse(fixture("mpesa/callback_success.json"))
CANCELLED = mpesa.StkCallback.parse(fixture("mpesa/callback_cancelled_1032.json"))
TIMEOUT = mpesa.StkCallback.parse(fixture("mpesa/callback_timeout_1037.json"))


@pytest.mark.parametrize("expected, cb, decision", [
    (mpesa.Expected(100, "KES", "pending"), SUCCESS, mpesa.Paid("NCB9FJNAIT", 100)),
    (mpesa.Expected(350000, "KES", "pending"), SUCCESS, mpesa.Mismatch("amount", 100)),
    (mpesa.Expected(100, "KZT", "pending"), SUCCESS, mpesa.Mismatch("currency", 100)),
    (mpesa.Expected(100, "KES", "completed"), SUCCESS, mpesa.AlreadyFinal("completed", False, "NCB9FJNAIT")),
    (mpesa.Expected(100, "KES", "failed"), SUCCESS, mpesa.AlreadyFinal("failed", True, "NCB9FJNAIT")),
    (mpesa.Expected(100, "KES", "completed"), CANCELLED, mpesa.AlreadyFinal("completed", False)),
    (mpesa.Expected(100, "KES", "pending"), CANCELLED, mpesa.Failed(FailureKind.CANCELLED, "1032")),
    (mpesa.Expected(100, "KES", "pending"), TIMEOUT, mpesa.StillPending("1037", mpesa.Outcome.NO_ANSWER)),
])  # fmt: skip
def test_what_a_callback_does_to_a_payment(expected, cb, decision):
    assert mpesa.decide(expected, cb) == decision


def test_a_success_without_a_receipt_is_incomplete():
    cb = mpesa.StkCallback("ws", None, 0, "ok", Decimal("1"), None)
    assert mpesa.decide(mpesa.Expected(100, "KES", "pending"), cb) == mpesa.Mismatch("incomplete", 100)


# -- M-Pesa: Daraja's answers -------------------------------------------------------------------------


def test_the_push_answers_are_read_in_both_shapes():
    ok = mpesa.PushAnswer.parse(200, fixture("mpesa/stk_push_sync_response_ok.json"))
    assert (ok.kind, ok.checkout_request_id, ok.merchant_request_id) == (
        "accepted", "ws_CO_14032026101502708374149", "29115-34620561-1")
    bad = mpesa.PushAnswer.parse(400, fixture("mpesa/stk_push_sync_response_error_invalid_phone.json"))
    assert (bad.kind, bad.code, bad.message) == ("rejected", "400.002.02", "Bad Request - Invalid PhoneNumber")
    assert mpesa.PushAnswer.parse(503, {}).kind == "retry"
    assert mpesa.PushAnswer.parse(404, {"errorCode": "404.001.03"}).kind == "retry"


@pytest.mark.parametrize("status, path, outcome, code", [
    (200, "mpesa/stk_query_response_success.json", mpesa.Outcome.PAID, "0"),
    (200, "mpesa/stk_query_response_cancelled.json", mpesa.Outcome.FAILED, "1032"),
    (200, "mpesa/stk_query_response_in_progress_4999.json", mpesa.Outcome.PENDING, "4999"),
    (500, "mpesa/stk_query_error_500_001_1001.json", mpesa.Outcome.PENDING, "500.001.1001"),
])  # fmt: skip
def test_the_query_answers_map_on_codes_and_errors_mean_ask_again(status, path, outcome, code):
    answer = mpesa.QueryAnswer.parse(status, fixture(path))
    assert (answer.outcome, answer.code) == (outcome, code)


# -- Kaspi QR --------------------------------------------------------------------------------------


def test_the_scheme_comes_from_the_api_base():
    assert kaspi.scheme_of("https://mtokentest.kaspi.kz:8545/r3/v01") == "r3"
    assert kaspi.scheme_of("http://127.0.0.1:5000/r1/v01") == "r1"
    assert kaspi.scheme_of("https://example.kz/api") == "r1"


def test_a_created_link_is_read_with_its_behaviour_options():
    env = kaspi.Envelope.parse(200, fixture("kaspi/qr_api/qr_create_link_response.json"))
    assert env.ok
    assert kaspi.LinkCreated.parse(env.data) == kaspi.LinkCreated(
        "15", "https://pay.kaspi.kz/pay/59217969256592032202439955771435979527677", 5, 180, 65)
    err = kaspi.Envelope.parse(200, fixture("kaspi/qr_api/error_response_device_not_found.json"))
    assert (err.ok, err.status_code, err.transient) == (False, -1501, False)
    assert kaspi.Envelope.parse(503, None).transient and kaspi.Envelope.parse(200, {"StatusCode": -999}).transient


T = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
EXPIRES, GIVE_UP = T + timedelta(minutes=3), T + timedelta(minutes=5)


@pytest.mark.parametrize("path, at, verdict", [
    ("payment_status_Processed.json", T, kaspi.Paid(None)),
    ("payment_status_Error.json", T, kaspi.Failed(FailureKind.DECLINED, "Error")),
    ("payment_status_QrTokenCreated.json", T, kaspi.StillPending("QrTokenCreated")),
    ("payment_status_QrTokenCreated.json", EXPIRES, kaspi.Failed(FailureKind.EXPIRED, "expired")),
    ("payment_status_Wait.json", EXPIRES, kaspi.StillPending("Wait")),  # confirming: wait for it
    ("payment_status_Wait.json", GIVE_UP, kaspi.Failed(FailureKind.EXPIRED, "Wait")),
    ("payment_status_v02_extended_mock.json", T, kaspi.StillPending("Wait")),
])  # fmt: skip
def test_what_a_status_poll_means(path, at, verdict):
    env = kaspi.Envelope.parse(200, fixture(f"kaspi/qr_api/{path}"))
    assert kaspi.judge_status(env, 20000, at, EXPIRES, GIVE_UP) == verdict


def test_a_processed_status_naming_another_amount_is_refused():
    data = fixture("kaspi/qr_api/payment_status_v02_extended_mock.json")
    data["Data"]["Status"] = "Processed"
    env = kaspi.Envelope.parse(200, data)
    assert kaspi.judge_status(env, 20000, T, EXPIRES, GIVE_UP) == kaspi.Paid("35134863")
    assert kaspi.judge_status(env, 15000, T, EXPIRES, GIVE_UP) == kaspi.Mismatch(20000)


def test_an_unanswered_poll_never_fails_a_payment_that_may_have_gone_through():
    env = kaspi.Envelope(503, None, "down", None)
    assert kaspi.judge_status(env, 1, T, EXPIRES, GIVE_UP) == kaspi.StillPending("StatusCode None")
    assert kaspi.judge_status(env, 1, GIVE_UP + timedelta(hours=1), EXPIRES, GIVE_UP) == \
        kaspi.StillPending("StatusCode None")  # fmt: skip


def test_a_set_up_error_on_a_poll_is_given_up_at_the_give_up_time():
    env = kaspi.Envelope.parse(200, {"StatusCode": -1501, "Message": "Device not found"})
    assert kaspi.judge_status(env, 1, T, EXPIRES, GIVE_UP) == kaspi.StillPending("StatusCode -1501")
    assert kaspi.judge_status(env, 1, GIVE_UP, EXPIRES, GIVE_UP) == kaspi.Failed(FailureKind.NO_ANSWER, "-1501")


# -- Kaspi classic ----------------------------------------------------------------------------------


def test_the_classic_requests_of_the_fixtures_are_read():
    check = kaspi.ClassicRequest.parse(request_line("kaspi/classic/check_request.txt"))
    assert check == kaspi.ClassicRequest("check", "1234567890", "BK20260314", 600000)
    pay = kaspi.ClassicRequest.parse(request_line("kaspi/classic/pay_request.txt"))
    assert pay == kaspi.ClassicRequest("pay", "12345", "X5ABCDEF0123456789AB", 100000, "20260813122345")


@pytest.mark.parametrize("params, result", [
    ({"command": "refund", "txn_id": "1", "account": "ZA-1"}, 300),
    ({"command": "check", "txn_id": "abc", "account": "ZA-1"}, 300),
    ({"command": "check", "txn_id": "1", "account": ""}, 4),
    ({"command": "check", "txn_id": "1", "account": "ZA-1", "sum": "1,5"}, 300),
    ({"command": "pay", "txn_id": "1", "account": "ZA-1", "sum": "0", "txn_date": "20260101000000"}, 241),
    ({"command": "pay", "txn_id": "1", "account": "ZA-1", "sum": "10"}, 300),
])  # fmt: skip
def test_a_classic_request_that_does_not_parse_gets_its_result_code(params, result):
    with pytest.raises(kaspi.ClassicError) as error:
        kaspi.ClassicRequest.parse(params)
    assert error.value.result == result


def test_a_check_may_leave_the_sum_out():
    assert kaspi.ClassicRequest.parse({"command": "check", "txn_id": "9", "account": "ZA-1", "sum": "0"}).sum_minor is None


@pytest.mark.parametrize("account, code", [
    ("ZA-1042", "ZA-1042"), ("za1042", "ZA-1042"), (" ZA 1042 ", "ZA-1042"), ("1042", None), ("ZA-", None),
])  # fmt: skip
def test_a_booking_code_is_read_as_payers_type_it(account, code):
    assert kaspi.booking_code(account) == code


@pytest.mark.parametrize("args, payable", [
    (("held", True, False, 500000, 1500000, 0), kaspi.Payable(kaspi.Result.OK, 500000, 1500000)),
    (("held", True, False, 1500000, 1500000, 0), kaspi.Payable(kaspi.Result.OK, 1500000, 1500000)),
    (("expired", False, True, 500000, 1500000, 0), kaspi.Payable(kaspi.Result.OK, 500000, 1500000)),
    (("expired", False, False, 500000, 1500000, 0), kaspi.Result.INACTIVE),
    (("cancelled", False, True, 500000, 1500000, 0), kaspi.Result.INACTIVE),
    (("confirmed", False, False, 500000, 1500000, 500000), kaspi.Payable(kaspi.Result.OK, 1000000, 1000000)),
    (("ready", False, False, 500000, 1500000, 1500000), kaspi.Result.FORBIDDEN),
])  # fmt: skip
def test_what_a_booking_can_take(args, payable):
    got = kaspi.payable(*args)
    assert (got.result if isinstance(payable, kaspi.Result) else got) == payable


def test_a_sum_outside_what_is_due_is_too_small_or_too_large():
    due = kaspi.Payable(kaspi.Result.OK, 500000, 1500000)
    assert kaspi.check_sum(due, 400000).result == kaspi.Result.TOO_SMALL
    assert kaspi.check_sum(due, 1600000).result == kaspi.Result.TOO_LARGE
    assert kaspi.check_sum(due, 1500000) == due and kaspi.check_sum(due, None) == due


def test_answers_are_rendered_like_the_fixtures_in_xml_and_in_json():
    answer = kaspi.ClassicAnswer("12345", kaspi.Result.OK, "OK", 100000, "880042")
    body, content_type = kaspi.render(answer, "xml")
    expected = ET.fromstring((FIXTURES / "kaspi/classic/pay_response_ok.xml").read_bytes())
    got = ET.fromstring(body.encode())
    assert (got.tag, {c.tag: c.text for c in got}) == (expected.tag, {c.tag: c.text.strip() for c in expected})
    assert content_type == "application/xml; charset=utf-8"
    body, content_type = kaspi.render(kaspi.ClassicAnswer("1", kaspi.Result.NOT_FOUND, "a <b> & c"), "json")
    assert (json.loads(body), content_type) == ({"txn_id": "1", "result": 5, "comment": "a <b> & c"}, "application/json")
    assert "&lt;b&gt; &amp;" in kaspi.render(kaspi.ClassicAnswer("1", kaspi.Result.OTHER, "a <b> & c"), "xml")[0]


def test_the_callers_address_is_checked_against_the_shops_list():
    allowed = ["194.187.247.152", "10.0.0.0/8"]
    assert kaspi.source_allowed("194.187.247.152", allowed) and kaspi.source_allowed("10.1.2.3", allowed)
    assert not kaspi.source_allowed("127.0.0.1", allowed) and not kaspi.source_allowed(None, allowed)
    assert kaspi.source_address("10.0.0.5", "6.6.6.6, 194.187.247.152", trust_forwarded=True) == "194.187.247.152"
    assert kaspi.source_address("10.0.0.5", "194.187.247.152", trust_forwarded=False) == "10.0.0.5"


def test_an_ipv4_caller_seen_through_an_ipv6_socket_is_its_ipv4_address():
    """A server listening on [::] sees Kaspi's 194.187.247.152 as ::ffff:194.187.247.152."""
    allowed = ["194.187.247.152", "10.0.0.0/8"]
    assert kaspi.source_allowed("::ffff:194.187.247.152", allowed) and kaspi.source_allowed("::ffff:10.9.9.9", allowed)
    assert not kaspi.source_allowed("::ffff:127.0.0.1", allowed) and not kaspi.source_allowed("::1", allowed)
