"""What kind of fault a refused payment start was, read from what is stored for it: the
answers as Daraja and Kaspi give them (fixtures, PROTOCOLS.md 1.3 and 2.1), and our own
MissingSetting sentences."""

from __future__ import annotations

import json

import pytest

from core import setup_faults as sf
from core.messages import render
from core.setup_faults import Fault
from tests.conftest import FIXTURES


def fixture(path: str) -> dict:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


INVALID_PHONE = fixture("mpesa/stk_push_sync_response_error_invalid_phone.json")
BEING_PROCESSED = fixture("mpesa/stk_query_error_500_001_1001.json")
DEVICE_NOT_FOUND = fixture("kaspi/qr_api/error_response_device_not_found.json")


@pytest.mark.parametrize(("provider", "code", "said", "kind", "told"), [
    ("mpesa", "404.001.03", "Invalid Access Token", Fault.CREDENTIALS, True),
    ("mpesa", "400.008.01", "Invalid Authentication passed", Fault.CREDENTIALS, True),
    ("mpesa", "401.003.01", "Error Occurred - Invalid Access Token", Fault.CREDENTIALS, True),
    ("mpesa", "500.001.1001", "Wrong credentials", Fault.CREDENTIALS, True),
    ("mpesa", "500.001.1001", "Merchant does not exist", Fault.SHORTCODE, True),
    ("mpesa", "400.002.02", "Bad Request - Invalid BusinessShortCode", Fault.SHORTCODE, True),
    ("mpesa", "400.002.02", "Bad Request - Invalid PartyB", Fault.SHORTCODE, True),
    ("mpesa", "400.002.02", "Bad Request - Invalid CallBackURL", Fault.CALLBACK, True),
    ("mpesa", INVALID_PHONE["errorCode"], INVALID_PHONE["errorMessage"], Fault.REQUEST, True),
    ("mpesa", "400.002.05", "Invalid Request Payload", Fault.REQUEST, True),
    ("mpesa", "404.001.01", "Resource not found", Fault.OTHER, True),
    ("mpesa", BEING_PROCESSED["errorCode"], BEING_PROCESSED["errorMessage"], Fault.PROVIDER, False),
    ("mpesa", "503.001.01", "Service Unavailable", Fault.PROVIDER, False),
    ("mpesa", "429.001.01", "Too Many Requests", Fault.PROVIDER, False),
    ("mpesa", "network", "ConnectTimeout", Fault.UNREACHABLE, False),
    ("mpesa", "invalid_phone", "+25420***567 is not a Kenyan mobile number", Fault.OTHER, False),
    ("mpesa", "not_configured", "environment variable MWANGAZA_MPESA_PASSKEY is not set; it is needed for M-Pesa "
                                "payments of mwangaza-motors", Fault.MISSING, True),
    ("kaspi_qr", f"kaspi {DEVICE_NOT_FOUND['StatusCode']}", DEVICE_NOT_FOUND["Message"], Fault.DEVICE, True),
    ("kaspi_qr", "kaspi -10000", "No client certificate / invalid credentials", Fault.CREDENTIALS, True),
    ("kaspi_qr", "kaspi 990000026", "Trade point does not accept QR payment", Fault.TRADE_POINT, True),
    ("kaspi_qr", "kaspi 990000033", "No available payment methods", Fault.TRADE_POINT, True),
    ("kaspi_qr", "kaspi 99000033", "No available payment methods", Fault.TRADE_POINT, True),  # spelt so too
    ("kaspi_qr", "kaspi -999", "Service temporarily unavailable", Fault.PROVIDER, False),
    ("kaspi_qr", "kaspi None", "ConnectionError", Fault.UNREACHABLE, False),
    ("kaspi_qr", "kaspi 990000028", "Invalid operation amount", Fault.OTHER, False),
])  # fmt: skip
def test_each_refusal_is_read_as_its_kind_of_fault_and_only_the_shops_own_are_told(provider, code, said, kind, told):
    assert sf.fault(provider, code, said) == kind
    assert sf.to_mend(provider, code, kind) is told


def test_the_owner_reads_the_fault_in_their_language_and_the_providers_words_as_they_were():
    reason = sf.owner_reason("M-Pesa", Fault.CREDENTIALS, "Invalid Access Token")
    assert render(reason, "ru") == "M-Pesa не принял учётные данные сервиса (ответ провайдера: «Invalid Access Token»)"
    assert render(reason, "en") == 'M-Pesa refused the shop\'s credentials (provider said: "Invalid Access Token")'


def test_no_answer_quotes_nothing_and_a_silent_unknown_answer_says_so():
    assert render(sf.owner_reason("Kaspi", Fault.UNREACHABLE, "ConnectionError"), "kk") == \
        "Kaspi жүйесімен байланысу мүмкін болмады"  # fmt: skip
    assert render(sf.owner_reason("Kaspi", Fault.OTHER, ""), "ru") == "Kaspi не указал причину"


def test_a_missing_setting_is_named_whatever_shop_file_key_or_variable_it_is():
    said = ("environment variable named by payments.kaspi.device_token_env in the shop file is not set; it is "
            "needed for Kaspi payments of zhaiyk-avto")  # fmt: skip
    assert render(sf.owner_reason("Kaspi", Fault.MISSING, said), "ru") == \
        "на сервере не задана настройка payments.kaspi.device_token_env"  # fmt: skip
