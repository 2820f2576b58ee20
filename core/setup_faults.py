"""Why a payment could not be started, in words an owner reads in their own language.

A payment the provider refused to start is stored with a stable `failure_code` (Daraja's
errorCode, "kaspi <StatusCode>", or one of ours: "not_configured", "network") and, as
`failure_reason`, the provider's own words (Daraja's errorMessage, Kaspi's Message) or
our MissingSetting sentence. Those words are English (or Russian, for Kaspi) whatever
the owner reads, so the owner is told the kind of fault as a translated sentence, and
the provider's words only as a quoted detail for whoever takes it up with the provider.

Pure: `fault` reads the stored code and words, `to_mend` says whether the owners must
hear of it, and `owner_reason` makes the sentence.
Codes: PROTOCOLS.md 1.3 and 2.1, fixtures/mpesa/result_codes.json ("sync_error_codes"),
fixtures/kaspi/qr_api/status_codes.json (Appendix 3).
"""

from __future__ import annotations

import re
from enum import StrEnum

from core import messages as m
from core.i18n import N_
from core.messages import Msg


class Fault(StrEnum):
    MISSING = "missing"  # a secret or setting of ours is not set
    CREDENTIALS = "credentials"  # the provider refused the shop's keys, passkey or certificate
    SHORTCODE = "shortcode"  # M-Pesa: the shortcode (paybill or till) or its type is wrong
    DEVICE = "device"  # Kaspi: the shop's device (DeviceToken) is unknown or inactive
    TRADE_POINT = "trade_point"  # Kaspi: the trade point is missing, disabled or takes no QR payments
    CALLBACK = "callback"  # M-Pesa refused the address it would post the result to
    REQUEST = "request"  # any other request the provider calls invalid
    UNREACHABLE = "unreachable"  # no answer at all: nothing to quote
    PROVIDER = "provider"  # the provider's own fault (5xx, busy, Kaspi -999)
    OTHER = "other"  # an answer we do not know: its words are all there is


# The faults only the shop (or whoever runs Pitstop for it) can put right: see `to_mend`.
SETUP = frozenset({Fault.MISSING, Fault.CREDENTIALS, Fault.SHORTCODE, Fault.DEVICE, Fault.TRADE_POINT,
                   Fault.CALLBACK, Fault.REQUEST})  # fmt: skip

FAULT_TEXT = {
    Fault.MISSING: N_("the setting {setting} is not set on the server"),
    Fault.CREDENTIALS: N_("{provider} refused the shop's credentials"),
    Fault.SHORTCODE: N_("M-Pesa does not accept the shop's Paybill or Till number"),
    Fault.DEVICE: N_("Kaspi does not recognise the shop's device, or it is no longer active"),
    Fault.TRADE_POINT: N_("Kaspi does not take payments for the shop's trade point"),
    Fault.CALLBACK: N_("{provider} refused the address it should send the payment result to"),
    Fault.REQUEST: N_("{provider} refused the payment request as invalid"),
    Fault.UNREACHABLE: N_("{provider} could not be reached"),
    Fault.PROVIDER: N_("{provider} had a fault on its side"),
}
SAID = N_('{fault} (provider said: "{said}")')
OTHER_SAID = N_('{provider} gave this reason: "{said}"')
OTHER_SILENT = N_("{provider} gave no reason")

# Daraja's errorCodes for refused credentials: a token refused on the call (404.001.03, also
# seen as 400.003.01), consumer key and secret refused by the OAuth call (400.008.01).
MPESA_CREDENTIALS = frozenset({"404.001.03", "400.003.01", "400.008.01"})
# 400.002.02 is "Bad Request - Invalid <field>": the field says whose fault it is.
MPESA_FIELDS = {"businessshortcode": Fault.SHORTCODE, "partyb": Fault.SHORTCODE, "transactiontype": Fault.SHORTCODE,
                "callbackurl": Fault.CALLBACK}  # fmt: skip
KASPI = {-10000: Fault.CREDENTIALS, -1501: Fault.DEVICE, -1502: Fault.DEVICE, -1503: Fault.DEVICE,
         -14000002: Fault.TRADE_POINT, -99000002: Fault.TRADE_POINT, 990000018: Fault.TRADE_POINT,
         990000026: Fault.TRADE_POINT, 990000033: Fault.TRADE_POINT, 99000033: Fault.TRADE_POINT,  # both spellings seen
         -999: Fault.PROVIDER}  # fmt: skip
QUIET = frozenset({Fault.UNREACHABLE})  # its stored words are ours, not the provider's (as a missing setting's)
_MISSING = re.compile(r"environment variable (?:named by )?(\S+)")  # core.settings.MissingSetting
_FIELD = re.compile(r"invalid\s+(\w+)", re.IGNORECASE)


def fault(provider: str, code: str | None, said: str | None) -> Fault:
    """The kind of fault a refused start was, from its stored code (and, where one
    Daraja code covers several faults, the words that came with it)."""
    code, said = code or "", (said or "").lower()
    if code == "not_configured":
        return Fault.MISSING
    if provider == "mpesa":
        return _mpesa(code, said)
    if provider == "kaspi_qr" and code.startswith("kaspi "):
        status = code.removeprefix("kaspi ")
        return Fault.UNREACHABLE if status == "None" else KASPI.get(_int(status), Fault.OTHER)
    return Fault.OTHER


def _mpesa(code: str, said: str) -> Fault:
    if code == "network":
        return Fault.UNREACHABLE
    if code in MPESA_CREDENTIALS or code.startswith(("401", "403")) or (code == "500.001.1001" and "credentials" in said):
        return Fault.CREDENTIALS  # 500.001.1001 "Wrong credentials": the passkey does not fit the shortcode
    if code == "500.001.1001" and "merchant does not exist" in said:
        return Fault.SHORTCODE
    if code == "400.002.02" and (field := _FIELD.search(said)):
        return MPESA_FIELDS.get(field.group(1).lower(), Fault.REQUEST)
    if code.startswith("400"):
        return Fault.REQUEST
    if code.startswith(("429", "5")):
        return Fault.PROVIDER
    return Fault.OTHER


def to_mend(provider: str, code: str | None, kind: Fault) -> bool:
    """Whether the shop's owners are told: a set-up fault, or any other request M-Pesa
    refused as a bad one (a 4xx error code we do not know: its words are all they get).
    Not the provider down or busy (it passes), nor a customer's number M-Pesa cannot
    prompt (failed as "invalid_phone" before any call)."""
    return kind in SETUP or (provider == "mpesa" and kind == Fault.OTHER and (code or "").startswith("4"))


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def owner_reason(provider_name: str, kind: Fault, said: str | None) -> Msg:
    """The fault as the owner reads it, the provider's own words quoted after it."""
    said = (said or "").strip()
    if kind == Fault.OTHER:
        return Msg(OTHER_SAID, {"provider": provider_name, "said": said}) if said else \
            Msg(OTHER_SILENT, {"provider": provider_name})  # fmt: skip
    if kind == Fault.MISSING:
        found = _MISSING.search(said)
        return Msg(FAULT_TEXT[kind], {"setting": found.group(1) if found else "?"})
    text = Msg(FAULT_TEXT[kind], {"provider": provider_name})
    if kind in QUIET or not said:
        return text
    return Msg(SAID, {"fault": m.message(text), "said": said})
