"""Local fake of Safaricom Daraja M-Pesa Express (STK push) — ``https://sandbox.safaricom.co.ke``.

Follows PROTOCOLS.md section 1 ("Safaricom M-Pesa Daraja: STK Push"): 1.1 (OAuth: Basic
``ConsumerKey:ConsumerSecret`` → ``{"access_token", "expires_in": "3599"}`` with ``expires_in`` a
*string*; Bearer token on every call), 1.2 (request fields: Password = base64(BusinessShortCode +
Passkey + Timestamp), whole-number Amount, ``2547XXXXXXXX``/``2541XXXXXXXX`` phones,
AccountReference ≤ 12, TransactionDesc ≤ 13), 1.3 (sync acknowledgement vs the
``{requestId, errorCode, errorMessage}`` error shape), 1.4 (callback body; CallbackMetadata only on
success, items read by Name; ``Content-Type: application/json;charset=UTF-8`` and a
``Businessshortcode`` header; no signature), 1.5 (STK query answers: strings, 4999 /
``500.001.1001`` while pending, no receipt in the query) and 1.7 (callbacks may never come or
come twice).

Endpoints::

    GET  /oauth/v1/generate?grant_type=client_credentials      (Basic auth)
    POST /mpesa/stkpush/v1/processrequest                      (Bearer)
    POST /mpesa/stkpushquery/v1/query                          (Bearer)

Point your client at ``fake.url`` instead of ``https://sandbox.safaricom.co.ke`` (MPESA_API_BASE).

The outcome of a push is decided by the payer's phone number (``PhoneNumber``). Defaults, by the
number's last four digits (override per number with ``outcomes={...}`` / ``set_outcome``, or
change ``default_outcome``):

    ====== ====================== =============================================================
    ends   outcome                what happens
    ====== ====================== =============================================================
    (any)  ``paid``               ResultCode 0 callback with Amount, MpesaReceiptNumber,
                                  Balance (no Value), TransactionDate, PhoneNumber
    1032   ``cancelled``          ResultCode 1032 "Request cancelled by user"
    2001   ``wrong_pin``          ResultCode 2001 "The initiator information is invalid."
    1111   ``insufficient_funds`` ResultCode 1 "The balance is insufficient for the transaction"
    1037   ``timeout``            ResultCode 1037 (callback "No response from user.", query
                                  "DS timeout user cannot be reached.": map on codes!)
    0000   ``no_callback``        the payment succeeds but the callback never arrives; only the
                                  STK query tells you (ResultCode "0")
    2222   ``paid_twice``         success callback delivered twice (duplicate delivery)
    9999   ``pending_forever``    never resolves: no callback, query keeps saying pending
    ====== ====================== =============================================================

Any integer ResultCode (e.g. 1001, 1019, 17) is also accepted as an outcome; it produces a failure
callback with the description from ``RESULT_DESCRIPTIONS``.

The callback is POSTed from a background thread ``callback_delay`` seconds after the push (0.2 s by
default). Until then the STK query answers "pending" — HTTP 200 ResultCode "4999" (default) or
HTTP 500 ``500.001.1001`` "The transaction is being processed" (``query_pending="500.001.1001"``).
An unknown CheckoutRequestID gets HTTP 500 ``500.001.1001`` "The transaction does not Exist".

Misbehaviour: ``fail_next(n, status=500, error_code="500.001.1001", message="...")`` answers any
API call in the Daraja error shape; ``expire_tokens()`` invalidates issued tokens (next call gets
``404.001.03`` "Invalid Access Token"). Error codes not in PROTOCOLS.md (wrong consumer
credentials ``400.008.01``, wrong grant type ``400.008.02``, wrong password ``500.001.1001``
"Wrong credentials") are commonly reported by integrators; treat them as illustrative.

Helpers: ``stk_password(shortcode, passkey, timestamp)``, ``timestamp_now()`` (EAT),
``callback_body(...)`` (exact shape of fixtures/mpesa/callback_*.json), ``query_body(...)``.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import secrets
import string
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import requests as _requests
from werkzeug.wrappers import Request, Response

from .server import Failure, FakeServer, RecordedRequest, json_response

__all__ = [
    "DEFAULT_SUFFIX_OUTCOMES",
    "EAT",
    "FakeDaraja",
    "RESULT_DESCRIPTIONS",
    "SANDBOX_PASSKEY",
    "SANDBOX_SHORTCODE",
    "callback_body",
    "stk_password",
    "timestamp_now",
]

EAT = timezone(timedelta(hours=3), "EAT")
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
SANDBOX_TEST_MSISDN = "254708374149"

#: Callback ResultDesc per ResultCode (texts from fixtures/mpesa and result_codes.json).
RESULT_DESCRIPTIONS: dict[int, str] = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction",
    17: "System internal error.",
    26: "System busy. The service request is rejected.",
    1001: "Unable to lock subscriber, a transaction is already in process for the current "
          "subscriber",
    1019: "Transaction has expired",
    1025: "An error occurred while sending a push request",
    1031: "Request cancelled by user",
    1032: "Request cancelled by user",
    1036: "SMSC ACK timeout.",
    1037: "No response from user.",
    2001: "The initiator information is invalid.",
    9999: "An error occurred while sending a push request",
}
#: The query sometimes words the same code differently (PROTOCOLS.md 1.4): map on codes.
QUERY_DESCRIPTIONS: dict[int, str] = {**RESULT_DESCRIPTIONS,
                                      1037: "DS timeout user cannot be reached."}

OUTCOME_CODES: dict[str, int | None] = {
    "paid": 0, "paid_twice": 0, "no_callback": 0, "cancelled": 1032, "wrong_pin": 2001,
    "insufficient_funds": 1, "timeout": 1037, "pending_forever": None,
}
DEFAULT_SUFFIX_OUTCOMES: dict[str, str] = {
    "1032": "cancelled", "2001": "wrong_pin", "1111": "insufficient_funds", "1037": "timeout",
    "0000": "no_callback", "2222": "paid_twice", "9999": "pending_forever",
}
_PHONE_RE = re.compile(r"^254[17]\d{8}$")
_TS_RE = re.compile(r"^\d{14}$")
_ACCEPTED = "Success. Request accepted for processing"
_QUERY_ACCEPTED = "The service request has been accepted successsfully"  # sic, as real


def stk_password(shortcode: str | int, passkey: str, timestamp: str) -> str:
    """``base64(BusinessShortCode + Passkey + Timestamp)``."""
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()


def timestamp_now() -> str:
    """``YYYYMMDDHHmmss`` in Kenya time (EAT, UTC+3)."""
    return datetime.now(EAT).strftime("%Y%m%d%H%M%S")


def callback_body(checkout_request_id: str, merchant_request_id: str, result_code: int,
                  amount: float | int | None = None, receipt: str | None = None,
                  phone: int | str | None = None, result_desc: str | None = None,
                  transaction_date: int | None = None, include_balance: bool = True) -> dict:
    """An STK callback body exactly shaped like fixtures/mpesa/callback_*.json.

    On ``result_code == 0`` the CallbackMetadata items are Amount (float, e.g. 1.0),
    MpesaReceiptNumber, Balance (name only, as in callback_success.json; ``include_balance=False``
    gives the 4-item variant), TransactionDate (int, EAT) and PhoneNumber (int). Failures carry
    no CallbackMetadata.
    """
    callback: dict[str, Any] = {
        "MerchantRequestID": merchant_request_id,
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": int(result_code),
        "ResultDesc": result_desc or RESULT_DESCRIPTIONS.get(int(result_code),
                                                             "The service request failed."),
    }
    if int(result_code) == 0:
        items: list[dict[str, Any]] = [
            {"Name": "Amount", "Value": float(amount if amount is not None else 1)},
            {"Name": "MpesaReceiptNumber", "Value": receipt or new_receipt()},
        ]
        if include_balance:
            items.append({"Name": "Balance"})
        items.append({"Name": "TransactionDate", "Value": int(
            transaction_date if transaction_date is not None else timestamp_now())})
        items.append({"Name": "PhoneNumber", "Value": int(
            phone if phone is not None else SANDBOX_TEST_MSISDN)})
        callback["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": callback}}


def new_receipt() -> str:
    """A 10-character M-Pesa receipt number like ``NCB9FJNAIT``."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(random.choice(string.ascii_uppercase) for _ in range(3)) + "".join(
        random.choice(alphabet) for _ in range(7))


def _request_id() -> str:
    h = secrets.token_hex(16)
    return f"{h[:4]}-{h[4:8]}-{h[8:12]}-{h[12:28]}"


class _Push:
    """One accepted STK push and its decided outcome."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class FakeDaraja(FakeServer):
    """Fake Daraja STK push API. See the module docstring.

    :param consumer_key, consumer_secret: the accepted app credentials (more: ``add_app``).
    :param passkeys: ``{BusinessShortCode: Passkey}``; default the public sandbox pair.
    :param outcomes: ``{phone: outcome}`` overrides (outcome name or integer ResultCode).
    :param default_outcome: outcome for numbers matching nothing (``"paid"``).
    :param callback_delay: seconds between the push and the callback POST.
    :param query_pending: ``"4999"`` or ``"500.001.1001"``: how the query says "not yet".
    :param token_ttl: seconds an access token lives (reported as the string ``expires_in``).
    :param strict_lengths: reject AccountReference > 12 / TransactionDesc > 13 characters.
    """

    name = "fake-daraja"

    def __init__(self, consumer_key: str = "fake-consumer-key",
                 consumer_secret: str = "fake-consumer-secret",
                 passkeys: dict[str, str] | None = None,
                 outcomes: dict[str, str | int] | None = None, default_outcome: str = "paid",
                 suffix_outcomes: dict[str, str | int] | None = None,
                 callback_delay: float = 0.2, query_pending: str = "4999",
                 token_ttl: int = 3599, strict_lengths: bool = True,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.apps: dict[str, str] = {consumer_key: consumer_secret}
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.passkeys = {str(k): v for k, v in (passkeys or {SANDBOX_SHORTCODE:
                                                               SANDBOX_PASSKEY}).items()}
        self.outcomes: dict[str, str | int] = {str(k): v for k, v in (outcomes or {}).items()}
        self.suffix_outcomes = dict(DEFAULT_SUFFIX_OUTCOMES if suffix_outcomes is None
                                    else suffix_outcomes)
        self.default_outcome = default_outcome
        self.callback_delay = callback_delay
        if query_pending not in ("4999", "500.001.1001"):
            raise ValueError("query_pending must be '4999' or '500.001.1001'")
        self.query_pending = query_pending
        self.token_ttl = token_ttl
        self.strict_lengths = strict_lengths
        self._tokens: dict[str, float] = {}
        self._pushes: dict[str, _Push] = {}
        self._order: list[str] = []
        self._callbacks: list[dict] = []
        self._timers: list[threading.Timer] = []
        self._merchant_seq = itertools.count(random.randrange(10000, 90000))
        for outcome in [*self.outcomes.values(), *self.suffix_outcomes.values(),
                        default_outcome]:
            self._result_code(outcome)

    # ------------------------------------------------------------------ config
    def add_app(self, consumer_key: str, consumer_secret: str) -> None:
        with self._lock:
            self.apps[consumer_key] = consumer_secret

    def add_shortcode(self, shortcode: str | int, passkey: str) -> None:
        with self._lock:
            self.passkeys[str(shortcode)] = passkey

    @staticmethod
    def _result_code(outcome: str | int) -> int | None:
        if isinstance(outcome, int) and not isinstance(outcome, bool):
            return outcome
        if outcome not in OUTCOME_CODES:
            raise ValueError(f"unknown outcome {outcome!r}; use one of {sorted(OUTCOME_CODES)} "
                             f"or an integer ResultCode")
        return OUTCOME_CODES[outcome]

    def set_outcome(self, phone: str | int, outcome: str | int) -> None:
        self._result_code(outcome)
        with self._lock:
            self.outcomes[str(phone)] = outcome

    def outcome_for(self, phone: str | int) -> str | int:
        phone = str(phone)
        with self._lock:
            if phone in self.outcomes:
                return self.outcomes[phone]
            for suffix, outcome in sorted(self.suffix_outcomes.items(),
                                          key=lambda kv: -len(kv[0])):
                if phone.endswith(suffix):
                    return outcome
            return self.default_outcome

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def issue_token(self) -> str:
        """Mint a valid access token without the OAuth call (for tests of later steps)."""
        token = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(28))
        with self._lock:
            self._tokens[token] = time.time() + self.token_ttl
        return token

    def fail_next(self, n: int = 1, status: int = 500, error_code: str | None = None,
                  message: str | None = None, path: str | None = None,
                  **options: Any) -> None:
        """Answer the next ``n`` calls (optionally only those whose path contains ``path``) with
        ``{"requestId", "errorCode", "errorMessage"}`` and HTTP ``status``."""
        match = (lambda rec: path in rec.path) if path else None
        super().fail_next(n, status=status, match=match, error_code=error_code,
                          message=message, **options)

    # ------------------------------------------------------------------ accessors
    def pushes(self) -> list[dict]:
        """Accepted pushes in order: request body, ids, outcome, result code, state."""
        with self._lock:
            return [dict(self._pushes[c].__dict__) for c in self._order]

    def push(self, checkout_request_id: str) -> dict:
        with self._lock:
            return dict(self._pushes[checkout_request_id].__dict__)

    def callbacks(self) -> list[dict]:
        """Callbacks posted: ``{"url", "body", "headers", "status_code", "response_text",
        "error", "checkout_request_id"}``."""
        with self._lock:
            return list(self._callbacks)

    def wait_callbacks(self, count: int = 1, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.callbacks()
            if len(done) >= count:
                return done
            time.sleep(0.01)
        raise TimeoutError(f"{len(self.callbacks())}/{count} callbacks after {timeout}s")

    def resolve_now(self, checkout_request_id: str) -> None:
        """Decide the push immediately (fires its callback now, if it has one)."""
        self._resolve(checkout_request_id)

    # ------------------------------------------------------------------ HTTP plumbing
    @staticmethod
    def _err(status: int, code: str, message: str) -> Response:
        return json_response({"requestId": _request_id(), "errorCode": code,
                              "errorMessage": message}, status=status)

    def error_response(self, failure: Failure, rec: RecordedRequest) -> Response:
        opts = failure.options
        code = opts.get("error_code") or {500: "500.001.1001", 503: "503.001.01",
                                          429: "429.001.01"}.get(failure.status,
                                                                 f"{failure.status}.001.01")
        message = opts.get("message")
        if message is None:
            message = {429: "Too Many Requests", 503: "Service Unavailable"}.get(
                failure.status, "The transaction is being processed"
                if code == "500.001.1001" else "Internal Server Error")
        return self._err(failure.status, code, message)

    def on_stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for t in timers:
            t.cancel()

    def handle(self, rec: RecordedRequest, request: Request) -> Response:
        if rec.path == "/oauth/v1/generate":
            return self._oauth(rec, request)
        if rec.path == "/mpesa/stkpush/v1/processrequest":
            return self._bearer(request) or self._stkpush(rec)
        if rec.path == "/mpesa/stkpushquery/v1/query":
            return self._bearer(request) or self._query(rec)
        return self._err(404, "404.001.01", "Resource not found")

    def _oauth(self, rec: RecordedRequest, request: Request) -> Response:
        if rec.method != "GET":
            return self._err(405, "405.001.01", "Method Not Allowed")
        if rec.query.get("grant_type") != "client_credentials":
            return self._err(400, "400.008.02", "Invalid grant type passed")
        auth = request.authorization
        if (auth is None or auth.type != "basic" or auth.username not in self.apps
                or not secrets.compare_digest(self.apps[auth.username], auth.password or "")):
            return self._err(400, "400.008.01", "Invalid Authentication passed")
        token = self.issue_token()
        return json_response({"access_token": token, "expires_in": str(self.token_ttl)})

    def _bearer(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        with self._lock:
            expiry = self._tokens.get(token)
        if not token or expiry is None or expiry < time.time():
            return self._err(404, "404.001.03", "Invalid Access Token")
        return None

    @staticmethod
    def _body(rec: RecordedRequest) -> dict | None:
        return rec.json if isinstance(rec.json, dict) else None

    def _check_password(self, body: dict) -> Response | None:
        shortcode = str(body.get("BusinessShortCode", ""))
        if not re.fullmatch(r"\d{5,7}", shortcode):
            return self._err(400, "400.002.02", "Bad Request - Invalid BusinessShortCode")
        timestamp = str(body.get("Timestamp", ""))
        if not _TS_RE.match(timestamp):
            return self._err(400, "400.002.02", "Bad Request - Invalid Timestamp")
        passkey = self.passkeys.get(shortcode)
        if passkey is None:
            return self._err(500, "500.001.1001", "Merchant does not exist")
        expected = stk_password(shortcode, passkey, timestamp)
        if not secrets.compare_digest(expected, str(body.get("Password", ""))):
            return self._err(500, "500.001.1001", "Wrong credentials")
        return None

    @staticmethod
    def _whole_amount(value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return None

    def _stkpush(self, rec: RecordedRequest) -> Response:
        if rec.method != "POST":
            return self._err(405, "405.001.01", "Method Not Allowed")
        body = self._body(rec)
        if body is None:
            return self._err(400, "400.002.05", "Invalid Request Payload")
        denied = self._check_password(body)
        if denied is not None:
            return denied
        if body.get("TransactionType") not in ("CustomerPayBillOnline",
                                               "CustomerBuyGoodsOnline"):
            return self._err(400, "400.002.02", "Bad Request - Invalid TransactionType")
        amount = self._whole_amount(body.get("Amount"))
        if amount is None or amount < 1:
            return self._err(400, "400.002.02", "Bad Request - Invalid Amount")
        for key in ("PartyA", "PhoneNumber"):
            if not _PHONE_RE.match(str(body.get(key, ""))):
                return self._err(400, "400.002.02", f"Bad Request - Invalid {key}")
        if not re.fullmatch(r"\d{5,7}", str(body.get("PartyB", ""))):
            return self._err(400, "400.002.02", "Bad Request - Invalid PartyB")
        callback_url = str(body.get("CallBackURL", ""))
        m = re.match(r"^https?://([^/:?#]+)", callback_url)
        if not m or m.group(1) != m.group(1).lower():
            return self._err(400, "400.002.02", "Bad Request - Invalid CallBackURL")
        ref = str(body.get("AccountReference", ""))
        desc = str(body.get("TransactionDesc", ""))
        if not ref or (self.strict_lengths and len(ref) > 12):
            return self._err(400, "400.002.02", "Bad Request - Invalid AccountReference")
        if not desc or (self.strict_lengths and len(desc) > 13):
            return self._err(400, "400.002.02", "Bad Request - Invalid TransactionDesc")

        phone = str(body["PhoneNumber"])
        outcome = self.outcome_for(phone)
        result_code = self._result_code(outcome)
        now = datetime.now(EAT)
        with self._lock:
            merchant_id = f"{next(self._merchant_seq)}-{random.randrange(10**7, 10**8)}-1"
            ms = now.microsecond // 1000
            while True:
                checkout_id = f"ws_CO_{now.strftime('%d%m%Y%H%M%S')}{ms:03d}{phone[3:]}"
                if checkout_id not in self._pushes:
                    break
                ms = (ms + 1) % 1000
            push = _Push(
                checkout_request_id=checkout_id, merchant_request_id=merchant_id,
                shortcode=str(body["BusinessShortCode"]), request=dict(body), phone=phone,
                amount=amount, callback_url=callback_url, outcome=outcome,
                result_code=result_code, resolved=False, receipt=None, created_at=time.time())
            self._pushes[checkout_id] = push
            self._order.append(checkout_id)
        if outcome != "pending_forever":
            timer = threading.Timer(self.callback_delay, self._resolve, args=(checkout_id,))
            timer.daemon = True
            with self._lock:
                self._timers.append(timer)
            timer.start()
        return json_response({"MerchantRequestID": merchant_id,
                              "CheckoutRequestID": checkout_id, "ResponseCode": "0",
                              "ResponseDescription": _ACCEPTED, "CustomerMessage": _ACCEPTED})

    def _resolve(self, checkout_id: str) -> None:
        with self._lock:
            push = self._pushes[checkout_id]
            if push.resolved or self._stopping.is_set():
                return
            push.resolved = True
            push.resolved_at = time.time()
            if push.result_code == 0:
                push.receipt = new_receipt()
            code = push.result_code
            deliveries = {"no_callback": 0, "paid_twice": 2}.get(
                push.outcome if isinstance(push.outcome, str) else "", 1)
            body = callback_body(push.checkout_request_id, push.merchant_request_id, code,
                                 amount=push.amount, receipt=push.receipt,
                                 phone=int(push.phone)) if code is not None else None
            push.callback_body = body
        for _ in range(deliveries if body is not None else 0):
            self._post_callback(push, body)

    def _post_callback(self, push: _Push, body: dict) -> None:
        headers = {"Content-Type": "application/json;charset=UTF-8",
                   "Businessshortcode": push.shortcode,
                   "User-Agent": "Apache-HttpClient/4.5.13 (Java/1.8.0_292)"}
        record: dict[str, Any] = {"checkout_request_id": push.checkout_request_id,
                                  "url": push.callback_url, "body": body, "headers": headers,
                                  "status_code": None, "response_text": None, "error": None}
        try:
            resp = _requests.post(push.callback_url, data=json.dumps(body).encode("utf-8"),
                                  headers=headers, timeout=10)
            record["status_code"] = resp.status_code
            record["response_text"] = resp.text
        except _requests.RequestException as exc:
            record["error"] = repr(exc)
        with self._lock:
            self._callbacks.append(record)

    def _query(self, rec: RecordedRequest) -> Response:
        if rec.method != "POST":
            return self._err(405, "405.001.01", "Method Not Allowed")
        body = self._body(rec)
        if body is None:
            return self._err(400, "400.002.05", "Invalid Request Payload")
        denied = self._check_password(body)
        if denied is not None:
            return denied
        checkout_id = str(body.get("CheckoutRequestID", ""))
        with self._lock:
            push = self._pushes.get(checkout_id)
            if push is None or push.shortcode != str(body.get("BusinessShortCode")):
                return self._err(500, "500.001.1001", "The transaction does not Exist")
            resolved, code = push.resolved, push.result_code
            merchant_id = push.merchant_request_id
        if not resolved or code is None:
            if self.query_pending == "500.001.1001":
                return self._err(500, "500.001.1001", "The transaction is being processed")
            return json_response(query_body(merchant_id, checkout_id, 4999))
        return json_response(query_body(merchant_id, checkout_id, code))


def query_body(merchant_request_id: str, checkout_request_id: str, result_code: int,
               result_desc: str | None = None) -> dict:
    """An STK query 200 answer (all strings), as fixtures/mpesa/stk_query_response_*.json."""
    desc = result_desc or ("The transaction is still under processing" if result_code == 4999
                           else QUERY_DESCRIPTIONS.get(result_code,
                                                       "The service request failed."))
    return {"ResponseCode": "0", "ResponseDescription": _QUERY_ACCEPTED,
            "MerchantRequestID": merchant_request_id,
            "CheckoutRequestID": checkout_request_id, "ResultCode": str(result_code),
            "ResultDesc": desc}
