"""Local fake of Kaspi Pay "Public QR API" (v3.9) plus a client for Kaspi's classic check/pay calls.

Follows PROTOCOLS.md section 2 ("Kaspi.kz"):

(a) 2.1, the Kaspi Pay QR API (``https://mtokentest.kaspi.kz:854x/{r1,r2,r3}/v01``). Served
    here under ``{fake.url}/r1/v01``, ``/r2/v01`` and ``/r3/v01`` (``fake.base_url("r1")``).
    Every call must carry ``X-Request-ID`` and, for scheme r1, ``Api-Key`` (r2/r3 authenticate
    with a client certificate in real life; that mTLS part is not emulated, so r2/r3 calls only
    need ``X-Request-ID``). Every answer is the ``{"StatusCode", "Message", "Data"}`` envelope,
    business errors included (HTTP 200 with a non-zero StatusCode — check StatusCode!).

    ==========================================  ====================================================
    GET  /health/ping                           liveness
    GET  /partner/tradepoints[/{bin}]           trade points (r3 takes the organisation BIN)
    POST /device/register                       {DeviceId, TradePointId} → DeviceToken (idempotent)
    POST /device/delete                         {DeviceToken} → device becomes inactive (-1502)
    POST /qr/create                             {DeviceToken, Amount, ExternalId?} → QrToken, QrPaymentId
    POST /qr/create-link                        same → PaymentLink, PaymentId, PaymentBehaviorOptions
    GET  /payment/status/{id}                   QrTokenCreated → Wait → Processed | Error
    GET  /payment/details?QrPaymentId&DeviceToken  r2/r3: TotalAmount, AvailableReturnAmount
    POST /payment/return                        r3: refund {DeviceToken, OrganizationBin, QrPaymentId, Amount}
    GET  /remote/client-info?phoneNumber&deviceToken  r3
    POST /remote/create, /remote/cancel         r3 invoice to a phone (8XXXXXXXXXX)
    POST /test/payment/{scan,confirm,scanerror,confirmerror}  {qrPaymentId}: test-host emulation
    ==========================================  ====================================================

    There is no callback in this API: the merchant polls ``/payment/status/{id}`` every
    ``StatusPollingInterval`` seconds. The test drives the status with ``set_status(id, "Wait")``,
    the emulation endpoints, ``script(id, [...])`` (each status poll consumes one step; the last
    step sticks) or ``default_script`` applied to every new payment. Timeouts are emulated:
    ``QrTokenCreated`` longer than LinkActivationWaitTimeout / QrCodeScanWaitTimeout, or ``Wait``
    longer than PaymentConfirmationTimeout, turns into ``Error`` (defaults 180 s / 65 s as real;
    shorten them in tests). ``status_polls(id)`` lists poll times (remote invoices must not be
    polled on a timer). A demo can set ``link_base=f"{fake.url}/pay/"`` so the PaymentLink opens a
    tiny confirm/cancel page served by the fake.

    Fake-specific choices (not in the Kaspi doc): a missing/wrong ``Api-Key`` answers HTTP 401 with
    StatusCode -10000; a missing ``X-Request-ID`` answers HTTP 400 with StatusCode -1; a POST without
    ``Content-Type: application/json`` answers 415; an invalid DeviceId answers -999; a phone not
    shaped ``8XXXXXXXXXX`` on remote calls answers -1404 (listed, unexplained, in the doc). A
    reused X-Request-ID is accepted but noted in ``duplicate_request_ids``.

(b) 2.2, the classic check/pay provider protocol (Kaspi → merchant, HTTP GET). ``call_check`` and
    ``call_pay`` send exactly the requests of fixtures/kaspi/classic/check_request.txt and
    pay_request.txt (``command=check&txn_id=…&account=…&sum=…`` and
    ``command=pay&txn_id=…&txn_date=YYYYMMDDHHmmss&account=…&sum=…``) and return a
    :class:`ClassicResponse` parsed from XML (``<response>…</response>``) or JSON, with ``result``
    and ``prv_txn`` (any of the spellings prv_txn / prv_txn_id / prv_tnx_id). The source address is
    127.0.0.1, not Kaspi's; allow it in tests.

Misbehaviour: ``fail_next(n, status_code=-999, message=..., http_status=200)`` answers the next QR
API calls with an error envelope (or an HTTP 5xx with ``http_status=503``).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import secrets
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests as _requests
from werkzeug.wrappers import Request, Response

from .server import Failure, FakeServer, RecordedRequest, json_response

__all__ = [
    "ClassicResponse",
    "FakeKaspi",
    "KZ",
    "STATUS_MESSAGES",
    "call_check",
    "call_pay",
]

#: Kazakhstan time (single zone UTC+5 since 2024-03-01; the v3.9 doc examples show +06).
KZ = timezone(timedelta(hours=5))
FINAL_STATUSES = {"Processed", "Error", "RemotePaymentCanceled"}
PURCHASE_STATUSES = {"QrTokenCreated", "Wait", "Processed", "Error", "RemotePaymentCanceled"}
PAYMENT_METHODS = ["Gold", "Red", "Loan"]

STATUS_MESSAGES: dict[int, str] = {
    0: "OK",
    -1: "X-Request-ID header is required",
    -10000: "No client certificate / invalid credentials",
    -1501: "Устройство с заданным идентификатором не найдено",
    -1502: "Device is not active (disabled or deleted)",
    -1503: "Device is already added to another trade point",
    -1601: "Purchase not found",
    -14000002: "No trade points, create one in the Kaspi Pay app",
    -99000002: "Trade point not found",
    -99000005: "Refund amount exceeds purchase amount",
    -99000001: "Purchase with the given id not found",
    -99000003: "Purchase trade point does not match the current device",
    -99000011: "Cannot refund (purchase status)",
    -999: "Service temporarily unavailable",
    990000018: "Trade point disabled",
    990000026: "Trade point does not accept QR payment",
    990000028: "Invalid operation amount",
    990000033: "No available payment methods",
}


def _kz_iso(dt: datetime, millis: bool = False) -> str:
    dt = dt.astimezone(KZ)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+05:00"
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + "+05"


def _digits(n: int) -> str:
    return str(random.randrange(1, 10)) + "".join(str(random.randrange(10)) for _ in range(n - 1))


@dataclass
class Payment:
    payment_id: int
    kind: str  # "qr", "link" or "remote"
    amount: float
    device_token: str | None
    trade_point_id: int | None
    external_id: str | None
    token: str
    status: str = "QrTokenCreated"
    created_at: float = field(default_factory=time.time)
    wait_since: float | None = None
    processed_at: float | None = None
    script: list[str] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    returned: float = 0.0
    phone: str | None = None
    comment: str | None = None

    def set(self, status: str) -> None:
        if status not in PURCHASE_STATUSES:
            raise ValueError(f"unknown Kaspi purchase status {status!r}")
        if status == "Wait" and self.status != "Wait":
            self.wait_since = time.time()
        if status == "Processed" and self.processed_at is None:
            self.processed_at = time.time()
        self.status = status


@dataclass
class ClassicResponse:
    """A merchant's answer to a classic check/pay call, parsed."""

    status_code: int
    content_type: str
    text: str
    format: str  # "xml", "json" or "unknown"
    data: dict[str, Any]
    url: str

    @property
    def result(self) -> int | None:
        value = self.data.get("result")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def prv_txn(self) -> Any:
        for key in ("prv_txn", "prv_txn_id", "prv_tnx_id"):
            if key in self.data:
                return self.data[key]
        return None

    @property
    def txn_id(self) -> Any:
        return self.data.get("txn_id")

    @property
    def comment(self) -> Any:
        return self.data.get("comment")


def _xml_to_dict(elem: ET.Element) -> Any:
    children = list(elem)
    if not children:
        return (elem.text or "").strip()
    return {child.tag: _xml_to_dict(child) for child in children}


def _format_sum(value: Any) -> str:
    if isinstance(value, str):
        return value
    return f"{Decimal(str(value)):.2f}"


def _classic_call(url: str, params: list[tuple[str, str]], timeout: float) -> ClassicResponse:
    full = url + ("&" if "?" in url else "?") + urlencode(params)
    resp = _requests.get(full, timeout=timeout, headers={"Accept": "*/*"})
    text = resp.text
    ctype = resp.headers.get("Content-Type", "")
    stripped = text.lstrip()
    data: dict[str, Any] = {}
    fmt = "unknown"
    if stripped.startswith("<"):
        try:
            root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
            parsed = _xml_to_dict(root)
            data = parsed if isinstance(parsed, dict) else {"value": parsed}
            fmt = "xml"
        except ET.ParseError:
            pass
    elif stripped.startswith("{"):
        try:
            data = json.loads(text)
            fmt = "json"
        except ValueError:
            pass
    return ClassicResponse(resp.status_code, ctype, text, fmt, data, full)


def call_check(url: str, account: str, sum: Any, txn_id: str | int | None = None,  # noqa: A002
               timeout: float = 10) -> ClassicResponse:
    """``GET url?command=check&txn_id=…&account=…&sum=…`` as Kaspi sends it."""
    txn = str(txn_id) if txn_id is not None else _digits(10)
    return _classic_call(url, [("command", "check"), ("txn_id", txn), ("account", str(account)),
                               ("sum", _format_sum(sum))], timeout)


def call_pay(url: str, account: str, sum: Any, txn_id: str | int | None = None,  # noqa: A002
             txn_date: str | datetime | None = None, timeout: float = 10) -> ClassicResponse:
    """``GET url?command=pay&txn_id=…&txn_date=YYYYMMDDHHmmss&account=…&sum=…``."""
    txn = str(txn_id) if txn_id is not None else _digits(10)
    if txn_date is None:
        txn_date = datetime.now(KZ)
    if isinstance(txn_date, datetime):
        txn_date = txn_date.astimezone(KZ).strftime("%Y%m%d%H%M%S")
    return _classic_call(url, [("command", "pay"), ("txn_id", txn), ("txn_date", str(txn_date)),
                               ("account", str(account)), ("sum", _format_sum(sum))], timeout)


class FakeKaspi(FakeServer):
    """Fake Kaspi Pay QR API + classic protocol client. See the module docstring.

    :param api_key: the scheme-r1 ``Api-Key`` accepted (generated ``test_<uuid>`` if omitted).
    :param organization_bin: the organisation's BIN (r3).
    :param trade_points: ``[{"TradePointId": 1, "TradePointName": "..."}]``.
    :param default_script: statuses applied to every new payment, one per status poll
        (e.g. ``["QrTokenCreated", "Wait", "Processed"]``); ``None`` = stays until driven.
    :param status_polling_interval, link_activation_timeout, qr_scan_timeout,
        payment_confirmation_timeout: the behaviour options returned (and enforced) in seconds.
    :param link_base: prefix of PaymentLink (default ``https://pay.kaspi.kz/pay/``).
    """

    name = "fake-kaspi"

    def __init__(self, api_key: str | None = None, organization_bin: str = "180340021791",
                 trade_points: list[dict] | None = None,
                 default_script: Iterable[str] | None = None,
                 status_polling_interval: int = 5, link_activation_timeout: int = 180,
                 qr_scan_timeout: int = 180, payment_confirmation_timeout: int = 65,
                 link_base: str | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.api_key = api_key or f"test_{uuid.uuid4()}"
        self.organization_bin = organization_bin
        self.trade_points = trade_points or [
            {"TradePointId": 1, "TradePointName": "Магазин 1 (Ауэзова, 65)"},
            {"TradePointId": 2, "TradePointName": "Магазин 2 (Жарокова, 48)"}]
        self.default_script = list(default_script) if default_script else None
        self.status_polling_interval = status_polling_interval
        self.link_activation_timeout = link_activation_timeout
        self.qr_scan_timeout = qr_scan_timeout
        self.payment_confirmation_timeout = payment_confirmation_timeout
        self._link_base = link_base
        self._devices: dict[str, dict] = {}
        self._device_by_id: dict[tuple[str, int], str] = {}
        self._disabled_trade_points: set[int] = set()
        self._payments: dict[int, Payment] = {}
        self._by_token: dict[str, int] = {}
        self._ids = itertools.count(random.randrange(100_000_000, 900_000_000))
        self._return_ids = itertools.count(random.randrange(10_000_000, 90_000_000))
        self._refunds: list[dict] = []
        self._request_ids: set[str] = set()
        self.duplicate_request_ids: list[str] = []
        self.classic_calls: list[ClassicResponse] = []
        self._classic_lock = threading.Lock()
        #: A device registered at start-up on the first trade point, ready to use.
        self.device_token = self.register_device("PITSTOP-TEST-1",
                                                 self.trade_points[0]["TradePointId"])

    # ------------------------------------------------------------------ config / helpers
    def base_url(self, scheme: str = "r1", version: str = "v01") -> str:
        """e.g. ``http://127.0.0.1:PORT/r1/v01`` (KASPI_API_BASE)."""
        return f"{self.url}/{scheme}/{version}"

    @property
    def link_base(self) -> str:
        return self._link_base or "https://pay.kaspi.kz/pay/"

    @link_base.setter
    def link_base(self, value: str | None) -> None:
        self._link_base = value

    def headers(self, request_id: str | None = None) -> dict[str, str]:
        """The headers a correct r1 client sends (fresh X-Request-ID each call)."""
        return {"Content-Type": "application/json", "Api-Key": self.api_key,
                "X-Request-ID": request_id or uuid.uuid4().hex}

    def register_device(self, device_id: str, trade_point_id: int) -> str:
        with self._lock:
            key = (device_id, int(trade_point_id))
            if key in self._device_by_id:
                return self._device_by_id[key]
            token = str(uuid.uuid4())
            self._devices[token] = {"DeviceId": device_id, "TradePointId": int(trade_point_id),
                                    "active": True}
            self._device_by_id[key] = token
            return token

    def deactivate_device(self, device_token: str) -> None:
        with self._lock:
            self._devices[device_token]["active"] = False

    def disable_trade_point(self, trade_point_id: int) -> None:
        with self._lock:
            self._disabled_trade_points.add(int(trade_point_id))

    def set_status(self, payment_id: int, status: str) -> None:
        """Drive a payment: "QrTokenCreated", "Wait", "Processed" or "Error"."""
        with self._lock:
            p = self._payments[int(payment_id)]
            p.script.clear()
            p.set(status)

    def script(self, payment_id: int, statuses: Iterable[str]) -> None:
        """Statuses returned by the next status polls, one per poll; the last one sticks."""
        steps = list(statuses)
        for s in steps:
            if s not in PURCHASE_STATUSES:
                raise ValueError(f"unknown Kaspi purchase status {s!r}")
        with self._lock:
            self._payments[int(payment_id)].script = steps

    def payment(self, payment_id: int) -> Payment:
        with self._lock:
            return self._payments[int(payment_id)]

    def payments(self) -> list[Payment]:
        with self._lock:
            return list(self._payments.values())

    def status_polls(self, payment_id: int) -> list[float]:
        with self._lock:
            return list(self._payments[int(payment_id)].polls)

    def refunds(self) -> list[dict]:
        with self._lock:
            return list(self._refunds)

    def open_link(self, payment_id: int) -> None:
        """The customer opened the link / scanned the QR: status becomes Wait."""
        self.set_status(payment_id, "Wait")

    def fail_next(self, n: int = 1, status_code: int = -999, message: str | None = None,
                  http_status: int = 200, path: str | None = None, **options: Any) -> None:
        """Answer the next ``n`` QR API calls with ``{"StatusCode": status_code, "Message": …}``
        (HTTP ``http_status``; use e.g. 503 for a transport-level failure)."""
        def match(rec: RecordedRequest) -> bool:
            if not re.match(r"^/r[123]/v0\d/", rec.path):
                return False
            return path is None or path in rec.path

        super().fail_next(n, status=http_status, match=match, status_code=status_code,
                          message=message, **options)

    # classic protocol (Kaspi → merchant)
    def call_check(self, url: str, account: str, sum: Any,  # noqa: A002
                   txn_id: str | int | None = None, timeout: float = 10) -> ClassicResponse:
        resp = call_check(url, account, sum, txn_id, timeout)
        with self._classic_lock:
            self.classic_calls.append(resp)
        return resp

    def call_pay(self, url: str, account: str, sum: Any,  # noqa: A002
                 txn_id: str | int | None = None, txn_date: str | datetime | None = None,
                 timeout: float = 10) -> ClassicResponse:
        resp = call_pay(url, account, sum, txn_id, txn_date, timeout)
        with self._classic_lock:
            self.classic_calls.append(resp)
        return resp

    # ------------------------------------------------------------------ HTTP plumbing
    @staticmethod
    def _env(status_code: int = 0, data: Any = None, message: str | None = None,
             http_status: int = 200) -> Response:
        body: dict[str, Any] = {"StatusCode": status_code,
                                "Message": message or STATUS_MESSAGES.get(status_code, "Error")}
        if data is not None:
            body["Data"] = data
        return json_response(body, status=http_status)

    def error_response(self, failure: Failure, rec: RecordedRequest) -> Response:
        opts = failure.options
        return self._env(opts.get("status_code", -999), message=opts.get("message"),
                         http_status=failure.status)

    def handle(self, rec: RecordedRequest, request: Request) -> Response:
        m = re.match(r"^/pay/(\d+)$", rec.path)
        if m:
            return self._pay_page(m.group(1), rec)
        m = re.match(r"^/(r[123])/(v0\d)/(.+)$", rec.path)
        if not m:
            return Response("Not Found", status=404)
        scheme, _version, route = m.groups()
        request_id = rec.header("X-Request-ID")
        if not request_id:
            return self._env(-1, http_status=400)
        with self._lock:
            if request_id in self._request_ids:
                self.duplicate_request_ids.append(request_id)
            self._request_ids.add(request_id)
        if scheme == "r1":
            key = rec.header("Api-Key") or ""
            if not secrets.compare_digest(key, self.api_key):
                return self._env(-10000, http_status=401)
        if rec.method == "POST" and not (rec.header("Content-Type") or "").startswith(
                "application/json"):
            return self._env(-999, message="Content-Type must be application/json",
                             http_status=415)
        body = rec.json if isinstance(rec.json, dict) else {}
        with self._lock:
            return self._route(scheme, route, rec, body)

    def _route(self, scheme: str, route: str, rec: RecordedRequest, body: dict) -> Response:
        get, post = rec.method == "GET", rec.method == "POST"
        if get and route == "health/ping":
            return self._env(0)
        if get and (route == "partner/tradepoints" or route.startswith("partner/tradepoints/")):
            if scheme == "r3" and route.rsplit("/", 1)[-1] != self.organization_bin:
                return self._env(-14000002)
            return self._env(0, [dict(tp) for tp in self.trade_points])
        if post and route == "device/register":
            return self._device_register(body)
        if post and route == "device/delete":
            dev = self._devices.get(str(body.get("DeviceToken")))
            if dev is None:
                return self._env(-1501)
            dev["active"] = False
            return self._env(0)
        if post and route in ("qr/create", "qr/create-link"):
            return self._qr_create(body, link=route.endswith("link"))
        m = re.match(r"^payment/status/(\d+)$", route)
        if get and m:
            return self._status(int(m.group(1)))
        if get and route == "payment/details" and scheme in ("r2", "r3"):
            return self._details(rec.query)
        if post and route == "payment/return" and scheme == "r3":
            return self._return(body)
        if get and route == "remote/client-info" and scheme == "r3":
            return self._client_info(rec.query)
        if post and route == "remote/create" and scheme == "r3":
            return self._remote_create(body)
        if post and route == "remote/cancel" and scheme == "r3":
            return self._remote_cancel(body)
        m = re.match(r"^test/payment/(scan|confirm|scanerror|confirmerror)$", route)
        if post and m:
            return self._emulate(m.group(1), body)
        return Response("Not Found", status=404)

    # ------------------------------------------------------------------ QR API handlers
    def _device(self, token: Any) -> tuple[dict | None, Response | None]:
        dev = self._devices.get(str(token)) if token is not None else None
        if dev is None:
            return None, self._env(-1501)
        if not dev["active"]:
            return None, self._env(-1502)
        if dev["TradePointId"] in self._disabled_trade_points:
            return None, self._env(990000018)
        return dev, None

    def _device_register(self, body: dict) -> Response:
        device_id = str(body.get("DeviceId") or "")
        try:
            tp = int(body.get("TradePointId"))
        except (TypeError, ValueError):
            return self._env(-99000002)
        if tp not in {int(t["TradePointId"]) for t in self.trade_points}:
            return self._env(-99000002)
        if not device_id or not re.fullmatch(r"[A-Za-z0-9_-]+", device_id):
            return self._env(-999, message="DeviceId may contain only Latin letters, digits, "
                                           "'-' and '_'")
        for (other_id, other_tp), _tok in self._device_by_id.items():
            if other_id == device_id and other_tp != tp:
                return self._env(-1503)
        if tp in self._disabled_trade_points:
            return self._env(990000018)
        return self._env(0, {"DeviceToken": self.register_device(device_id, tp)})

    @staticmethod
    def _amount(value: Any) -> float | None:
        if isinstance(value, bool):
            return None
        try:
            amount = float(value)
        except (TypeError, ValueError):
            return None
        return amount if amount > 0 else None

    def _new_payment(self, kind: str, amount: float, dev_token: str | None, tp: int | None,
                     external_id: Any = None) -> Payment:
        pid = next(self._ids)
        token = _digits(41)
        p = Payment(pid, kind, amount, dev_token, tp,
                    str(external_id) if external_id is not None else None, token)
        if self.default_script:
            p.script = list(self.default_script)
        self._payments[pid] = p
        self._by_token[token] = pid
        return p

    def _qr_create(self, body: dict, link: bool) -> Response:
        dev, err = self._device(body.get("DeviceToken"))
        if err is not None:
            return err
        amount = self._amount(body.get("Amount"))
        if amount is None:
            return self._env(990000028)
        p = self._new_payment("link" if link else "qr", amount, str(body["DeviceToken"]),
                              dev["TradePointId"], body.get("ExternalId"))
        now = datetime.now(KZ)
        if link:
            expire = _kz_iso(now + timedelta(seconds=self.link_activation_timeout))
            return self._env(0, {
                "PaymentLink": f"{self.link_base}{p.token}",
                "ExpireDate": expire,
                "PaymentId": p.payment_id,
                "PaymentMethods": list(PAYMENT_METHODS),
                "PaymentBehaviorOptions": {
                    "StatusPollingInterval": self.status_polling_interval,
                    "LinkActivationWaitTimeout": self.link_activation_timeout,
                    "PaymentConfirmationTimeout": self.payment_confirmation_timeout}})
        expire = _kz_iso(now + timedelta(seconds=self.qr_scan_timeout))
        return self._env(0, {
            "QrToken": p.token,
            "ExpireDate": expire,
            "QrPaymentId": p.payment_id,
            "PaymentMethods": list(PAYMENT_METHODS),
            "QrPaymentBehaviorOptions": {
                "StatusPollingInterval": self.status_polling_interval,
                "QrCodeScanWaitTimeout": self.qr_scan_timeout,
                "PaymentConfirmationTimeout": self.payment_confirmation_timeout}})

    def _apply_timeouts(self, p: Payment) -> None:
        now = time.time()
        activation = self.link_activation_timeout if p.kind == "link" else self.qr_scan_timeout
        if p.kind == "remote":
            activation = 24 * 3600
        if p.status == "QrTokenCreated" and now - p.created_at > activation:
            p.set("Error")
        elif (p.status == "Wait" and p.wait_since is not None
              and now - p.wait_since > self.payment_confirmation_timeout):
            p.set("Error")

    def _status(self, payment_id: int) -> Response:
        p = self._payments.get(payment_id)
        if p is None:
            return self._env(-1601)
        p.polls.append(time.time())
        if p.script:
            p.set(p.script.pop(0) if len(p.script) > 1 else p.script[0])
        self._apply_timeouts(p)
        return self._env(0, {"Status": p.status})

    def _details(self, query: dict) -> Response:
        try:
            pid = int(query.get("QrPaymentId", ""))
        except ValueError:
            return self._env(-1601)
        _dev, err = self._device(query.get("DeviceToken"))
        if err is not None:
            return err
        p = self._payments.get(pid)
        if p is None:
            return self._env(-1601)
        available = p.amount - p.returned if p.status == "Processed" else 0.0
        when = datetime.fromtimestamp(p.processed_at or p.created_at, KZ)
        return self._env(0, {"QrPaymentId": p.payment_id, "TotalAmount": p.amount,
                             "AvailableReturnAmount": available,
                             "TransactionDate": _kz_iso(when, millis=True)})

    def _return(self, body: dict) -> Response:
        dev, err = self._device(body.get("DeviceToken"))
        if err is not None:
            return err
        try:
            pid = int(body.get("QrPaymentId"))
        except (TypeError, ValueError):
            return self._env(-99000001)
        p = self._payments.get(pid)
        if p is None:
            return self._env(-99000001)
        if p.trade_point_id != dev["TradePointId"]:
            return self._env(-99000003)
        if p.status != "Processed":
            return self._env(-99000011)
        amount = self._amount(body.get("Amount"))
        if amount is None:
            return self._env(990000028)
        if amount > p.amount - p.returned + 1e-9:
            return self._env(-99000005)
        p.returned += amount
        op = next(self._return_ids)
        self._refunds.append({"ReturnOperationId": op, "QrPaymentId": pid, "Amount": amount,
                              "OrganizationBin": body.get("OrganizationBin")})
        return self._env(0, {"ReturnOperationId": op})

    def _client_info(self, query: dict) -> Response:
        _dev, err = self._device(query.get("deviceToken"))
        if err is not None:
            return err
        if not re.fullmatch(r"8\d{10}", str(query.get("phoneNumber", ""))):
            return self._env(-1404, message="Client not found")
        return self._env(0, {"ClientName": "ФИО"})

    def _remote_create(self, body: dict) -> Response:
        dev, err = self._device(body.get("DeviceToken"))
        if err is not None:
            return err
        amount = self._amount(body.get("Amount"))
        if amount is None:
            return self._env(990000028)
        phone = str(body.get("PhoneNumber", ""))
        if not re.fullmatch(r"8\d{10}", phone):
            return self._env(-1404, message="Client not found")
        p = self._new_payment("remote", amount, str(body["DeviceToken"]), dev["TradePointId"])
        p.phone = phone
        p.comment = body.get("Comment")
        return self._env(0, {"QrPaymentId": p.payment_id})

    def _remote_cancel(self, body: dict) -> Response:
        try:
            pid = int(body.get("QrPaymentId"))
        except (TypeError, ValueError):
            return self._env(-1601)
        p = self._payments.get(pid)
        if p is None or p.kind != "remote":
            return self._env(-1601)
        if p.status not in FINAL_STATUSES:
            p.set("RemotePaymentCanceled")
        return self._env(0, {"Status": p.status})

    def _emulate(self, action: str, body: dict) -> Response:
        try:
            pid = int(body.get("qrPaymentId"))
        except (TypeError, ValueError):
            return self._env(-1601)
        p = self._payments.get(pid)
        if p is None:
            return self._env(-1601)
        p.script.clear()
        p.set({"scan": "Wait", "confirm": "Processed", "scanerror": "Error",
               "confirmerror": "Error"}[action])
        return json_response({"StatusCode": 0, "message": "OK"})

    # ------------------------------------------------------------------ demo payment page
    def _pay_page(self, token: str, rec: RecordedRequest) -> Response:
        with self._lock:
            pid = self._by_token.get(token)
            p = self._payments.get(pid) if pid is not None else None
            if p is None:
                return Response("Unknown payment link", status=404)
            if rec.method == "POST":
                action = rec.form.get("action", "confirm")
                if p.status not in FINAL_STATUSES:
                    p.script.clear()
                    p.set("Processed" if action == "confirm" else "Error")
            elif p.status == "QrTokenCreated":
                p.script.clear()
                p.set("Wait")
            status, amount = p.status, p.amount
        html = (f"<!doctype html><meta charset=utf-8><title>Kaspi Pay (fake)</title>"
                f"<h1>Kaspi Pay (local fake)</h1><p>Payment {pid}: {amount:.2f} ₸ — "
                f"<b>{status}</b></p>")
        if status not in FINAL_STATUSES:
            html += ("<form method=post><button name=action value=confirm>Pay</button> "
                     "<button name=action value=cancel>Cancel</button></form>")
        return Response(html, mimetype="text/html")
