"""Local fake of Twilio Programmable Messaging (WhatsApp) — ``https://api.twilio.com/2010-04-01``.

Imitates ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form: To, From, Body,
ContentSid, ContentVariables, MediaUrl (repeatable), StatusCallback, MessagingServiceSid),
``GET .../Messages/{Sid}.json`` and ``GET .../Messages/{Sid}/Media/{Sid}`` (an inbound photo,
``add_media``), checking HTTP Basic auth (AccountSid:AuthToken) and answering the real
Message resource JSON (``sid`` = "SM"/"MM" + 32 hex, ``status`` "queued", RFC 2822 dates,
``num_media``/``num_segments`` as strings, ``direction`` "outbound-api", ...) with 201, or
Twilio's legacy error JSON ``{"code", "message", "more_info", "status"}``.

Follows PROTOCOLS.md section 3 ("Twilio WhatsApp"): 3.1 (inbound webhook form fields, in the
order of real captures), 3.2 (``X-Twilio-Signature``: HMAC-SHA1 over the full URL + sorted
params, empty params count), 3.3 (status callbacks: fields, ``EventType``, masked
``ChannelToAddress``, ``ErrorCode`` on failed/undelivered, no callback for the initial status)
and 3.4 (24-hour window: free-form outside it fails with 63016; templates go by ContentSid
``HX`` + 32 hex with ``ContentVariables`` as a JSON string).

Point the real twilio 9.x client at it with an ``http_client`` that rewrites the host (twilio
builds absolute ``https://api.twilio.com/...`` URLs in generated code; the http client is the one
clean seam)::

    from twilio.rest import Client
    from pitstop.fakes.twilio import FakeTwilio, TwilioBaseUrlHttpClient

    with FakeTwilio() as fake:
        client = Client(fake.account_sid, fake.auth_token,
                        http_client=TwilioBaseUrlHttpClient(fake.url))
        # or simply: client = fake.client()
        client.messages.create(from_="whatsapp:+14155238886", to="whatsapp:+254700000001",
                               body="Hi")

``TwilioBaseUrlHttpClient(base_url)`` is plain library code (no fake involved), so the
production sender can use it for ``TWILIO_API_BASE`` too.

Misbehaviour and extras:

* ``fail_next(n, status=429)`` → ``{"code": 20429, "message": "Too Many Requests", ...}``;
  5xx → 20500/20503; or any ``code``/``message`` (e.g. 400 + 21610 unsubscribed recipient).
* ``enforce_session_window=True``: a free-form message (Body/MediaUrl without ContentSid) to a
  WhatsApp user with no inbound message in the last 24 h is accepted (201 queued) and then fails
  with ErrorCode 63016, like Twilio. Open a session with ``open_session("whatsapp:+2547...")``
  (``post_inbound`` does it for you).
* Status callbacks: ``send_status(sid, "delivered")`` or ``auto_status=("sent", "delivered",
  "read")`` post the real form to the message's StatusCallback, signed with
  ``RequestValidator(auth_token)``.
* Validation errors with Twilio codes: 21604 (To missing), 21603 (From missing), 21602 (no
  Body/MediaUrl/ContentSid), 21617 (Body > 1600 chars), 21211 (bad To), 21910 (From/To channel
  mismatch), 63007 (unknown WhatsApp sender when ``senders`` is set), 21655/21656 (bad ContentSid
  / ContentVariables not a JSON object, or a value empty, not a string, or holding a newline,
  a tab or more than four spaces in a row).

Inbound helpers: ``signed_inbound(url, auth_token, params) -> (headers, form)`` and builders
``inbound_text_params`` / ``inbound_button_params`` that produce the field set and order of
fixtures/twilio/inbound_whatsapp_*.form.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Sequence
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests as _requests
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Request, Response

from .server import Failure, FakeServer, RecordedRequest, json_response

__all__ = [
    "FakeTwilio",
    "TwilioBaseUrlHttpClient",
    "inbound_button_params",
    "inbound_text_params",
    "new_sid",
    "signed_inbound",
]

API_VERSION = "2010-04-01"
SANDBOX_SENDER = "whatsapp:+14155238886"
SESSION_WINDOW_SECONDS = 24 * 3600
MAX_BODY = 1600
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_CONTENT_SID = re.compile(r"^HX[0-9a-f]{32}$")


def _fit_variable(value) -> bool:
    """What Twilio accepts as a template variable's value (error 21656 otherwise): a
    non-empty string with no newline, no tab and no more than four spaces in a row."""
    return isinstance(value, str) and value != "" and not any(c in value for c in "\n\t") and "     " not in value


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two-letter prefix + 32 lowercase hex characters."""
    return prefix + secrets.token_hex(16)


def _rfc2822(ts: float | None = None) -> str:
    return formatdate(ts if ts is not None else time.time(), usegmt=False).replace("-0000",
                                                                                   "+0000")


class TwilioBaseUrlHttpClient(TwilioHttpClient):
    """twilio ``HttpClient`` that sends every ``https://*.twilio.com`` request to ``base_url``.

    ``https://api.twilio.com/2010-04-01/Accounts/AC.../Messages.json`` becomes
    ``{base_url}/2010-04-01/Accounts/AC.../Messages.json``. The path and query are kept.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host == "twilio.com" or host.endswith(".twilio.com"):
            base = urlsplit(self.base_url)
            path = base.path.rstrip("/") + parts.path
            return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))
        return url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # noqa: D102
        return super().request(method, self.rewrite(url), *args, **kwargs)


# --------------------------------------------------------------------------- inbound helpers
def signed_inbound(url: str, auth_token: str, params: dict[str, Any]
                   ) -> tuple[dict[str, str], dict[str, str]]:
    """Sign a form post the way Twilio does. Returns ``(headers, form)``.

    ``url`` must be the full public URL Twilio requested (scheme, host, port, path, query).
    ``form`` keeps the given order and all values, including empty ones (``Body=""`` is signed).
    """
    form = {k: "" if v is None else str(v) for k, v in params.items()}
    signature = RequestValidator(auth_token).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature,
               "Content-Type": "application/x-www-form-urlencoded",
               "User-Agent": "TwilioProxy/1.1",
               "I-Twilio-Idempotency-Token": secrets.token_hex(16)}
    return headers, form


def _digits(address: str) -> str:
    return re.sub(r"\D", "", address)


def inbound_text_params(from_: str, body: str, to: str = SANDBOX_SENDER,
                        account_sid: str = "AC00000000000000000000000000000001",
                        profile_name: str = "Asel K", message_sid: str | None = None,
                        message_type: str = "text") -> dict[str, str]:
    """Form fields of an inbound WhatsApp text, in the order of inbound_whatsapp_text.form.

    ``from_``/``to`` are ``whatsapp:+<E.164>`` (a bare ``+E.164`` gets the prefix).
    """
    from_ = from_ if from_.startswith("whatsapp:") else f"whatsapp:{from_}"
    to = to if to.startswith("whatsapp:") else f"whatsapp:{to}"
    sid = message_sid or new_sid("SM")
    return {
        "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": profile_name,
        "MessageType": message_type, "SmsSid": sid, "WaId": _digits(from_),
        "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1",
        "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": account_sid,
        "From": from_, "ApiVersion": API_VERSION,
    }


def inbound_media_params(from_: str, body: str, media_url: str | Sequence[str | tuple[str, str]],
                         content_type: str = "image/jpeg", message_type: str = "image", **kw: str) -> dict[str, str]:
    """Form fields of an inbound WhatsApp message carrying a file (a photo by default), or
    several: ``media_url`` a list of addresses (each of ``content_type``) or of
    ``(address, content type)`` pairs, posted as MediaUrl0, MediaUrl1... in that order;
    its words (if any) the Body: as inbound_text_params, with the media fields."""
    files = [media_url] if isinstance(media_url, str) else list(media_url)
    media = [(f, content_type) if isinstance(f, str) else f for f in files]
    fields = {"NumMedia": str(len(media))}
    for i, (url, kind) in enumerate(media):
        fields |= {f"MediaContentType{i}": kind, f"MediaUrl{i}": url}
    return inbound_text_params(from_, body, message_type=message_type, **kw) | fields


def inbound_button_params(from_: str, button_text: str, button_payload: str,
                          original_message_sid: str, to: str = SANDBOX_SENDER,
                          account_sid: str = "AC00000000000000000000000000000001",
                          profile_name: str = "Asel K", message_sid: str | None = None
                          ) -> dict[str, str]:
    """Form fields of a quick-reply tap, in the order of inbound_whatsapp_quick_reply.form.

    ``ButtonText`` (title, also in ``Body``), ``ButtonPayload`` (the button id you set) and
    ``OriginalRepliedMessageSid`` (your message that carried the buttons).
    """
    from_ = from_ if from_.startswith("whatsapp:") else f"whatsapp:{from_}"
    to = to if to.startswith("whatsapp:") else f"whatsapp:{to}"
    sid = message_sid or new_sid("SM")
    wa_id = _digits(from_)
    metadata = {"type": "whatsapp", "data": {"context": {
        "ButtonText": button_text, "Forwarded": "false", "FrequentlyForwarded": "false",
        "ProfileName": profile_name, "WaId": wa_id}}}
    return {
        "OriginalRepliedMessageSender": to,
        "SmsMessageSid": sid, "FrequentlyForwarded": "false", "NumMedia": "0",
        "ProfileName": profile_name, "MessageType": "interactive", "SmsSid": sid,
        "WaId": wa_id, "SmsStatus": "received", "Body": button_text, "Forwarded": "false",
        "ButtonText": button_text, "To": to, "ButtonPayload": button_payload,
        "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
        "AccountSid": account_sid, "OriginalRepliedMessageSid": original_message_sid,
        "ChannelMetadata": json.dumps(metadata, separators=(",", ":")),
        "From": from_, "ApiVersion": API_VERSION,
    }


def _mask(address: str) -> str:
    number = address.split(":", 1)[-1]
    return number[:-5] + "XXXXX" if len(number) > 6 else number


# --------------------------------------------------------------------------- the fake
class FakeTwilio(FakeServer):
    """Fake Twilio Messages API. See the module docstring.

    :param account_sid: default account (generated "AC" + 32 hex if omitted).
    :param auth_token: its auth token (generated if omitted). More: ``add_account``.
    :param senders: if given, the only WhatsApp/SMS ``From`` values accepted (63007 otherwise).
    :param enforce_session_window: emulate the WhatsApp 24 h customer-service window.
    :param auto_status: statuses to post automatically to StatusCallback after each create,
        e.g. ``("sent", "delivered", "read")``; ``status_delay`` seconds apart.
    :param content_templates: ``{ContentSid: template}`` (the Content API JSON shape, as in
        fixtures/twilio/content_template_*.json) used to render ``body`` for ContentSid sends.
    """

    name = "fake-twilio"

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None,
                 senders: list[str] | None = None, enforce_session_window: bool = False,
                 auto_status: tuple[str, ...] | list[str] = (), status_delay: float = 0.05,
                 content_templates: dict[str, dict] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.accounts: dict[str, str] = {self.account_sid: self.auth_token}
        self.senders = set(senders) if senders else None
        self.enforce_session_window = enforce_session_window
        self.auto_status = tuple(auto_status)
        self.status_delay = status_delay
        self.content_templates = dict(content_templates or {})
        self._messages: dict[str, dict] = {}
        self._order: list[str] = []
        self._sessions: dict[str, float] = {}
        self._status_posts: list[dict] = []
        self._timers: list[threading.Timer] = []
        self._media: dict[str, tuple[bytes, str]] = {}  # path -> (content, content type)

    # ------------------------------------------------------------------ config / helpers
    def add_account(self, account_sid: str, auth_token: str) -> None:
        with self._lock:
            self.accounts[account_sid] = auth_token

    def http_client(self, **kwargs: Any) -> TwilioBaseUrlHttpClient:
        return TwilioBaseUrlHttpClient(self.url, **kwargs)

    def client(self, account_sid: str | None = None, auth_token: str | None = None):
        """A real ``twilio.rest.Client`` pointed at this fake."""
        from twilio.rest import Client

        sid = account_sid or self.account_sid
        return Client(sid, auth_token or self.accounts[sid], http_client=self.http_client())

    def fail_next(self, n: int = 1, status: int = 429, code: int | None = None,
                  message: str | None = None, more_info: str | None = None,
                  **options: Any) -> None:
        """Answer the next ``n`` API requests with a Twilio error JSON."""
        super().fail_next(n, status=status, code=code, message=message, more_info=more_info,
                          **options)

    def add_media(self, content: bytes, content_type: str = "image/jpeg", account_sid: str | None = None) -> str:
        """A photo as if a WhatsApp user had sent it: the ``MediaUrl0`` Twilio posts with the
        message (``https://api.twilio.com/...``), served here to HTTP Basic auth of the account."""
        path = f"/{API_VERSION}/Accounts/{account_sid or self.account_sid}/Messages/{new_sid('MM')}/Media/{new_sid('ME')}"
        with self._lock:
            self._media[path] = (content, content_type)
        return f"https://api.twilio.com{path}"

    def open_session(self, address: str, at: float | None = None) -> None:
        """Record an inbound message from ``address`` (opens the 24 h window)."""
        with self._lock:
            self._sessions[self._norm(address)] = time.time() if at is None else at

    def close_session(self, address: str) -> None:
        with self._lock:
            self._sessions.pop(self._norm(address), None)

    def in_session(self, address: str, now: float | None = None) -> bool:
        with self._lock:
            at = self._sessions.get(self._norm(address))
        return at is not None and (now or time.time()) - at < SESSION_WINDOW_SECONDS

    @staticmethod
    def _norm(address: str) -> str:
        return address if address.startswith("whatsapp:") else f"whatsapp:{address}"

    def messages(self, to: str | None = None) -> list[dict]:
        """Messages created (in order): ``{"sid", "params" (form as sent), "resource"
        (current JSON), "statuses" (callbacks posted), "warnings"}``."""
        with self._lock:
            out = [self._messages[sid] for sid in self._order]
            out = [dict(m, resource=dict(m["resource"]), statuses=list(m["statuses"]))
                   for m in out]
        if to is not None:
            out = [m for m in out if m["params"].get("To") == to]
        return out

    def last_message(self) -> dict | None:
        msgs = self.messages()
        return msgs[-1] if msgs else None

    def status_posts(self) -> list[dict]:
        """Status changes, in order: ``{"message_sid", "status", "url", "form", "headers",
        "status_code", "error"}``. ``url`` is None (nothing posted) when the message had no
        StatusCallback; the resource's status still changes."""
        with self._lock:
            return list(self._status_posts)

    def wait_status_posts(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = self.status_posts()
            if len(posts) >= count:
                return posts
            time.sleep(0.01)
        raise TimeoutError(f"{len(self.status_posts())}/{count} status callbacks posted")

    def post_inbound(self, url: str, params: dict[str, Any], auth_token: str | None = None,
                     signed_url: str | None = None, timeout: float = 10) -> _requests.Response:
        """Sign and POST an inbound webhook to your app like Twilio does; opens the session
        window for ``params["From"]``. ``signed_url`` is the public URL to sign (defaults to
        ``url``; set it when the app rebuilds the URL from PUBLIC_BASE_URL)."""
        headers, form = signed_inbound(signed_url or url, auth_token or self.auth_token, params)
        if form.get("From"):
            self.open_session(form["From"])
        return _requests.post(url, data=form, headers=headers, timeout=timeout)

    def send_status(self, message_sid: str, status: str, error_code: int | None = None,
                    url: str | None = None, timeout: float = 10) -> dict:
        """POST one signed status callback for a created message. Returns the post record."""
        with self._lock:
            entry = self._messages[message_sid]
            target = url or entry["params"].get("StatusCallback")
            token = self.accounts[entry["resource"]["account_sid"]]
            form = self._status_form(entry, status, error_code)
            entry["resource"]["status"] = status
            entry["resource"]["date_updated"] = _rfc2822()
            if status in ("sent", "delivered", "read") and not entry["resource"]["date_sent"]:
                entry["resource"]["date_sent"] = _rfc2822()
            if error_code is not None:
                entry["resource"]["error_code"] = error_code
            entry["statuses"].append(status)
        record: dict[str, Any] = {"message_sid": message_sid, "url": target, "form": form,
                                  "status": status, "status_code": None, "error": None}
        if target:
            signature = RequestValidator(token).compute_signature(target, form)
            headers = {"X-Twilio-Signature": signature,
                       "Content-Type": "application/x-www-form-urlencoded",
                       "User-Agent": "TwilioProxy/1.1"}
            record["headers"] = headers
            try:
                resp = _requests.post(target, data=form, headers=headers, timeout=timeout)
                record["status_code"] = resp.status_code
            except _requests.RequestException as exc:
                record["error"] = repr(exc)
        with self._lock:
            self._status_posts.append(record)
        return record

    def _status_form(self, entry: dict, status: str, error_code: int | None) -> dict[str, str]:
        res = entry["resource"]
        to, from_ = res["to"], res["from"]
        if to.startswith("whatsapp:"):
            form = {"ChannelPrefix": "whatsapp", "ApiVersion": API_VERSION,
                    "MessageStatus": status, "SmsSid": res["sid"], "SmsStatus": status,
                    "ChannelInstallSid": entry["channel_install_sid"], "To": to,
                    "From": from_, "MessageSid": res["sid"], "AccountSid": res["account_sid"],
                    "ChannelToAddress": _mask(to)}
            if status == "sent":
                form["StructuredMessage"] = "false"
            if status in ("delivered", "read"):
                form["EventType"] = status.upper()
        else:
            form = {"SmsSid": res["sid"], "SmsStatus": status, "MessageStatus": status,
                    "To": to, "MessageSid": res["sid"], "AccountSid": res["account_sid"],
                    "From": from_, "ApiVersion": API_VERSION}
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return form

    def _schedule(self, sid: str, steps: list[tuple[str, int | None]]) -> None:
        def run() -> None:
            for status, code in steps:
                if self._stopping.is_set():
                    return
                time.sleep(self.status_delay)
                self.send_status(sid, status, code)

        timer = threading.Timer(0, run)
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def on_stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for t in timers:
            t.cancel()

    # ------------------------------------------------------------------ HTTP
    @staticmethod
    def _error(status: int, code: int, message: str, more_info: str | None = None) -> Response:
        return json_response({"code": code, "message": message,
                              "more_info": more_info or f"https://www.twilio.com/docs/errors/{code}",
                              "status": status}, status=status)

    def error_response(self, failure: Failure, rec: RecordedRequest) -> Response:
        opts = failure.options
        defaults = {429: (20429, "Too Many Requests"), 500: (20500, "Internal Server Error"),
                    502: (20500, "Bad Gateway"), 503: (20503, "Service Unavailable"),
                    400: (21211, "Invalid 'To' Phone Number"),
                    401: (20003, "Authenticate")}
        code, message = defaults.get(failure.status, (failure.status * 100, "Error"))
        return self._error(failure.status, opts.get("code") or code,
                           opts.get("message") or message, opts.get("more_info"))

    def _auth(self, request: Request, path_sid: str) -> Response | None:
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return json_response({"code": 20003, "detail": "Your AccountSid or AuthToken was "
                                  "incorrect.", "message": "Authenticate",
                                  "more_info": "https://www.twilio.com/docs/errors/20003",
                                  "status": 401}, status=401)
        token = self.accounts.get(auth.username or "")
        if token is None or not secrets.compare_digest(token, auth.password or ""):
            return json_response({"code": 20003, "detail": "Your AccountSid or AuthToken was "
                                  "incorrect.", "message": "Authentication Error - invalid "
                                  "username", "more_info": "https://www.twilio.com/docs/errors/"
                                  "20003", "status": 401}, status=401)
        if auth.username != path_sid:
            return self._error(404, 20404, f"The requested resource /{API_VERSION}/Accounts/"
                                           f"{path_sid}/Messages.json was not found")
        return None

    def handle(self, rec: RecordedRequest, request: Request) -> Response:
        media = re.match(rf"^/{API_VERSION}/Accounts/([^/]+)/Messages/[^/]+/Media/[^/.]+$", rec.path)
        if media and rec.method == "GET":
            return self._inbound_media(rec, request, media.group(1))
        m = re.match(rf"^/{API_VERSION}/Accounts/([^/]+)/Messages(?:/([^/]+))?\.json$",
                     rec.path)
        if not m:
            return self._error(404, 20404, f"The requested resource {rec.path} was not found")
        denied = self._auth(request, m.group(1))
        if denied is not None:
            return denied
        if m.group(2):
            if rec.method != "GET":
                return self._error(405, 20004, "Method not allowed")
            with self._lock:
                entry = self._messages.get(m.group(2))
                if entry is None:
                    return self._error(404, 20404, f"The requested resource {rec.path} was "
                                                   f"not found")
                return json_response(entry["resource"])
        if rec.method != "POST":
            return self._error(405, 20004, "Method not allowed")
        return self._create(m.group(1), rec)

    def _inbound_media(self, rec: RecordedRequest, request: Request, account_sid: str) -> Response:
        denied = self._auth(request, account_sid)
        if denied is not None:
            return denied
        with self._lock:
            found = self._media.get(rec.path)
        if found is None:
            return self._error(404, 20404, f"The requested resource {rec.path} was not found")
        return Response(found[0], status=200, content_type=found[1])

    def _render(self, content_sid: str, variables: dict) -> str:
        template = self.content_templates.get(content_sid)
        if not template:
            return ""
        types = template.get("types") or {}
        body = ""
        for kind in ("twilio/text", *types.keys()):
            if kind in types and types[kind].get("body"):
                body = types[kind]["body"]
                break
        merged = {**(template.get("variables") or {}), **variables}
        return re.sub(r"\{\{(\w+)\}\}", lambda mm: str(merged.get(mm.group(1), mm.group(0))),
                      body)

    def _create(self, account_sid: str, rec: RecordedRequest) -> Response:
        form = rec.form
        to = form.get("To")
        from_ = form.get("From")
        service = form.get("MessagingServiceSid")
        body = form.get("Body")
        media = rec.form_multi.get("MediaUrl", [])
        content_sid = form.get("ContentSid")
        warnings: list[str] = []
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not body and not media and not content_sid:
            return self._error(400, 21602, "Message body is required.")
        if body and len(body) > MAX_BODY:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 "
                                           "character limit.")
        to_wa = to.startswith("whatsapp:")
        if not _E164.match(to.split(":", 1)[1] if to_wa else to):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_:
            if from_.startswith("whatsapp:") != to_wa:
                return self._error(400, 21910, "Invalid From and To pair. From and To should "
                                               "be of the same channel")
            if self.senders is not None and from_ not in self.senders:
                return self._error(400, 63007, "Twilio could not find a Channel with the "
                                               "specified From address")
        variables: dict = {}
        if content_sid:
            if not _CONTENT_SID.match(content_sid):
                return self._error(400, 21655, "The ContentSid is Invalid")
            raw_vars = form.get("ContentVariables")
            if raw_vars:
                try:
                    variables = json.loads(raw_vars)
                except ValueError:
                    variables = None  # type: ignore[assignment]
                if not isinstance(variables, dict) or not all(_fit_variable(v) for v in variables.values()):
                    return self._error(400, 21656, "The ContentVariables Parameter is invalid")
            if body or media:
                warnings.append("Body/MediaUrl sent together with ContentSid (PROTOCOLS.md 3.4: "
                                "do not)")
        now = time.time()
        sid = new_sid("MM" if media else "SM")
        rendered = self._render(content_sid, variables) if content_sid else (body or "")
        resource = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": rendered,
            "date_created": _rfc2822(now),
            "date_sent": None,
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_ or None,
            "messaging_service_sid": service,
            "num_media": str(len(media)),
            "num_segments": "1" if to_wa else str(max(1, -(-len(rendered) // 153))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service and not from_ else "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json",
        }
        entry = {"sid": sid, "params": dict(form), "media": list(media), "resource": resource,
                 "statuses": [], "warnings": warnings, "created_at": now,
                 "channel_install_sid": "XE" + secrets.token_hex(16)}
        outside_window = (self.enforce_session_window and to_wa and not content_sid
                          and not self.in_session(to, now))
        answer = dict(resource)  # the API answers "queued"; failures come later
        with self._lock:
            self._messages[sid] = entry
            self._order.append(sid)
        if outside_window:
            entry["window_violation"] = True
            if self.auto_status:
                self._schedule(sid, [("failed", 63016)])
            else:
                with self._lock:
                    resource["status"] = "failed"
                    resource["error_code"] = 63016
                    resource["error_message"] = None
        elif self.auto_status:
            self._schedule(sid, [(s, None) for s in self.auto_status])
        return json_response(answer, status=201)
