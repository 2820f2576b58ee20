"""M-Pesa Daraja STK push ("Lipa Na M-Pesa Online"): ask a phone for money, apply the
answer exactly once. Protocol facts: PROTOCOLS.md section 1.

Functional core first — pure functions over plain values:

    timestamp, password, msisdn, whole_shillings, account_reference, push_body, query_body
    StkCallback.parse(body)      the callback, CallbackMetadata items read by Name
    classify(code)               a ResultCode → paid | failed (and why) | no answer | unknown
    decide(expected, callback)   what a callback does to a payment in a known state
    PushAnswer.parse, QueryAnswer.parse   Daraja's answers, both of their shapes

then the imperative shell: the Daraja client (OAuth token cached until shortly before
it expires), the `push` job, the `check` job (STK query) and the callback services
`record` and `apply_callback` that webhooks/mpesa.py calls.

Map on ResultCode, never on ResultDesc. 1037 ("no answer from the user") and codes we
do not know are not failures — the money may have been taken — so the payment stays
pending and the STK query decides; the query's 4999 and 500.001.1001 mean "ask again".
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import requests
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from urllib3.exceptions import NewConnectionError

from core import availability as av
from core import inbox
from core import payments as pay
from core.customers import mask_phone
from core.db import Database, session_of
from core.messages import Msg
from core.models import Booking, InboxUpdate, Payment
from core.payments import FailureKind as Why
from core.settings import MissingSetting, Settings
from core.shopfile import ShopSpec

log = logging.getLogger(__name__)

SOURCE = "mpesa"
NAIROBI = ZoneInfo("Africa/Nairobi")
ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}  # fixtures/mpesa/callback_ack_response.json
REJECTED = {"ResultCode": 1, "ResultDesc": "Rejected"}

QUERY_AFTER = timedelta(minutes=3)  # no callback by then: the STK query decides
RECHECK_EVERY = timedelta(minutes=1)
NO_ANSWER_FINAL_AFTER = timedelta(minutes=3)  # the query still says "no answer": it is over
GIVE_UP_AFTER = timedelta(minutes=30)  # still undecided: fail it
RETRY_AFTER = (timedelta(seconds=10), timedelta(seconds=30))  # the push did not get through
MAX_PUSH_ATTEMPTS = len(RETRY_AFTER) + 1
TOKEN_MARGIN_S = 120  # renew the OAuth token this long before it expires
TIMEOUT = (5, 30)  # connect, read (seconds)


# -- pure: the request ----------------------------------------------------------------------


def timestamp(now: datetime) -> str:
    """YYYYMMDDHHmmss in Nairobi time, as Daraja wants it."""
    return now.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, ts: str) -> str:
    """base64(BusinessShortCode + Passkey + Timestamp)."""
    return base64.b64encode(f"{shortcode}{passkey}{ts}".encode()).decode()


def msisdn(phone: str | None) -> str | None:
    """A Kenyan mobile number as Daraja takes it, 2547XXXXXXXX or 2541XXXXXXXX; else None."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone.replace("whatsapp:", "").strip(), "KE")
    except phonenumbers.NumberParseException:
        return None
    national = str(number.national_number)
    if number.country_code != 254 or not phonenumbers.is_valid_number(number):
        return None
    if len(national) != 9 or national[0] not in "17":
        return None
    return f"254{national}"


def whole_shillings(amount_minor: int) -> int:
    """M-Pesa takes whole shillings only; a part shilling is rounded up."""
    return -(-amount_minor // 100)


def account_reference(code: str) -> str:
    """The booking code as AccountReference: letters and digits, at most 12 (it is shown
    to the payer in the prompt and in their SMS, so nothing private goes in it)."""
    return re.sub(r"[^A-Za-z0-9]", "", code)[:12] or "PITSTOP"


@dataclass(frozen=True)
class MpesaConfig:
    """A shop's Daraja credentials, read from the variables its shop file names."""

    shortcode: str
    passkey: str = field(repr=False)
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    transaction_type: str = "CustomerPayBillOnline"
    party_b: str | None = None  # the till number for CustomerBuyGoodsOnline


def push_body(cfg: MpesaConfig, ts: str, amount_minor: int, phone: str, callback_url: str, code: str) -> dict:
    reference = account_reference(code)
    return {
        "BusinessShortCode": cfg.shortcode,
        "Password": password(cfg.shortcode, cfg.passkey, ts),
        "Timestamp": ts,
        "TransactionType": cfg.transaction_type,
        "Amount": whole_shillings(amount_minor),
        "PartyA": phone,
        "PartyB": cfg.party_b or cfg.shortcode,
        "PhoneNumber": phone,
        "CallBackURL": callback_url,
        "AccountReference": reference,
        "TransactionDesc": reference[:13],
    }


def query_body(cfg: MpesaConfig, ts: str, checkout_request_id: str) -> dict:
    return {"BusinessShortCode": cfg.shortcode, "Password": password(cfg.shortcode, cfg.passkey, ts),
            "Timestamp": ts, "CheckoutRequestID": checkout_request_id}  # fmt: skip


# -- pure: result codes ---------------------------------------------------------------------


class Outcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    NO_ANSWER = "no_answer"  # 1037: the phone did not answer in time; the query decides
    PENDING = "pending"  # query only: 4999, 500.001.1001 — ask again later
    UNKNOWN = "unknown"  # a code we do not know: not a failure, the query decides


FAILURES: dict[int, Why] = {
    1: Why.INSUFFICIENT, 17: Why.DECLINED, 26: Why.DECLINED, 1001: Why.DECLINED, 1019: Why.DECLINED,
    1025: Why.DECLINED, 1031: Why.CANCELLED, 1032: Why.CANCELLED, 1036: Why.DECLINED,
    2001: Why.WRONG_PIN, 9999: Why.DECLINED,
}  # fmt: skip
NO_ANSWER_CODES = frozenset({1037})
QUERY_PENDING_CODES = frozenset({4999})
ASK_AGAIN_ERRORS = frozenset({"500.001.1001"})
INVALID_TOKEN = "404.001.03"


def classify(code: int) -> tuple[Outcome, Why | None]:
    """What a ResultCode means for the payment (result_codes.json)."""
    if code == 0:
        return Outcome.PAID, None
    if code in FAILURES:
        return Outcome.FAILED, FAILURES[code]
    if code in NO_ANSWER_CODES:
        return Outcome.NO_ANSWER, None
    if code in QUERY_PENDING_CODES:
        return Outcome.PENDING, None
    return Outcome.UNKNOWN, None


# -- pure: the callback ---------------------------------------------------------------------


class BadCallback(ValueError):
    """A body that is not an STK callback."""


@dataclass(frozen=True)
class StkCallback:
    checkout_request_id: str
    merchant_request_id: str | None
    result_code: int
    result_desc: str
    amount: Decimal | None = None
    receipt: str | None = None
    phone: str | None = None
    transaction_date: str | None = None

    @staticmethod
    def parse(body: Any) -> StkCallback:
        """Body.stkCallback, with CallbackMetadata items read by Name (never by position;
        Balance may come with no Value, or not at all)."""
        try:
            cb = body["Body"]["stkCallback"]
        except (KeyError, TypeError) as exc:
            raise BadCallback("no Body.stkCallback") from exc
        if not isinstance(cb, dict):
            raise BadCallback("Body.stkCallback is not an object")
        checkout = cb.get("CheckoutRequestID")
        if not isinstance(checkout, str) or not 0 < len(checkout) <= 100:
            raise BadCallback("no CheckoutRequestID")
        code = cb.get("ResultCode")
        if isinstance(code, bool) or not (isinstance(code, int) or (isinstance(code, str) and code.isdigit())):
            raise BadCallback("no numeric ResultCode")
        items: dict[str, Any] = {}
        meta = cb.get("CallbackMetadata")
        for item in (meta.get("Item") if isinstance(meta, dict) else None) or []:
            if isinstance(item, dict) and isinstance(item.get("Name"), str):
                items[item["Name"]] = item.get("Value")
        amount = items.get("Amount")
        if amount is not None:
            try:
                amount = None if isinstance(amount, bool) else Decimal(str(amount))
            except InvalidOperation:
                amount = None
            if amount is None or not amount.is_finite():
                raise BadCallback("Amount is not a number")
        receipt = items.get("MpesaReceiptNumber")
        merchant = cb.get("MerchantRequestID")
        return StkCallback(
            checkout_request_id=checkout, merchant_request_id=str(merchant) if merchant is not None else None,
            result_code=int(code), result_desc=str(cb.get("ResultDesc") or ""), amount=amount,
            receipt=str(receipt)[:100] if receipt not in (None, "") else None,
            phone=str(items["PhoneNumber"]) if items.get("PhoneNumber") is not None else None,
            transaction_date=str(items["TransactionDate"]) if items.get("TransactionDate") is not None else None,
        )  # fmt: skip

    @property
    def amount_minor(self) -> int | None:
        if self.amount is None:
            return None
        minor = self.amount * 100
        return int(minor) if minor == minor.to_integral_value() else None


def digest(body: Any) -> str:
    """A short fingerprint of a body's content (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def inbox_key(cb: StkCallback, fingerprint: str, payment_hint: int | None = None) -> str:
    """The inbox id of a delivery: the CheckoutRequestID, the result and the content.
    The same callback again is a duplicate; a different result for the same request (or
    a forged body) is recorded on its own and judged under the payment's lock."""
    hint = f"p{payment_hint}/" if payment_hint is not None else ""
    return f"{hint}{cb.checkout_request_id}:{cb.result_code}:{fingerprint}"


def hint_of(external_id: str) -> int | None:
    match = re.match(r"^p(\d+)/", external_id)
    return int(match.group(1)) if match else None


# -- pure: deciding --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What we asked for, and where the payment stands."""

    amount_minor: int
    currency: str
    status: str


@dataclass(frozen=True)
class Paid:
    receipt: str | None
    amount_minor: int


@dataclass(frozen=True)
class Failed:
    why: Why
    code: str


@dataclass(frozen=True)
class StillPending:
    code: str
    outcome: Outcome


@dataclass(frozen=True)
class Mismatch:
    """The callback does not match what we asked for: refused, never applied."""

    what: str  # amount | currency | incomplete
    got_minor: int | None = None


@dataclass(frozen=True)
class AlreadyFinal:
    status: str
    contradiction: bool  # money reported for a payment already failed: a person must look
    receipt: str | None = None  # a success's receipt (the query may have settled it without one)


Decision = Paid | Failed | StillPending | Mismatch | AlreadyFinal


def decide(expected: Expected, cb: StkCallback) -> Decision:
    """What this callback does to a payment in this state. A success must carry the
    amount asked, in shillings, with a receipt; a decided payment is never changed."""
    outcome, why = classify(cb.result_code)
    if outcome == Outcome.PAID:
        if cb.amount is None or cb.receipt is None:
            return Mismatch("incomplete", cb.amount_minor)
        if expected.currency != "KES":
            return Mismatch("currency", cb.amount_minor)
        if cb.amount_minor != expected.amount_minor:
            return Mismatch("amount", cb.amount_minor)
    if expected.status != pay.PENDING:
        paid = outcome == Outcome.PAID
        return AlreadyFinal(expected.status, paid and expected.status == pay.FAILED, cb.receipt if paid else None)
    if outcome == Outcome.PAID:
        return Paid(cb.receipt, expected.amount_minor)
    if outcome == Outcome.FAILED:
        return Failed(why, str(cb.result_code))
    return StillPending(str(cb.result_code), outcome)


# -- pure: Daraja's answers ------------------------------------------------------------------


@dataclass(frozen=True)
class PushAnswer:
    kind: str  # accepted | rejected | retry | unknown
    checkout_request_id: str | None = None
    merchant_request_id: str | None = None
    code: str | None = None
    message: str | None = None

    @staticmethod
    def parse(status: int, body: Any) -> PushAnswer:
        """The synchronous answer to a push: an acknowledgement, not a payment."""
        body = body if isinstance(body, dict) else {}
        if status == 200 and str(body.get("ResponseCode")) == "0" and body.get("CheckoutRequestID"):
            return PushAnswer("accepted", str(body["CheckoutRequestID"]),
                              str(body.get("MerchantRequestID") or "") or None)  # fmt: skip
        code = str(body.get("errorCode") or body.get("ResponseCode") or status)
        message = str(body.get("errorMessage") or body.get("ResponseDescription") or "")[:200]
        if status >= 500 or status == 429 or code == INVALID_TOKEN:
            return PushAnswer("retry", code=code, message=message)
        return PushAnswer("rejected", code=code, message=message)


@dataclass(frozen=True)
class QueryAnswer:
    outcome: Outcome
    code: str
    why: Why | None = None

    @staticmethod
    def parse(status: int, body: Any) -> QueryAnswer:
        """The STK query's answer. Its strings are codes; its errors (500.001.1001 above
        all, even for finished payments) mean "ask again later", never a result."""
        body = body if isinstance(body, dict) else {}
        if "errorCode" in body or "ResultCode" not in body:
            return QueryAnswer(Outcome.PENDING, str(body.get("errorCode") or f"http {status}"))
        raw = str(body.get("ResultCode")).strip()
        if not raw.lstrip("-").isdigit():
            return QueryAnswer(Outcome.PENDING, raw[:32])
        outcome, why = classify(int(raw))
        return QueryAnswer(outcome, raw, why)


# -- the Daraja client -------------------------------------------------------------------------


class DarajaUnavailable(RuntimeError):
    """No token, or no connection: nothing reached Safaricom; safe to try again. When the
    OAuth call itself was refused, `code` and `said` keep Daraja's errorCode and
    errorMessage (400.008.01 "Invalid Authentication passed": a wrong consumer key or
    secret), so a push that keeps failing so is failed with the shop's real fault."""

    def __init__(self, message: str, code: str | None = None, said: str | None = None):
        super().__init__(message)
        self.code, self.said = code, said


_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()


class Daraja:
    """Daraja over HTTP: the OAuth token is cached per (host, app) until shortly before it
    expires; a call answered "Invalid Access Token" is repeated once with a new one."""

    def __init__(self, base_url: str, cfg: MpesaConfig, timeout=TIMEOUT):
        self.base = base_url.rstrip("/")
        self.cfg = cfg
        self.timeout = timeout

    def token(self, fresh: bool = False) -> str:
        key = (self.base, self.cfg.consumer_key)
        with _TOKENS_LOCK:
            cached = _TOKENS.get(key)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
        data = None
        try:
            resp = requests.get(f"{self.base}/oauth/v1/generate", params={"grant_type": "client_credentials"},
                                auth=(self.cfg.consumer_key, self.cfg.consumer_secret), timeout=self.timeout)  # fmt: skip
            data = resp.json()
            token, expires_in = data["access_token"], int(str(data.get("expires_in", "3599")))
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            why = f"no Daraja token ({type(exc).__name__})"
            if isinstance(data, dict) and data.get("errorCode"):  # refused: Daraja says why
                raise DarajaUnavailable(why, str(data["errorCode"]), str(data.get("errorMessage") or "")[:200]) from exc
            raise DarajaUnavailable(why) from exc
        with _TOKENS_LOCK:
            _TOKENS[key] = (token, time.monotonic() + max(expires_in - TOKEN_MARGIN_S, 30))
        return token

    def call(self, path: str, body: dict) -> tuple[int, dict]:
        for attempt in range(2):
            token = self.token(fresh=attempt > 0)
            resp = requests.post(f"{self.base}{path}", json=body, timeout=self.timeout,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            try:
                data = resp.json()
            except ValueError:
                data = {}
            if not (isinstance(data, dict) and data.get("errorCode") == INVALID_TOKEN and attempt == 0):
                return resp.status_code, data if isinstance(data, dict) else {}
        return resp.status_code, data

    def push(self, body: dict) -> tuple[int, dict]:
        return self.call("/mpesa/stkpush/v1/processrequest", body)

    def query(self, body: dict) -> tuple[int, dict]:
        return self.call("/mpesa/stkpushquery/v1/query", body)


def config_for(settings: Settings, spec: ShopSpec) -> MpesaConfig:
    """The shop's Daraja credentials; MissingSetting names the variable that is not set."""
    table = spec.providers.get("mpesa")
    if not table:
        raise MissingSetting("payments.mpesa", f"M-Pesa payments of {spec.slug}")
    why = f"M-Pesa payments of {spec.slug}"
    till = table.get("till_number_env")
    return MpesaConfig(
        shortcode=settings.secret(table["shortcode_env"], why),
        passkey=settings.secret(table["passkey_env"], why),
        consumer_key=settings.secret(table["consumer_key_env"], why),
        consumer_secret=settings.secret(table["consumer_secret_env"], why),
        transaction_type=table.get("transaction_type", "CustomerPayBillOnline"),
        party_b=settings.secret(till, why) if till else None,
    )


def callback_url(settings: Settings, payment_id: int) -> str:
    """Where Safaricom posts the result: the secret token, then the payment's id (the
    body holds nothing we chose, so the path carries our reference)."""
    base = settings.require("public_base_url", "M-Pesa callbacks")
    token = settings.require("mpesa_callback_token", "M-Pesa callbacks")
    return f"{base}/webhooks/mpesa/{token}/{payment_id}"


def token_ok(settings: Settings, given: str) -> bool:
    import hmac

    expected = settings.mpesa_callback_token
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _runtime():
    from core.runtime import current_runtime

    return current_runtime()


# -- the push job ----------------------------------------------------------------------------


def push(payment_id: int, now: datetime | None = None) -> None:
    """Send the STK push for a pending payment (the job behind `payments.request`).

    The payment is claimed first (only one push per attempt, whoever runs the job);
    Safaricom is called outside any transaction; its answer is written afterwards. A
    push that certainly did not get through is retried; one whose fate is unknown
    (timed out while waiting for the answer) is not — a second prompt could take the
    money twice — and its callback, which names the payment in its path, still applies.
    """
    rt = _runtime()
    now = now or rt.now()
    problem = None
    with rt.db.uow() as uow:
        s = uow.session
        p = s.get(Payment, payment_id)
        if p is None or p.provider != "mpesa" or p.status != pay.PENDING or p.provider_ref is not None \
                or p.provider_status not in (None, "retry"):  # fmt: skip
            return
        booking = s.get(Booking, p.booking_id)
        spec = av.shop_view(s, booking.shop_id).spec
        phone = msisdn(p.phone)
        try:
            cfg = config_for(rt.settings, spec)
            url = callback_url(rt.settings, p.id)
        except MissingSetting as exc:
            problem = ("not_configured", str(exc))
        if problem is None and phone is None:
            problem = ("invalid_phone", f"{mask_phone(p.phone)} is not a Kenyan mobile number")
        attempts = p.checks + 1
        if problem is None:
            claimed = s.execute(
                update(Payment).where(Payment.id == payment_id, Payment.status == pay.PENDING,
                                      Payment.provider_ref.is_(None),
                                      or_(Payment.provider_status.is_(None), Payment.provider_status == "retry"))
                .values(provider_status="requesting", checks=Payment.checks + 1, requested_at=now,
                        next_check_at=now + GIVE_UP_AFTER, give_up_at=now + GIVE_UP_AFTER, updated_at=now)
            ).rowcount  # fmt: skip
            if not claimed:
                return
            body = push_body(cfg, timestamp(now), p.amount_minor, phone, url, booking.code)
    if problem is not None:
        log.warning("payment %s: M-Pesa push not sent: %s", payment_id, problem[1])
        pay.fail(rt.db, payment_id, Why.NOT_STARTED, problem[0], now, problem[1])
        return
    try:
        answer = PushAnswer.parse(*Daraja(rt.settings.mpesa_api_base, cfg).push(body))
    except DarajaUnavailable as exc:  # nothing reached Safaricom; a refused OAuth call says why
        answer = PushAnswer("retry", code=exc.code, message=exc.said) if exc.code else \
            PushAnswer("retry", code="network", message=type(exc).__name__)  # fmt: skip
    except requests.RequestException as exc:
        answer = PushAnswer("retry", code="network", message=type(exc).__name__) if never_sent(exc) else \
            PushAnswer("unknown", message=f"no answer to the push ({type(exc).__name__})")  # fmt: skip
    log.info("payment %s: STK push to %s: %s %s", payment_id, mask_phone(phone), answer.kind, answer.code or "")
    if answer.kind == "accepted":
        _sent(rt.db, payment_id, answer, now)
    elif answer.kind == "rejected" or (answer.kind == "retry" and attempts >= MAX_PUSH_ATTEMPTS):
        pay.fail(rt.db, payment_id, Why.NOT_STARTED, answer.code, now, answer.message)
    elif answer.kind == "retry":
        _retry_later(rt.db, payment_id, now + RETRY_AFTER[attempts - 1], now)
    else:
        _unknown(rt.db, payment_id, now)


def never_sent(exc: Exception) -> bool:
    """Whether a failed call certainly never reached Safaricom: no token, or no
    connection made. Anything later (the connection reset or closed after the request
    went out, no answer in time) may have come after Safaricom took the push, and a
    second push could take the money twice."""
    if isinstance(exc, (DarajaUnavailable, requests.ConnectTimeout)):
        return True
    reason = getattr(exc.args[0], "reason", None) if isinstance(exc, requests.ConnectionError) and exc.args else None
    return isinstance(reason, NewConnectionError)


def _sent(db: Database, payment_id: int, answer: PushAnswer, now: datetime) -> None:
    """Daraja accepted the push: remember its CheckoutRequestID (a callback may have
    come first and adopted it already) and when to ask the query if no callback comes."""
    with db.uow() as uow:
        p = uow.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
        if p.provider_ref is None:
            p.provider_ref = answer.checkout_request_id
        elif p.provider_ref != answer.checkout_request_id:
            log.error("payment %s: Daraja answered %s but a callback named %s", payment_id,
                      answer.checkout_request_id, p.provider_ref)  # fmt: skip
        p.merchant_ref = answer.merchant_request_id
        if p.status == pay.PENDING and p.provider_status == "requesting":
            p.provider_status = "sent"
            p.next_check_at = now + QUERY_AFTER
        p.updated_at = now


def _retry_later(db: Database, payment_id: int, at: datetime, now: datetime) -> None:
    with db.uow() as uow:
        p = uow.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
        if p.status == pay.PENDING and p.provider_ref is None:
            p.provider_status, p.next_check_at, p.updated_at = "retry", at, now


def _unknown(db: Database, payment_id: int, now: datetime) -> None:
    with db.uow() as uow:
        p = uow.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
        if p.status == pay.PENDING and p.provider_ref is None:
            p.provider_status, p.updated_at = "unknown", now  # next_check_at: give_up_at


# -- the query job ---------------------------------------------------------------------------


def check(payment_id: int, now: datetime | None = None) -> None:
    """Ask the STK query about a payment with no (final) callback, and apply the answer.
    Called by `payments.reconcile_payments` when the payment's `next_check_at` comes."""
    rt = _runtime()
    now = now or rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        p = s.get(Payment, payment_id)
        if p is None or p.status != pay.PENDING:
            return
        ref, state, give_up, requested = p.provider_ref, p.provider_status, p.give_up_at, p.requested_at
        spec = av.shop_view(s, p.shop_id).spec
    if ref is None:
        if state == "retry":
            push(payment_id, now)
        elif give_up is not None and now >= give_up:  # the push may have reached the phone: its answer was
            why = Why.UNCONFIRMED if state in ("unknown", "requesting") else Why.NO_ANSWER  # lost, or the sender died
            pay.fail(rt.db, payment_id, why, "no_result", now, "no answer to the push")
        return
    try:
        cfg = config_for(rt.settings, spec)
        answer = QueryAnswer.parse(*Daraja(rt.settings.mpesa_api_base, cfg).query(
            query_body(cfg, timestamp(now), ref)))  # fmt: skip
    except (requests.RequestException, DarajaUnavailable, MissingSetting) as exc:
        answer = QueryAnswer(Outcome.PENDING, type(exc).__name__[:32])
    log.info("payment %s: STK query: %s %s", payment_id, answer.outcome, answer.code)
    if answer.outcome == Outcome.PAID:
        apply_result(rt.db, payment_id, Paid(None, 0), now, source="query", raw={"ResultCode": answer.code})
    elif answer.outcome == Outcome.FAILED:
        apply_result(rt.db, payment_id, Failed(answer.why, answer.code), now, source="query",
                     raw={"ResultCode": answer.code})  # fmt: skip
    elif give_up is not None and now >= give_up:
        pay.fail(rt.db, payment_id, Why.NO_ANSWER, answer.code, now, "still undecided when we gave up")
    elif answer.outcome in (Outcome.NO_ANSWER, Outcome.UNKNOWN) and requested is not None \
            and now - requested >= NO_ANSWER_FINAL_AFTER:  # fmt: skip
        pay.fail(rt.db, payment_id, Why.NO_ANSWER, answer.code, now, "the phone did not answer")
    else:
        pay.reschedule(rt.db, payment_id, now + RECHECK_EVERY, now, provider_status=answer.code)


def apply_result(db: Database | Session, payment_id: int, decision: Paid | Failed, now: datetime, *,
                 source: str, raw: Any = None) -> str:  # fmt: skip
    """Apply a query's verdict under the payment's locks, if it is still pending."""
    with session_of(db) as s:
        booking, p = pay.lock(s, payment_id)
        if p.status != pay.PENDING:
            return f"ignored: payment already {p.status}"
        pay.note_raw(p, source, raw, now)
        if isinstance(decision, Paid):
            pay.settle_paid(s, booking, p, now, receipt=decision.receipt, actor="system:mpesa")
            return "applied: paid"
        pay.settle_failed(s, booking, p, now, kind=decision.why, code=decision.code)
        return f"applied: failed {decision.code}"


# -- callbacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    inbox_id: int
    duplicate: bool


def record(db: Database | Session, cb: StkCallback, body: Any, raw: bytes, now: datetime,
           payment_hint: int | None = None) -> Recorded:  # fmt: skip
    """Store the raw callback in the inbox, in its own transaction, before anything acts
    on it (the same delivery again is a duplicate)."""
    with session_of(db) as s:
        rec = inbox.record(s, source=SOURCE, external_id=inbox_key(cb, digest(body), payment_hint),
                           payload=raw.decode("utf-8", "replace"), now=now)  # fmt: skip
        return Recorded(rec.inbox_id, rec.duplicate)


def record_malformed(db: Database | Session, raw: bytes, reason: str, now: datetime) -> None:
    with session_of(db) as s:
        rec = inbox.record(s, source=SOURCE, external_id=f"malformed:{hashlib.sha256(raw).hexdigest()[:32]}",
                           payload=raw.decode("utf-8", "replace")[:100_000], now=now)  # fmt: skip
        if not rec.duplicate:
            inbox.mark(s, rec.inbox_id, f"refused: {reason}", now)


def apply_callback(db: Database | Session, inbox_id: int, cb: StkCallback, now: datetime,
                   payment_hint: int | None = None) -> str:  # fmt: skip
    """Apply a recorded callback in one transaction: find its payment by
    CheckoutRequestID, take the locks (day, booking, payment), judge it against the
    payment as it stands now, write the result and the customer's message, and note
    the outcome on the inbox row. Returns that outcome."""
    with session_of(db) as s:
        row = s.get(InboxUpdate, inbox_id)
        outcome = _apply(s, row, cb, now, payment_hint)
        inbox.mark(s, row.id, outcome, now)
        if outcome.startswith("refused"):
            log.warning("M-Pesa callback %s %s", cb.checkout_request_id, outcome)
        return outcome


def _receipt_used(s: Session, receipt: str, payment_id: int) -> int | None:
    """Another payment that already carries this receipt (one payment per receipt)."""
    return s.scalar(select(Payment.id).where(Payment.provider == "mpesa", Payment.receipt == receipt,
                                             Payment.id != payment_id))  # fmt: skip


def _apply(s: Session, row: InboxUpdate, cb: StkCallback, now: datetime, hint: int | None) -> str:
    found = s.scalar(select(Payment.id).where(Payment.provider == "mpesa",
                                              Payment.provider_ref == cb.checkout_request_id))  # fmt: skip
    if hint is not None and found is None:
        named = s.get(Payment, hint)
        if named is None or named.provider != "mpesa":
            return "refused: unknown CheckoutRequestID and payment"
        if named.provider_ref is not None:
            booking = s.get(Booking, named.booking_id)
            row.shop_id = named.shop_id
            pay.report_refused(s, booking, "mpesa", Msg(pay.REASON_OTHER_PAYMENT),
                               key=f"mpesa-refused:{row.id}", now=now)  # fmt: skip
            return f"refused: payment {hint} has another CheckoutRequestID"
        found = hint  # the push's answer was lost (or is not written yet): adopt its id
    if found is None:
        return "refused: unknown CheckoutRequestID"
    if hint is not None and found != hint:
        return f"refused: CheckoutRequestID belongs to payment {found}, not {hint}"
    booking, p = pay.lock(s, found)
    row.shop_id = p.shop_id
    if p.provider_ref is None:
        p.provider_ref = cb.checkout_request_id
    elif p.provider_ref != cb.checkout_request_id:
        return f"refused: payment {found} has another CheckoutRequestID"
    decision = decide(Expected(p.amount_minor, p.currency, p.status), cb)
    key = f"mpesa:{row.id}"
    if isinstance(decision, Mismatch):
        got = f"{cb.amount} KES" if cb.amount is not None else "none"
        reason = pay.mismatch_reason(decision.what, decision.got_minor, p.amount_minor, p.currency, "KES")
        pay.report_refused(s, booking, "mpesa", reason, key=f"{key}:refused", now=now)
        return f"refused: {decision.what} {got}, expected {p.amount_minor / 100:.2f} {p.currency}"
    if isinstance(decision, AlreadyFinal):
        if decision.contradiction:
            pay.report_contradiction(s, booking, p, p.amount_minor, cb.receipt, key=f"{key}:contradiction", now=now)
        elif decision.receipt and p.receipt is None and p.status in (pay.COMPLETED, pay.REFUND_DUE) \
                and _receipt_used(s, decision.receipt, p.id) is None:  # fmt: skip
            p.receipt, p.updated_at = decision.receipt, now  # the query settled it first, without one
            return f"applied: receipt {decision.receipt} recorded"
        return f"ignored: payment already {decision.status}"
    if isinstance(decision, Paid):  # (the raw body is in the inbox, row `row.id`)
        used = _receipt_used(s, decision.receipt, p.id)
        if used is not None:
            pay.report_refused(s, booking, "mpesa", Msg(pay.REASON_RECEIPT_USED, {"receipt": decision.receipt}),
                               key=f"{key}:refused", now=now)  # fmt: skip
            return f"refused: receipt {decision.receipt} already used by payment {used}"
        verdict = pay.settle_paid(s, booking, p, now, receipt=decision.receipt, actor="system:mpesa")
        return f"applied: paid {decision.receipt} ({verdict})"
    if isinstance(decision, Failed):
        pay.settle_failed(s, booking, p, now, kind=decision.why, code=decision.code, reason=cb.result_desc)
        return f"applied: failed {decision.code}"
    # 1037 or a code we do not know: not a failure; the STK query decides soon
    p.provider_status = decision.code[:32]
    p.next_check_at = now + RECHECK_EVERY
    p.updated_at = now
    return f"pending: {decision.outcome} {decision.code}, the STK query decides"


def redrive(db: Database, inbox_id: int, now: datetime) -> str | None:
    """Apply a callback that was recorded but whose apply never finished."""
    with db.uow() as uow:
        row = uow.session.get(InboxUpdate, inbox_id)
        if row is None or row.processed_at is not None:
            return None
        payload, external_id = row.payload, row.external_id
    try:
        cb = StkCallback.parse(json.loads(payload))
    except (ValueError, BadCallback) as exc:
        with db.uow() as uow:
            inbox.mark(uow.session, inbox_id, f"refused: {exc}", now)
        return None
    return apply_callback(db, inbox_id, cb, now, hint_of(external_id))
