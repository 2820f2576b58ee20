"""Kaspi.kz, both ways (PROTOCOLS.md section 2).

(a) The Kaspi Pay QR API, payment-link flavour: `create_link` asks Kaspi for a link for
    the payment (X-Request-ID on every call, StatusCode checked on every answer) and
    sends it to the customer's chat; `poll` asks for the status at the interval Kaspi
    returned (StatusPollingInterval) until Processed or Error, or until the link
    expires, and applies the result exactly as an M-Pesa callback is applied. This API
    has no callback at all. On scheme r3 a payment that has to go back is returned
    through /payment/return (`refund`).

(b) The classic provider protocol, where Kaspi calls us: GET /webhooks/kaspi/<shop> with
    command=check (is this booking code payable, and for how much?) and command=pay
    (record it). Pay is idempotent on txn_id: a repeat gets the same prv_txn. Result
    codes follow the QIWI/OSMP table the protocol clones (PROTOCOLS.md 2.2: 0 OK, 1
    temporary error, 4 wrong account format, 5 account not found, 7 payment forbidden,
    79 account inactive, 241/242 sum too small/large, 300 other); the answer is XML or
    JSON by the shop file's `response_format`.

Pure parsing and deciding first; the HTTP client and the services after.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any
from xml.sax.saxutils import escape

import requests
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import availability as av
from core import inbox, notices, outbox
from core import messages as m
from core import payments as pay
from core.booking import locked_booking
from core.db import Database, session_of
from core.i18n import N_
from core.lifecycle import BookingStatus as S
from core.messages import Msg, Reply
from core.models import Booking, InboxUpdate, Payment, Shop
from core.payments import FailureKind as Why
from core.settings import MissingSetting, Settings
from core.shopfile import ShopSpec

log = logging.getLogger(__name__)

SOURCE = "kaspi"
TIMEOUT = (5, 20)
RETRY_AFTER = (timedelta(seconds=10), timedelta(seconds=30))
MAX_CREATE_ATTEMPTS = len(RETRY_AFTER) + 1
DEFAULT_POLL_S, DEFAULT_ACTIVATION_S, DEFAULT_CONFIRMATION_S = 5, 180, 65
LATE_POLL_S = 300  # Kaspi did not answer past the give-up time: ask every 5 minutes until it does
GIVE_UP_MARGIN = timedelta(seconds=60)
FINAL_ERRORS = frozenset({"Error", "RemotePaymentCanceled"})

LINK = N_("Pay {amount} with Kaspi here: {link}")
LINK_UNTIL = N_("The link works until {time}.")
REFUNDED = N_("Your payment of {amount} for booking {code} has been refunded to your Kaspi account.")
OWNER_RETURN_UNKNOWN = N_("Booking {code}: Kaspi did not answer whether it returned the {amount} payment. "
                          "Check in Kaspi: if it did not, return it, then write /refunded {code}.")  # fmt: skip
OWNER_RETURN_BY_HAND = N_("Booking {code}: Kaspi did not return the {amount} payment by itself. Please "
                          "return it, then write /refunded {code}.")  # fmt: skip
OWNER_REFUNDED = N_("Booking {code}: the {amount} Kaspi payment was refunded automatically.")


# -- pure: the QR API -------------------------------------------------------------------------


def scheme_of(base_url: str) -> str:
    """r1 (Api-Key), r2 or r3 (client certificate), from the API base's path."""
    found = re.search(r"/(r[123])/v0\d", base_url)
    return found.group(1) if found else "r1"


def tenge(amount_minor: int) -> float:
    """Kaspi's Amount: tenge, with tiyn as decimals."""
    return float(Decimal(amount_minor) / 100)


def to_minor(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        minor = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    return int(minor) if minor.is_finite() and minor == minor.to_integral_value() else None


@dataclass(frozen=True)
class Envelope:
    """Every QR API answer: {"StatusCode", "Message", "Data"}. Only StatusCode 0 is OK,
    whatever the HTTP status says."""

    http_status: int
    status_code: int | None
    message: str
    data: Any

    @property
    def ok(self) -> bool:
        return self.status_code == 0

    @staticmethod
    def parse(http_status: int, body: Any) -> Envelope:
        if not isinstance(body, dict) or isinstance(body.get("StatusCode"), bool):
            return Envelope(http_status, None, "not a Kaspi answer", None)
        try:
            code = int(body.get("StatusCode"))
        except (TypeError, ValueError):
            code = None
        return Envelope(http_status, code, str(body.get("Message") or "")[:200], body.get("Data"))

    @property
    def transient(self) -> bool:
        """Worth asking again: no answer, a server error, or -999 (service unavailable)."""
        return self.status_code in (None, -999) or self.http_status >= 500


@dataclass(frozen=True)
class LinkCreated:
    payment_id: str
    link: str
    polling_interval_s: int
    activation_timeout_s: int
    confirmation_timeout_s: int

    @staticmethod
    def parse(data: Any) -> LinkCreated | None:
        if not isinstance(data, dict) or not data.get("PaymentLink") or data.get("PaymentId") is None:
            return None
        opts = data.get("PaymentBehaviorOptions") or {}

        def seconds(key: str, default: int) -> int:
            value = opts.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

        return LinkCreated(str(data["PaymentId"]), str(data["PaymentLink"]),
                           seconds("StatusPollingInterval", DEFAULT_POLL_S),
                           seconds("LinkActivationWaitTimeout", DEFAULT_ACTIVATION_S),
                           seconds("PaymentConfirmationTimeout", DEFAULT_CONFIRMATION_S))  # fmt: skip


@dataclass(frozen=True)
class Paid:
    receipt: str | None


@dataclass(frozen=True)
class Failed:
    why: Why
    code: str


@dataclass(frozen=True)
class StillPending:
    status: str


@dataclass(frozen=True)
class Mismatch:
    got_minor: int | None


def judge_status(env: Envelope, expected_minor: int, now: datetime, expires_at: datetime | None,
                 give_up_at: datetime | None) -> Paid | Failed | StillPending | Mismatch:  # fmt: skip
    """What a status poll means: Processed is paid (if it names an amount, it must be
    ours), Error is failed, a link never opened by its expiry is dead, and anything Kaspi
    still calls undecided past `give_up_at` is given up. A poll Kaspi could not answer
    (no answer, a server error, -999) says nothing about the money: it is asked again,
    however late; any other refusal to tell (a set-up error) is given up then too."""
    late = give_up_at is not None and now >= give_up_at
    if not env.ok or not isinstance(env.data, dict):
        if late and not env.transient:
            return Failed(Why.NO_ANSWER, str(env.status_code))
        return StillPending(f"StatusCode {env.status_code}")
    status = str(env.data.get("Status") or "")
    if status == "Processed":
        if "Amount" in env.data and to_minor(env.data.get("Amount")) != expected_minor:
            return Mismatch(to_minor(env.data.get("Amount")))
        receipt = env.data.get("TransactionId")
        return Paid(str(receipt) if receipt not in (None, "") else None)
    if status in FINAL_ERRORS:
        return Failed(Why.DECLINED, status)
    if status == "QrTokenCreated" and expires_at is not None and now >= expires_at:
        return Failed(Why.EXPIRED, "expired")
    if late:
        return Failed(Why.EXPIRED, status or "expired")
    return StillPending(status or "unknown")


# -- the QR API client -----------------------------------------------------------------------


@dataclass(frozen=True)
class KaspiConfig:
    """A shop's Kaspi set-up, read from the variables its shop file names."""

    scheme: str
    device_token: str = field(repr=False)
    api_key: str | None = field(default=None, repr=False)  # scheme r1
    organization_bin: str | None = None  # scheme r3
    cert: tuple[str, str] | None = None  # r2/r3 client certificate and key files


def config_for(settings: Settings, spec: ShopSpec) -> KaspiConfig:
    table = spec.providers.get("kaspi")
    if not table:
        raise MissingSetting("payments.kaspi", f"Kaspi payments of {spec.slug}")
    why = f"Kaspi payments of {spec.slug}"
    scheme = scheme_of(settings.kaspi_api_base)
    device_env, key_name_env = table.get("device_token_env"), table.get("api_key_env")
    if not device_env:  # required at load since 7 December; a shop stored before may lack it
        raise MissingSetting("named by payments.kaspi.device_token_env in the shop file", why)
    if scheme == "r1" and not key_name_env:
        raise MissingSetting("named by payments.kaspi.api_key_env in the shop file (scheme r1)", why)
    bin_env = table.get("organization_bin_env")
    cert_env, key_env = table.get("client_cert_env"), table.get("client_key_env")
    return KaspiConfig(
        scheme=scheme, device_token=settings.secret(device_env, why),
        api_key=settings.secret(key_name_env, why) if scheme == "r1" else None,
        organization_bin=settings.secret(bin_env, why) if bin_env and scheme == "r3" else None,
        cert=(settings.secret(cert_env, why), settings.secret(key_env, why)) if cert_env and key_env else None,
    )  # fmt: skip


class KaspiApi:
    """The QR API over HTTP: a fresh X-Request-ID on every call, the Api-Key on r1, the
    client certificate on r2/r3; answers come back as Envelopes."""

    def __init__(self, base_url: str, cfg: KaspiConfig, timeout=TIMEOUT):
        self.base = base_url.rstrip("/")
        self.cfg = cfg
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> Envelope:
        headers = {"Content-Type": "application/json", "X-Request-ID": uuid.uuid4().hex}
        if self.cfg.api_key:
            headers["Api-Key"] = self.cfg.api_key
        try:
            resp = requests.request(method, f"{self.base}{path}", json=body, headers=headers,
                                    timeout=self.timeout, cert=self.cfg.cert)  # fmt: skip
        except requests.RequestException as exc:
            return Envelope(0, None, type(exc).__name__, None)
        try:
            data = resp.json()
        except ValueError:
            data = None
        return Envelope.parse(resp.status_code, data)

    def create_link(self, amount_minor: int, external_id: str) -> Envelope:
        body: dict[str, Any] = {"DeviceToken": self.cfg.device_token, "Amount": tenge(amount_minor),
                                "ExternalId": external_id}  # fmt: skip
        if self.cfg.organization_bin:
            body["OrganizationBin"] = self.cfg.organization_bin
        return self._call("POST", "/qr/create-link", body)

    def status(self, payment_id: str) -> Envelope:
        return self._call("GET", f"/payment/status/{payment_id}")

    def refund(self, payment_id: str, amount_minor: int) -> Envelope:
        return self._call("POST", "/payment/return", {
            "DeviceToken": self.cfg.device_token, "OrganizationBin": self.cfg.organization_bin,
            "QrPaymentId": int(payment_id) if payment_id.isdigit() else payment_id,
            "Amount": tenge(amount_minor)})  # fmt: skip


def _runtime():
    from core.runtime import current_runtime

    return current_runtime()


# -- the link job ----------------------------------------------------------------------------


def create_link(payment_id: int, now: datetime | None = None) -> None:
    """Ask Kaspi for a payment link and send it to the customer (the job behind
    `payments.request`). Claimed first, so one attempt makes one link; a link whose
    answer was lost is harmless (nobody has it), so failed attempts are retried."""
    rt = _runtime()
    now = now or rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        p = s.get(Payment, payment_id)
        if p is None or p.provider != "kaspi_qr" or p.status != pay.PENDING or p.provider_ref is not None \
                or p.provider_status not in (None, "retry"):  # fmt: skip
            return
        spec = av.shop_view(s, p.shop_id).spec
        attempts, amount = p.checks + 1, p.amount_minor
        try:
            cfg = config_for(rt.settings, spec)
        except MissingSetting as exc:
            cfg, problem = None, str(exc)
        if cfg is not None:
            claimed = s.execute(
                update(Payment).where(Payment.id == payment_id, Payment.status == pay.PENDING,
                                      Payment.provider_ref.is_(None),
                                      or_(Payment.provider_status.is_(None), Payment.provider_status == "retry"))
                .values(provider_status="requesting", checks=Payment.checks + 1, requested_at=now,
                        next_check_at=now + timedelta(minutes=5), give_up_at=now + timedelta(minutes=5),
                        updated_at=now)).rowcount  # fmt: skip
            if not claimed:
                return
    if cfg is None:
        log.warning("payment %s: Kaspi link not created: %s", payment_id, problem)
        pay.fail(rt.db, payment_id, Why.NOT_STARTED, "not_configured", now, problem)
        return
    env = KaspiApi(rt.settings.kaspi_api_base, cfg).create_link(amount, str(payment_id))
    created = LinkCreated.parse(env.data) if env.ok else None
    log.info("payment %s: Kaspi create-link: StatusCode %s", payment_id, env.status_code)
    if created is not None:
        _link_ready(rt.db, payment_id, created, now)
    elif env.transient and attempts < MAX_CREATE_ATTEMPTS:
        with rt.db.uow() as uow:
            p = uow.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
            if p.status == pay.PENDING and p.provider_ref is None:
                p.provider_status, p.next_check_at, p.updated_at = "retry", now + RETRY_AFTER[attempts - 1], now
    else:
        with session_of(rt.db) as s:
            booking, p = pay.lock(s, payment_id)
            if p.status != pay.PENDING:
                return
            # a StatusCode that says the shop's set-up is wrong is told to its owners (core.setup_faults)
            pay.settle_failed(s, booking, p, now, kind=Why.NOT_STARTED, code=f"kaspi {env.status_code}",
                              reason=env.message)  # fmt: skip


def _link_ready(db: Database, payment_id: int, created: LinkCreated, now: datetime) -> None:
    """Keep the link, plan the polls, and send the link to the customer's chat."""
    with db.uow() as uow:
        s = uow.session
        p = s.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
        if p.status != pay.PENDING or p.provider_ref is not None:
            return
        expires = now + timedelta(seconds=created.activation_timeout_s)
        p.provider_ref, p.link, p.merchant_ref = created.payment_id, created.link, str(payment_id)
        p.provider_status, p.expires_at = "QrTokenCreated", expires
        p.give_up_at = expires + timedelta(seconds=created.confirmation_timeout_s) + GIVE_UP_MARGIN
        p.check_interval_s = created.polling_interval_s
        p.next_check_at = now + timedelta(seconds=created.polling_interval_s)
        p.updated_at = now
        booking = s.get(Booking, p.booking_id)
        tz = av.shop_view(s, p.shop_id).spec.timezone
        reply = Reply((Msg(LINK, {"amount": m.money(p.amount_minor, p.currency), "link": created.link}),
                       Msg(LINK_UNTIL, {"time": m.clock(expires, tz)})))  # fmt: skip
        outbox.tell_customer(s, booking, reply, dedupe_key=f"payment:{payment_id}:link", now=now)


# -- the poll job ----------------------------------------------------------------------------


def poll(payment_id: int, now: datetime | None = None) -> str | None:
    """Ask Kaspi where a link payment stands and apply the answer (called by
    `payments.reconcile_payments` at the payment's `next_check_at`)."""
    rt = _runtime()
    now = now or rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        p = s.get(Payment, payment_id)
        if p is None or p.status != pay.PENDING:
            return None
        ref, state, give_up, expires = p.provider_ref, p.provider_status, p.give_up_at, p.expires_at
        amount, interval = p.amount_minor, p.check_interval_s or DEFAULT_POLL_S
        spec = av.shop_view(s, p.shop_id).spec
    if ref is None:
        if state == "retry":
            create_link(payment_id, now)
        elif give_up is not None and now >= give_up:
            pay.fail(rt.db, payment_id, Why.NOT_STARTED, "no_link", now, "the link was never created")
        return None
    try:
        env = KaspiApi(rt.settings.kaspi_api_base, config_for(rt.settings, spec)).status(ref)
    except MissingSetting as exc:
        env = Envelope(0, None, str(exc), None)
    verdict = judge_status(env, amount, now, expires, give_up)
    if isinstance(verdict, StillPending):
        if give_up is not None and now >= give_up:  # only an unanswered poll is still asking: slower now
            interval = max(interval, LATE_POLL_S)
        pay.reschedule(rt.db, payment_id, now + timedelta(seconds=interval), now, provider_status=verdict.status)
        return f"pending: {verdict.status}"
    with session_of(rt.db) as s:
        booking, p = pay.lock(s, payment_id)
        if p.status != pay.PENDING:
            return f"ignored: payment already {p.status}"
        if isinstance(verdict, Mismatch):
            p.next_check_at, p.provider_status = None, "refused"
            pay.report_refused(s, booking, "kaspi_qr", pay.amount_reason(verdict.got_minor, p.amount_minor, p.currency),
                               key=f"payment:{payment_id}:refused", now=now)  # fmt: skip
            return "refused: amount"
        pay.note_raw(p, "status", {"StatusCode": env.status_code, "Data": env.data}, now)
        if isinstance(verdict, Paid):
            pay.settle_paid(s, booking, p, now, receipt=verdict.receipt, actor="system:kaspi")
            return "applied: paid"
        pay.settle_failed(s, booking, p, now, kind=verdict.why, code=verdict.code)
        return f"applied: failed {verdict.code}"


def returns_by_itself() -> bool:
    """Does Kaspi return QR payments when asked (scheme r3), or does the owner?"""
    return scheme_of(_runtime().settings.kaspi_api_base) == "r3"


def refund(payment_id: int, now: datetime | None = None) -> bool:
    """Return a refund_due Kaspi QR payment through /payment/return (scheme r3 only; on
    r1/r2 the owner refunds by hand, as they were told). True when Kaspi took it."""
    rt = _runtime()
    now = now or rt.now()
    if scheme_of(rt.settings.kaspi_api_base) != "r3":
        return False
    with rt.db.uow() as uow:
        s = uow.session
        p = s.get(Payment, payment_id)
        if p is None or p.provider != "kaspi_qr" or p.status != pay.REFUND_DUE or p.provider_ref is None:
            return False
        spec = av.shop_view(s, p.shop_id).spec
        try:
            cfg = config_for(rt.settings, spec)
        except MissingSetting as exc:
            log.warning("payment %s: no automatic Kaspi refund: %s", payment_id, exc)
            _ask_owner(s, s.get(Booking, p.booking_id), p, OWNER_RETURN_BY_HAND, "by-hand", now)
            return False
        claimed = s.execute(update(Payment).where(Payment.id == payment_id, Payment.status == pay.REFUND_DUE)
                            .values(status=pay.REFUNDING, updated_at=now)).rowcount  # fmt: skip
        if not claimed:
            return False
        ref, amount = p.provider_ref, p.amount_minor
    env = KaspiApi(rt.settings.kaspi_api_base, cfg).refund(ref, amount)
    with session_of(rt.db) as s:
        booking, p = pay.lock(s, payment_id)
        if p.status != pay.REFUNDING:
            return False
        if not env.ok and env.status_code is None:  # no answer: Kaspi may have returned it, or not
            log.warning("payment %s: no answer from Kaspi about the return (%s)", payment_id, env.message)
            _ask_owner(s, booking, p, OWNER_RETURN_UNKNOWN, "return-unknown", now)
            return False
        if not env.ok:
            p.status, p.updated_at = pay.REFUND_DUE, now
            log.warning("payment %s: Kaspi refused the refund: StatusCode %s", payment_id, env.status_code)
            _ask_owner(s, booking, p, OWNER_RETURN_BY_HAND, "by-hand", now)
            return False
        operation = env.data.get("ReturnOperationId") if isinstance(env.data, dict) else None
        p.status, p.updated_at = pay.REFUNDED, now
        p.failure_reason = f"returned by Kaspi, operation {operation}"
        money = m.money(p.amount_minor, p.currency)
        notices.status_notice(s, booking, Reply((Msg(REFUNDED, {"amount": money, "code": booking.code}),)),
                              f"payment:{payment_id}:refunded", now, money=True)  # fmt: skip
        notices.tell_owners(s, booking.shop_id, Reply((Msg(OWNER_REFUNDED, {"amount": money, "code": booking.code}),)),
                        key=f"payment:{payment_id}:refunded", now=now)  # fmt: skip
        return True


def _ask_owner(session, booking: Booking, p: Payment, said: str, why: str, now: datetime) -> None:
    """Kaspi would not (or may not have) returned it: the owner, told it would, is asked
    to see to it after all, once per payment and `why`."""
    notices.tell_owners(session, booking.shop_id, Reply((Msg(said, {
        "amount": m.money(p.amount_minor, p.currency), "code": booking.code}),)), key=f"payment:{p.id}:{why}", now=now)  # fmt: skip


# -- pure: the classic check/pay protocol -----------------------------------------------------


class Result(IntEnum):
    """The QIWI/OSMP result table (PROTOCOLS.md 2.2, ABillS paysys)."""

    OK = 0
    TEMPORARY = 1  # try again later
    BAD_ACCOUNT = 4  # wrong account format
    NOT_FOUND = 5  # account not found
    FORBIDDEN = 7  # payment forbidden (here: nothing left to pay)
    INACTIVE = 79  # account inactive (cancelled, no-show, hold gone and slot taken)
    TOO_SMALL = 241
    TOO_LARGE = 242
    OTHER = 300


@dataclass(frozen=True)
class ClassicAnswer:
    txn_id: str
    result: Result
    comment: str
    sum_minor: int | None = None
    prv_txn: str | None = None


class ClassicError(ValueError):
    def __init__(self, result: Result, comment: str):
        super().__init__(comment)
        self.result = result
        self.comment = comment


@dataclass(frozen=True)
class ClassicRequest:
    command: str  # check | pay
    txn_id: str
    account: str
    sum_minor: int | None
    txn_date: str | None = None

    @staticmethod
    def parse(params: Mapping[str, str]) -> ClassicRequest:
        """command=check&txn_id=…&account=…&sum=… / command=pay&…&txn_date=YYYYMMDDHHmmss."""
        command = (params.get("command") or "").strip().lower()
        txn_id = (params.get("txn_id") or "").strip()
        if not re.fullmatch(r"\d{1,20}", txn_id):
            raise ClassicError(Result.OTHER, "txn_id must be 1 to 20 digits")
        if command not in ("check", "pay"):
            raise ClassicError(Result.OTHER, "unknown command")
        account = (params.get("account") or "").strip()
        if not account or len(account) > 64:
            raise ClassicError(Result.BAD_ACCOUNT, "empty or too long account")
        raw_sum = (params.get("sum") or "").strip()
        if raw_sum == "" and command == "check":
            amount = None
        elif re.fullmatch(r"\d{1,12}(\.\d{1,2})?", raw_sum):
            amount = int(Decimal(raw_sum) * 100)
        else:
            raise ClassicError(Result.OTHER, "sum must be like 1000 or 1000.00")
        if command == "pay" and not amount:
            raise ClassicError(Result.TOO_SMALL, "sum must be more than zero")
        txn_date = (params.get("txn_date") or "").strip() or None
        if command == "pay" and not (txn_date and re.fullmatch(r"\d{14}", txn_date)):
            raise ClassicError(Result.OTHER, "txn_date must be YYYYMMDDHHmmss")
        if command == "check" and not amount:
            amount = None  # "sum" may be absent or 0 on a check: we say how much is due
        return ClassicRequest(command, txn_id, account, amount, txn_date)


def booking_code(account: str) -> str | None:
    """A booking code as a payer types it: "ZA-1042", "za1042", "ZA 1042" → "ZA-1042"."""
    found = re.fullmatch(r"([A-Za-z]{1,4})[-\s]?(\d{1,9})", account.strip())
    return f"{found.group(1).upper()}-{found.group(2)}" if found else None


@dataclass(frozen=True)
class Payable:
    result: Result
    least: int = 0  # the smallest sum accepted (the deposit of a hold, else the balance)
    most: int = 0  # the largest: what is left of the price
    comment: str = "OK"


def payable(status: str, live: bool, slot_free: bool, first_due: int, owed: int, paid: int) -> Payable:
    """Can this booking take money now, and how much?"""
    status = S(status)
    left = owed - paid
    if status in (S.CANCELLED, S.NO_SHOW):
        return Payable(Result.INACTIVE, comment="booking is no longer active")
    if status in (S.HELD, S.EXPIRED) and not live and not slot_free:
        return Payable(Result.INACTIVE, comment="the hold ran out and the time is taken")
    if left <= 0:
        return Payable(Result.FORBIDDEN, comment="booking is already paid")
    if status in (S.HELD, S.EXPIRED):
        least = max(min(first_due, owed) - paid, 0) or left
        return Payable(Result.OK, least, left)
    return Payable(Result.OK, left, left)


def check_sum(p: Payable, sum_minor: int | None) -> Payable:
    if p.result != Result.OK or sum_minor is None:
        return p
    if sum_minor < p.least:
        return Payable(Result.TOO_SMALL, p.least, p.most, "sum is less than the amount due")
    if sum_minor > p.most:
        return Payable(Result.TOO_LARGE, p.least, p.most, "sum is more than the amount due")
    return p


def render(answer: ClassicAnswer, fmt: str) -> tuple[str, str]:
    """The answer document: <response> XML (the older Java implementation) or JSON."""
    fields: list[tuple[str, Any]] = [("txn_id", answer.txn_id)]
    if answer.prv_txn is not None:
        fields.append(("prv_txn", answer.prv_txn))
    if answer.sum_minor is not None:
        fields.append(("sum", f"{Decimal(answer.sum_minor) / 100:.2f}"))
    fields += [("result", int(answer.result)), ("comment", answer.comment)]
    if fmt == "json":
        import json

        data = {k: (float(v) if k == "sum" else v) for k, v in fields}
        return json.dumps(data, ensure_ascii=False), "application/json"
    body = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<response>{body}</response>\n', "application/xml; charset=utf-8"


def source_allowed(address: str | None, allowed: list[str]) -> bool:
    """Is the caller's address on the shop's list (single addresses or networks)? An
    IPv4 caller seen through an IPv6 socket (::ffff:194.187.247.152) is its IPv4 self."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(str(entry).strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def source_address(remote_addr: str | None, forwarded_for: str | None, trust_forwarded: bool) -> str | None:
    """The caller: the socket's peer, or — behind our own proxy, when the shop file says
    so — the last address that proxy appended to X-Forwarded-For (never the first, which
    the caller writes)."""
    if trust_forwarded and forwarded_for:
        return forwarded_for.split(",")[-1].strip()
    return remote_addr


# -- the classic protocol: services -------------------------------------------------------------


@dataclass(frozen=True)
class ClassicShop:
    shop_id: int
    slug: str
    prefix: str
    table: dict
    format: str


def classic_shop(db: Database | Session, slug: str) -> ClassicShop | None:
    """The shop behind /webhooks/kaspi/<slug>, if it takes Kaspi."""
    with session_of(db) as s:
        shop_id = s.scalar(select(Shop.id).where(Shop.slug == slug))
        if shop_id is None:
            return None
        spec = av.shop_view(s, shop_id).spec
        table = spec.providers.get("kaspi")
        if not table or "kaspi" not in spec.payment_methods:
            return None
        return ClassicShop(shop_id, spec.slug, spec.code_prefix, dict(table), table.get("response_format", "xml"))


def classic_denied(settings: Settings, shop: ClassicShop, address: str | None, username: str | None,
                   password: str | None) -> str | None:  # fmt: skip
    """Why this caller may not use the shop's check/pay endpoint, or None. The shop's
    allowed source addresses and its login and password (HTTP Basic), whichever it has;
    a shop with neither is not served at all."""
    import hmac

    allowed = shop.table.get("allowed_ips") or []
    login_env, password_env = shop.table.get("classic_login_env"), shop.table.get("classic_password_env")
    if not allowed and not (login_env and password_env):
        return "no allowed_ips and no classic credentials in the shop file"
    if allowed and not source_allowed(address, allowed):
        return "source address not allowed"
    if login_env and password_env:
        why = f"Kaspi check/pay of {shop.slug}"
        login, secret = settings.secret(login_env, why), settings.secret(password_env, why)
        if not (hmac.compare_digest((username or "").encode(), login.encode())
                and hmac.compare_digest((password or "").encode(), secret.encode())):  # fmt: skip
            return "wrong credentials"
    return None


def classic_record(db: Database | Session, shop: ClassicShop, params: Mapping[str, str], raw_query: str,
                   now: datetime) -> int:  # fmt: skip
    """Store the request raw, before anything acts on it; its id in the inbox. Kaspi's
    repeat of a request is the same row; the same txn_id with other content is a new
    one (and is refused)."""
    import hashlib

    content = "&".join(f"{k}={params[k]}" for k in sorted(params))
    fingerprint = hashlib.sha256(content.encode()).hexdigest()[:12]
    key = f"{shop.slug}:{params.get('command') or '-'}:{params.get('txn_id') or '-'}:{fingerprint}"
    with session_of(db) as s:
        rec = inbox.record(s, source=SOURCE, external_id=key[:200], payload=raw_query[:100_000], now=now,
                           shop_id=shop.shop_id)  # fmt: skip
        return rec.inbox_id


def classic_handle(db: Database | Session, shop: ClassicShop, params: Mapping[str, str], inbox_id: int,
                   now: datetime) -> ClassicAnswer:  # fmt: skip
    """Answer one check or pay; the outcome is noted on the inbox row."""
    txn_id = (params.get("txn_id") or "").strip()[:20]
    try:
        req = ClassicRequest.parse(params)
    except ClassicError as exc:
        answer = ClassicAnswer(txn_id, exc.result, exc.comment)
        _note(db, inbox_id, f"refused: {exc.comment}", now)
        return answer
    if req.command == "check":
        answer = _check(db, shop, req, now)
        _note(db, inbox_id, f"check: {answer.result.name.lower()}", now)
        return answer
    with session_of(db) as s:
        answer, outcome = _pay(s, shop, req, now)
        _mark_once(s, inbox_id, outcome, now)
        return answer


def _note(db: Database | Session, inbox_id: int, outcome: str, now: datetime) -> None:
    with session_of(db) as s:
        _mark_once(s, inbox_id, outcome, now)


def _mark_once(s: Session, inbox_id: int, outcome: str, now: datetime) -> None:
    """Note the outcome of the first handling; Kaspi's repeats keep it."""
    row = s.get(InboxUpdate, inbox_id)
    if row.processed_at is None:
        inbox.mark(s, inbox_id, outcome, now)


def _find_booking(s: Session, shop: ClassicShop, account: str) -> tuple[Result, int | None]:
    code = booking_code(account)
    if code is None:
        return Result.BAD_ACCOUNT, None
    booking_id = s.scalar(select(Booking.id).where(Booking.shop_id == shop.shop_id, Booking.code == code))
    return (Result.OK, booking_id) if booking_id is not None else (Result.NOT_FOUND, None)


def _payable_now(s: Session, booking: Booking, now: datetime) -> Payable:
    live = pay.hold_live(booking, now)
    slot_free = False
    if booking.status in (S.HELD, S.EXPIRED) and not live:
        slot_free = pay.late_slot(s, av.shop_view(s, booking.shop_id), booking, now) is not None
    owed = pay.amount_owed(booking)
    return payable(booking.status, live, slot_free, booking.deposit_minor or owed, owed,
                   pay.paid_total(s, booking.id))  # fmt: skip


def _check(db: Database | Session, shop: ClassicShop, req: ClassicRequest, now: datetime) -> ClassicAnswer:
    """Is the booking payable, and for how much? Read-only."""
    with session_of(db) as s:
        found, booking_id = _find_booking(s, shop, req.account)
        if booking_id is None:
            comment = "account not found" if found == Result.NOT_FOUND else "wrong account format"
            return ClassicAnswer(req.txn_id, found, comment)
        booking = s.get(Booking, booking_id)
        verdict = check_sum(_payable_now(s, booking, now), req.sum_minor)
        if verdict.result != Result.OK:
            return ClassicAnswer(req.txn_id, verdict.result, verdict.comment)
        local = booking.starts_at.astimezone(av.shop_view(s, booking.shop_id).tz)
        return ClassicAnswer(req.txn_id, Result.OK, f"{booking.code} {local:%Y-%m-%d %H:%M}", verdict.least)


def _pay(s: Session, shop: ClassicShop, req: ClassicRequest, now: datetime) -> tuple[ClassicAnswer, str]:
    """Record the payment once per txn_id, under the booking's locks, and apply it."""
    existing = s.scalar(select(Payment).where(Payment.provider == "kaspi", Payment.provider_ref == req.txn_id))
    if existing is not None:
        return _repeat(s, existing, req)
    found, booking_id = _find_booking(s, shop, req.account)
    if booking_id is None:
        comment = "account not found" if found == Result.NOT_FOUND else "wrong account format"
        return ClassicAnswer(req.txn_id, found, comment), f"refused: {comment}"
    booking = locked_booking(s, booking_id)
    existing = s.scalar(select(Payment).where(Payment.provider == "kaspi", Payment.provider_ref == req.txn_id)
                        .with_for_update().execution_options(populate_existing=True))  # fmt: skip
    if existing is not None:  # the same txn_id, applied while we waited for the lock
        return _repeat(s, existing, req)
    verdict = check_sum(_payable_now(s, booking, now), req.sum_minor)
    if verdict.result != Result.OK:
        if verdict.result in (Result.TOO_SMALL, Result.TOO_LARGE):
            pay.report_refused(s, booking, "kaspi", pay.amount_reason(req.sum_minor, verdict.least, booking.currency),
                               key=f"kaspi-pay:{shop.slug}:{req.txn_id}:refused", now=now)  # fmt: skip
        return ClassicAnswer(req.txn_id, verdict.result, verdict.comment), f"refused: {verdict.comment}"
    purpose = "balance" if booking.status in pay.ACTIVE else (
        "full" if req.sum_minor >= pay.amount_owed(booking) else "deposit")
    payment = Payment(shop_id=booking.shop_id, booking_id=booking.id, provider="kaspi", purpose=purpose,
                      amount_minor=req.sum_minor, currency=booking.currency, status=pay.PENDING,
                      provider_ref=req.txn_id, merchant_ref=req.txn_date, raw_callbacks=[], checks=0,
                      requested_at=now, created_at=now, updated_at=now)  # fmt: skip
    try:
        with s.begin_nested():
            s.add(payment)
            s.flush()
    except IntegrityError:  # another process recorded this txn_id a moment ago
        existing = s.scalar(select(Payment).where(Payment.provider == "kaspi", Payment.provider_ref == req.txn_id))
        return _repeat(s, existing, req)
    pay.note_raw(payment, "pay", {"txn_id": req.txn_id, "txn_date": req.txn_date, "account": req.account,
                                  "sum": req.sum_minor}, now)  # fmt: skip
    settled = pay.settle_paid(s, booking, payment, now, receipt=req.txn_id, actor="system:kaspi")
    answer = ClassicAnswer(req.txn_id, Result.OK, "OK", req.sum_minor, str(payment.id))
    return answer, f"applied: paid, prv_txn {payment.id} ({settled})"


def _repeat(s: Session, existing: Payment, req: ClassicRequest) -> tuple[ClassicAnswer, str]:
    """A txn_id seen before: the same prv_txn if it is the same payment; refused if the
    txn_id now comes with another account or sum."""
    code = s.scalar(select(Booking.code).where(Booking.id == existing.booking_id))
    if existing.amount_minor != req.sum_minor or booking_code(req.account) != code:
        comment = "txn_id already used for another payment"
        return ClassicAnswer(req.txn_id, Result.OTHER, comment), f"refused: {comment}"
    return ClassicAnswer(req.txn_id, Result.OK, "OK", existing.amount_minor, str(existing.id)), \
        f"duplicate: prv_txn {existing.id}"  # fmt: skip
