"""Settings: the one place that reads the environment.

Twelve-factor: everything that differs between a laptop and production comes from
environment variables (and a `.env` file when present). The rest of the code receives a
frozen `Settings` and never touches `os.environ`, so tests build settings explicitly and
nothing is read at import time.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.logs import LEVELS

TELEGRAM_API_BASE = "https://api.telegram.org"
TWILIO_API_BASE = "https://api.twilio.com"
MPESA_API_BASES = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}
KASPI_API_BASE = "https://mtokentest.kaspi.kz:8545/r3/v01"

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class MissingSetting(RuntimeError):
    """A feature that is running needs a variable that is not set."""

    def __init__(self, name: str, why: str):
        super().__init__(f"environment variable {name} is not set; it is needed for {why}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    """What this deployment is: where its database and Redis live, and its public URL.

    `environ` is a read-only snapshot of the environment, kept so that per-shop secrets
    (named in shop files by the name of their variable) are looked up here and only here.
    """

    database_url: str
    redis_url: str | None = None
    public_base_url: str | None = None
    telegram_api_base: str = TELEGRAM_API_BASE
    twilio_api_base: str = TWILIO_API_BASE
    mpesa_env: str = "sandbox"
    mpesa_api_base: str = MPESA_API_BASES["sandbox"]
    mpesa_callback_token: str | None = None
    kaspi_api_base: str = KASPI_API_BASE
    var_dir: Path = Path("var")
    # Telegram pacing: at most this many messages a second per bot, and this many seconds
    # between two messages to one chat (Telegram's published limits by default).
    telegram_per_second: int = 30
    telegram_chat_interval: float = 1.0
    # Demos and staging only: the clock starts at this moment and runs on from there.
    start_time: datetime | None = None
    log_level: str = "INFO"
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @property
    def embedded(self) -> bool:
        """True on the embedded default: SQLite and jobs run in-process."""
        return self.database_url.startswith("sqlite")

    @property
    def jobs_in_process(self) -> bool:
        return self.redis_url is None

    def secret(self, name: str, why: str) -> str:
        """The value of a secret whose variable name a shop file gives."""
        value = self.environ.get(name, "")
        if not value:
            raise MissingSetting(name, why)
        return value

    def require(self, attr: str, why: str) -> str:
        """A deployment setting that a running feature cannot do without."""
        value = getattr(self, attr)
        if not value:
            raise MissingSetting(attr.upper(), why)
        return value


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"PITSTOP_NOW must be a moment like 2026-11-23T07:00:00Z, not {text!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"PITSTOP_NOW needs a timezone, like 2026-11-23T07:00:00Z, not {text!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: str, kind: type, at_least: float):
    """A numeric setting, refused by name when it is not a number or is too small."""
    text = env.get(name) or default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < at_least:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what} of at least {at_least:g}, not {text!r}")
    return value


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> Settings:
    """Build settings from the environment, with a `.env` file filling the gaps."""
    env: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    var_dir = Path(env.get("PITSTOP_VAR_DIR") or "var").resolve()
    mpesa_env = env.get("MPESA_ENV") or "sandbox"
    if mpesa_env not in MPESA_API_BASES:
        raise ValueError(f"MPESA_ENV must be 'sandbox' or 'production', not {mpesa_env!r}")
    log_level = (env.get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LEVELS)}, not {env['LOG_LEVEL']!r}")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'pitstop.db'}"
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError:
        backend = None
    if backend not in ("postgresql", "sqlite"):  # "postgres://" too: SQLAlchemy has no such dialect
        raise ValueError(f"DATABASE_URL must be a database URL, like postgresql://user@host/db or "
                         f"sqlite:////path/pitstop.db, not {without_password(database_url)!r}")  # fmt: skip
    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"REDIS_URL must start with redis://, rediss:// or unix://, not {without_password(redis_url)!r}")
    per_second = _number(env, "TELEGRAM_PER_SECOND", "30", int, at_least=1)
    chat_interval = _number(env, "TELEGRAM_CHAT_INTERVAL", "1.0", float, at_least=0)
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        telegram_api_base=(env.get("TELEGRAM_API_BASE") or TELEGRAM_API_BASE).rstrip("/"),
        twilio_api_base=(env.get("TWILIO_API_BASE") or TWILIO_API_BASE).rstrip("/"),
        mpesa_env=mpesa_env,
        mpesa_api_base=(env.get("MPESA_API_BASE") or MPESA_API_BASES[mpesa_env]).rstrip("/"),
        mpesa_callback_token=env.get("MPESA_CALLBACK_TOKEN") or None,
        kaspi_api_base=(env.get("KASPI_API_BASE") or KASPI_API_BASE).rstrip("/"),
        var_dir=var_dir,
        telegram_per_second=per_second,
        telegram_chat_interval=chat_interval,
        start_time=_instant(env.get("PITSTOP_NOW")),
        log_level=log_level,
        environ=MappingProxyType(dict(env)),
    )


def without_password(url: str) -> str:
    """A URL fit for an error message or a log: its password (postgres://u:secret@h) as ***."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return url.replace(f":{password}@", ":***@") if password else url
