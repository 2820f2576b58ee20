"""Shop files: a workshop described in TOML, checked thoroughly before it is loaded.

An operator writes the file by hand, so every problem is reported at once, one line
each, with the path of the field (`services[2].duration_minutes: ...`). A valid file
becomes a frozen `ShopSpec`; the same parser reads the file's dict back from the
database (Shop.config), so there is one definition of what a shop is.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
from babel.numbers import get_currency_precision, list_currencies

from core.i18n import LANGUAGES
from core.settings import ENV_NAME

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROLES = ("mechanic", "owner")
PAYMENT_METHODS = ("mpesa", "kaspi", "cash")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Keys that would hold a secret if written as a value; the file must name a variable.
SECRET_WORDS = ("token", "secret", "passkey", "password", "api_key", "consumer_key", "auth")
PROVIDER_SECRETS = {
    "telegram": ("token_env", "webhook_secret_env"),
    "whatsapp": ("account_sid_env", "auth_token_env", "from_env"),
    "mpesa": ("shortcode_env", "passkey_env", "consumer_key_env", "consumer_secret_env"),
    "kaspi": ("device_token_env",),  # every scheme's; api_key_env only r1's (read when a payment starts)
}


# The keys of the file's top level and of its sections whose keys all have defaults: a key
# misspelt there ("slot_stepminutes") would quietly leave the default in force.
KNOWN_KEYS = {
    "": ("slug", "name", "timezone", "currency", "country", "languages", "code_prefix", "hours", "closures",
         "public_holidays", "booking", "cancellation", "parts", "staff", "services", "bays", "payments",
         "templates", "digest", "reminders", "tax_percent", "telegram", "whatsapp"),
    "booking": ("slot_step_minutes", "buffer_minutes", "min_notice_minutes", "horizon_days", "hold_minutes",
                "claim_hold_minutes"),
    "cancellation": ("tokens", "late_window_hours"),
    "reminders": ("hours_before",),
    "digest": ("time",),
}  # fmt: skip


class ShopFileError(ValueError):
    """A shop file with problems; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Period:
    open: time
    close: time


@dataclass(frozen=True)
class DayHours:
    """A weekday's opening: from the first opening to the last close, minus breaks."""

    open: time
    close: time
    breaks: tuple[Period, ...] = ()


@dataclass(frozen=True)
class BookingRules:
    slot_step: timedelta
    buffer: timedelta
    min_notice: timedelta
    horizon_days: int
    hold_minutes: int
    claim_hold_minutes: int


@dataclass(frozen=True)
class CancellationPolicy:
    tokens: int
    late_window: timedelta


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    names: dict[str, str]
    category: str
    duration_minutes: int
    price_minor: int
    deposit_minor: int | None = None
    deposit_percent: int | None = None
    parts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StaffSpec:
    name: str
    role: str
    phone: str
    skills: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class BaySpec:
    code: str
    name: str


@dataclass(frozen=True)
class PartSpec:
    code: str
    name: str
    stock: int
    min_level: int


@dataclass(frozen=True)
class ClosureSpec:
    day: date
    reason: str | None
    closed: bool = True


@dataclass(frozen=True)
class ShopSpec:
    """Everything a shop file says, validated and typed."""

    slug: str
    name: str
    timezone: str
    currency: str
    country: str
    languages: tuple[str, ...]
    code_prefix: str
    hours: dict[int, DayHours]
    closures: tuple[ClosureSpec, ...]
    public_holidays: bool
    booking: BookingRules
    cancellation: CancellationPolicy
    payment_methods: tuple[str, ...]
    providers: dict[str, dict[str, Any]]
    templates: dict[str, dict[str, Any]]
    digest_time: time
    reminder_hours: tuple[int, ...]
    tax_percent: int
    services: tuple[ServiceSpec, ...]
    bays: tuple[BaySpec, ...]
    staff: tuple[StaffSpec, ...]
    parts: tuple[PartSpec, ...]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def minor_units(self) -> int:
        return get_currency_precision(self.currency)


def read_shop_file(path: str | Path) -> ShopSpec:
    """Parse and validate a TOML shop file; raise ShopFileError listing every problem."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))  # a BOM, as Windows editors write, is fine
    except OSError as exc:
        raise ShopFileError([f"cannot read the file ({exc.strerror})"]) from exc
    except UnicodeDecodeError as exc:
        raise ShopFileError([f"not UTF-8 text (byte {exc.start + 1}): save the file as UTF-8"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ShopFileError([f"not valid TOML ({exc})"]) from exc
    return parse_shop(raw)


def parse_shop(raw: dict[str, Any], stored: bool = False) -> ShopSpec:
    """Validate a shop file's dict (from TOML or from Shop.config) into a ShopSpec.

    `stored`: a file loaded before, read back from Shop.config. It is read as the load
    that stored it did: keys it ignored (a note, or a misspelling later loads report)
    and true-ish words for true must not stop a shop that works.
    """
    return _Reader(raw, stored).read()


class _Reader:
    """Walks the file once, collecting problems instead of stopping at the first."""

    def __init__(self, raw: dict[str, Any], stored: bool = False):
        self.raw, self.stored = raw, stored
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    # -- scalar readers ---------------------------------------------------------------

    def get(self, table: dict, key: str, path: str, kind: type | tuple, default: Any = ...):
        if key not in table:
            if default is ...:
                self.problem(path, "is required")
                return None
            return default
        value = table[key]
        if isinstance(value, bool) and kind is not bool:
            self.problem(path, f"must be {_kind_name(kind)}, not {value!r}")
            return None
        if not isinstance(value, kind):
            self.problem(path, f"must be {_kind_name(kind)}, not {value!r}")
            return None
        return value

    def minutes(self, table: dict, key: str, path: str, default: int, minimum: int = 0):
        value = self.get(table, key, path, int, default)
        if value is not None and value < minimum:
            word = "positive" if minimum > 0 else "zero or more"
            self.problem(path, f"must be a {word} number of minutes, not {value}")
            return None
        return value

    def clock(self, value: Any, path: str) -> time | None:
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
            hours, minutes = map(int, value.split(":"))
            if hours == 24 and minutes == 0:
                return time(23, 59)
            if hours < 24 and minutes < 60:
                return time(hours, minutes)
        self.problem(path, f"must be a time like \"08:30\", not {value!r}")
        return None

    def money(self, value: Any, path: str, currency: str | None) -> int | None:
        """Prices are written in major units (2500 or "2500.50"); stored in minor units."""
        try:
            amount = Decimal(str(value)) if not isinstance(value, bool) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            self.problem(path, f"must be an amount of money like 2500, not {value!r}")
            return None
        digits = get_currency_precision(currency) if currency else 2
        minor = amount * (10**digits)
        if minor != minor.to_integral_value():
            self.problem(path, f"has more decimals than {currency} allows")
            return None
        return int(minor)

    # -- the file ---------------------------------------------------------------------

    def read(self) -> ShopSpec:
        raw = self.raw
        if not isinstance(raw, dict):
            raise ShopFileError(["(file): must be a TOML table"])
        slug = self.get(raw, "slug", "slug", str)
        if slug is not None and not SLUG.match(slug):
            self.problem("slug", f"must be lowercase letters, digits and dashes, not {slug!r}")
        name = self.get(raw, "name", "name", str)
        timezone = self.get(raw, "timezone", "timezone", str)
        if timezone is not None and timezone not in available_timezones():
            self.problem("timezone", f"unknown timezone {timezone!r} (use an IANA name like Africa/Nairobi)")
        currency = self.get(raw, "currency", "currency", str)
        if currency is not None and currency not in list_currencies():
            self.problem("currency", f"unknown currency {currency!r} (use an ISO 4217 code like KES)")
            currency = None
        country = self.get(raw, "country", "country", str)
        if country is not None and country.upper() not in phonenumbers.SUPPORTED_REGIONS:
            self.problem("country", f"unknown country {country!r} (use an ISO code like KE)")
            country = None
        country = country.upper() if country else None
        languages = self.languages(raw)
        prefix = self.get(raw, "code_prefix", "code_prefix", str)
        if prefix is not None and not re.fullmatch(r"[A-Z]{1,4}", prefix):
            self.problem("code_prefix", f"must be 1 to 4 capital letters, not {prefix!r}")

        hours = self.hours(raw.get("hours"))
        closures = self.closures(raw.get("closures", []))
        holidays = self.flag(raw, "public_holidays", "public_holidays")
        booking = self.booking(self.table(raw, "booking"))
        cancellation = self.cancellation(self.table(raw, "cancellation"))
        parts = self.parts(raw.get("parts", []))
        staff = self.staff(raw.get("staff"), country, languages)
        services = self.services(raw.get("services"), currency, languages, staff, parts)
        bays = self.bays(raw.get("bays"))
        methods, providers = self.payments(raw, currency)
        templates = self.templates(raw.get("templates", {}), whatsapp="whatsapp" in providers)
        self.check_secrets(raw, "")
        digest = self.table(raw, "digest")
        digest_time = self.clock(digest.get("time", "19:00"), "digest.time")
        reminder_hours = self.reminders(self.table(raw, "reminders"))
        tax = self.get(raw, "tax_percent", "tax_percent", int, 0)
        if tax is not None and not 0 <= tax <= 100:
            self.problem("tax_percent", f"must be between 0 and 100, not {tax}")

        if not self.stored:
            self.unknown_keys(raw)
        if self.problems:
            raise ShopFileError(self.problems)
        return ShopSpec(
            slug=slug, name=name, timezone=timezone, currency=currency, country=country,
            languages=tuple(languages), code_prefix=prefix, hours=hours,
            closures=tuple(closures), public_holidays=holidays is not False,
            booking=booking, cancellation=cancellation, payment_methods=tuple(methods),
            providers=providers, templates=templates, digest_time=digest_time,
            reminder_hours=reminder_hours, tax_percent=tax or 0, services=tuple(services),
            bays=tuple(bays), staff=tuple(staff), parts=tuple(parts), raw=raw,
        )  # fmt: skip

    def unknown_keys(self, raw: dict) -> None:
        for section, known in KNOWN_KEYS.items():
            table = raw.get(section) if section else raw
            for key in table if isinstance(table, dict) else ():
                if key not in known:
                    like = difflib.get_close_matches(key, known, n=1)
                    hint = f"did you mean {like[0]}?" if like else f"use {', '.join(known)}"
                    self.problem(f"{section}.{key}" if section else key, f"unknown key ({hint})")

    def flag(self, table: dict, key: str, path: str) -> bool | None:
        """A true-or-false key, true when left out: "false" in quotes is no false (a file
        stored before this was checked reads as it did then)."""
        if self.stored:
            return bool(table.get(key, True))
        return self.get(table, key, path, bool, True)

    def table(self, raw: dict, key: str) -> dict:
        """A section of the file that must be a table ([booking]), empty when left out;
        anything else is a problem, read as if it were left out."""
        value = raw.get(key, {})
        if isinstance(value, dict):
            return value
        self.problem(key, f"must be a table, like [{key}] on a line of its own, not {value!r}")
        return {}

    def languages(self, raw: dict) -> list[str]:
        langs = self.get(raw, "languages", "languages", list)
        if not langs:
            if langs is not None:
                self.problem("languages", "must name at least one language")
            return []
        for i, lang in enumerate(langs):
            if lang not in LANGUAGES:
                known = ", ".join(LANGUAGES)
                self.problem(f"languages[{i}]", f"no catalog for language {lang!r} (have {known})")
        return [lang for lang in langs if lang in LANGUAGES]

    def hours(self, table: Any) -> dict[int, DayHours]:
        if not isinstance(table, dict):
            self.problem("hours", "is required: a table with mon..sun")
            return {}
        week: dict[int, DayHours] = {}
        for key in table:
            if key not in WEEKDAYS:
                self.problem(f"hours.{key}", f"unknown weekday (use {', '.join(WEEKDAYS)})")
        for index, day in enumerate(WEEKDAYS):
            value = table.get(day, "closed")
            if value == "closed":
                continue
            periods = value if isinstance(value, list) else [value]
            hours = self.day_hours(periods, f"hours.{day}")
            if hours is not None:
                week[index] = hours
        return week

    def day_hours(self, periods: list, path: str) -> DayHours | None:
        spans: list[Period] = []
        breaks: list[Period] = []
        if not periods:
            self.problem(path, 'must be "closed" or opening hours like {open = "08:00", close = "18:00"}')
            return None
        for i, item in enumerate(periods):
            where = path if len(periods) == 1 else f"{path}[{i}]"
            if not isinstance(item, dict):
                self.problem(where, 'must be "closed" or a table like {open = "08:00", close = "18:00"}')
                return None
            opening = self.clock(item.get("open"), f"{where}.open")
            closing = self.clock(item.get("close"), f"{where}.close")
            if opening is None or closing is None:
                return None
            if closing <= opening:
                self.problem(where, f"closes at {closing:%H:%M}, not after it opens at {opening:%H:%M}")
                return None
            spans.append(Period(opening, closing))
            listed = item.get("breaks", [])
            if not isinstance(listed, list):
                self.problem(f"{where}.breaks", 'must be a list of pairs like [["13:00", "14:00"]]')
                listed = []
            for j, pair in enumerate(listed):
                breaks.extend(self.break_period(pair, f"{where}.breaks[{j}]", opening, closing))
        spans.sort(key=lambda p: p.open)
        for a, b in pairwise(spans):
            if b.open < a.close:
                self.problem(path, f"opening hours overlap ({a.open:%H:%M}-{a.close:%H:%M} and {b.open:%H:%M}-{b.close:%H:%M})")
                return None
        breaks.sort(key=lambda p: p.open)
        for a, b in pairwise(breaks):
            if b.open < a.close:
                self.problem(path, f"breaks overlap ({a.open:%H:%M}-{a.close:%H:%M} and {b.open:%H:%M}-{b.close:%H:%M})")
        gaps = [Period(a.close, b.open) for a, b in pairwise(spans)]
        return DayHours(spans[0].open, spans[-1].close, tuple(sorted(breaks + gaps, key=lambda p: p.open)))

    def break_period(self, pair: Any, path: str, opening: time, closing: time) -> list[Period]:
        if not (isinstance(pair, list) and len(pair) == 2):
            self.problem(path, 'must be a pair like ["13:00", "14:00"]')
            return []
        start, end = self.clock(pair[0], path), self.clock(pair[1], path)
        if start is None or end is None:
            return []
        if end <= start:
            self.problem(path, f"ends at {end:%H:%M}, not after it starts at {start:%H:%M}")
            return []
        if start < opening or end > closing:
            self.problem(path, f"break {start:%H:%M}-{end:%H:%M} is outside opening hours {opening:%H:%M}-{closing:%H:%M}")
            return []
        return [Period(start, end)]

    def closures(self, items: Any) -> list[ClosureSpec]:
        out = []
        if not isinstance(items, list):
            self.problem("closures", "must be a list of {date = 2026-12-24, reason = \"...\"}")
            return out
        for i, item in enumerate(items):
            day = item.get("date") if isinstance(item, dict) else None
            if isinstance(day, str):
                try:
                    day = date.fromisoformat(day)
                except ValueError:
                    day = None
            if not isinstance(day, date):
                self.problem(f"closures[{i}].date", "must be a date like 2026-12-24")
                continue
            closed = self.flag(item, "closed", f"closures[{i}].closed")
            out.append(ClosureSpec(day, item.get("reason"), closed is not False))
        return out

    def booking(self, table: dict) -> BookingRules | None:
        p = "booking"
        step = self.minutes(table, "slot_step_minutes", f"{p}.slot_step_minutes", 30, 1)
        buffer = self.minutes(table, "buffer_minutes", f"{p}.buffer_minutes", 0)
        notice = self.minutes(table, "min_notice_minutes", f"{p}.min_notice_minutes", 60)
        horizon = self.get(table, "horizon_days", f"{p}.horizon_days", int, 30)
        if horizon is not None and horizon < 1:
            self.problem(f"{p}.horizon_days", f"must be a positive number of days, not {horizon}")
        hold = self.minutes(table, "hold_minutes", f"{p}.hold_minutes", 15, 1)
        claim = self.minutes(table, "claim_hold_minutes", f"{p}.claim_hold_minutes", 10, 1)
        if None in (step, buffer, notice, horizon, hold, claim):
            return None
        return BookingRules(
            timedelta(minutes=step), timedelta(minutes=buffer), timedelta(minutes=notice),
            horizon, hold, claim,
        )  # fmt: skip

    def cancellation(self, table: dict) -> CancellationPolicy | None:
        tokens = self.get(table, "tokens", "cancellation.tokens", int, 2)
        window = self.get(table, "late_window_hours", "cancellation.late_window_hours", int, 24)
        if tokens is not None and tokens < 0:
            self.problem("cancellation.tokens", f"must be zero or more, not {tokens}")
        if window is not None and window < 0:
            self.problem("cancellation.late_window_hours", f"must be zero or more, not {window}")
        if tokens is None or window is None:
            return None
        return CancellationPolicy(tokens, timedelta(hours=window))

    def parts(self, items: Any) -> list[PartSpec]:
        out: list[PartSpec] = []
        for i, item in enumerate(self.table_list(items, "parts", required=False)):
            p = f"parts[{i}]"
            code = self.code(item, p, {x.code for x in out})
            name = self.get(item, "name", f"{p}.name", str)
            stock = self.get(item, "stock", f"{p}.stock", int, 0)
            minimum = self.get(item, "min", f"{p}.min", int, 0)
            for key, value in (("stock", stock), ("min", minimum)):
                if value is not None and value < 0:
                    self.problem(f"{p}.{key}", f"must be zero or more, not {value}")
            if None not in (code, name, stock, minimum):
                out.append(PartSpec(code, name, stock, minimum))
        return out

    def staff(self, items: Any, country: str | None, languages: list[str]) -> list[StaffSpec]:
        out: list[StaffSpec] = []
        for i, item in enumerate(self.table_list(items, "staff")):
            p = f"staff[{i}]"
            name = self.get(item, "name", f"{p}.name", str)
            if name is not None and not name.strip():  # messages call staff by their first name
                self.problem(f"{p}.name", "must not be empty")
                name = None
            role = self.get(item, "role", f"{p}.role", str)
            if role is not None and role not in ROLES:
                self.problem(f"{p}.role", f"must be one of {', '.join(ROLES)}, not {role!r}")
            phone = self.phone(item.get("phone"), f"{p}.phone", country)
            if phone and phone in {s.phone for s in out}:
                self.problem(f"{p}.phone", f"{phone} is already listed for another staff member")
            skills = self.get(item, "skills", f"{p}.skills", list, [])
            lang = self.get(item, "language", f"{p}.language", str, languages[0] if languages else "en")
            if lang is not None and languages and lang not in languages:
                self.problem(f"{p}.language", f"{lang!r} is not one of the shop's languages")
            if role == "mechanic" and skills == []:
                self.problem(f"{p}.skills", "a mechanic needs at least one skill")
            if None not in (name, role, phone, skills, lang):
                out.append(StaffSpec(name, role, phone, tuple(skills), lang))
        if items is not None and not any(s.role == "owner" for s in out) and not self.problems:
            self.problem("staff", "needs at least one owner (role = \"owner\")")
        return out

    def phone(self, value: Any, path: str, country: str | None) -> str | None:
        if not isinstance(value, str):
            self.problem(path, "is required: a phone number like +254712345678")
            return None
        try:
            number = phonenumbers.parse(value, country)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            self.problem(path, f"{value!r} is not a valid phone number")
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def services(self, items, currency, languages, staff, parts) -> list[ServiceSpec]:
        out: list[ServiceSpec] = []
        skills = {skill for s in staff if s.role == "mechanic" for skill in s.skills}
        part_codes = {p.code for p in parts}
        for i, item in enumerate(self.table_list(items, "services")):
            p = f"services[{i}]"
            code = self.code(item, p, {s.code for s in out})
            names = self.get(item, "names", f"{p}.names", dict)
            for lang in languages:
                if names is not None and not names.get(lang):
                    self.problem(f"{p}.names.{lang}", "is missing: every shop language needs a name")
            category = self.get(item, "category", f"{p}.category", str)
            if category is not None and staff and category not in skills:
                self.problem(f"{p}.category", f"no mechanic has the skill {category!r}, so nobody can do this service")
            duration = self.minutes(item, "duration_minutes", f"{p}.duration_minutes", ..., 1)
            price = self.money(item.get("price"), f"{p}.price", currency) if "price" in item else None
            if "price" not in item:
                self.problem(f"{p}.price", "is required")
            deposit_minor, deposit_percent = self.deposit(item.get("deposit"), f"{p}.deposit", currency, price)
            used = self.get(item, "parts", f"{p}.parts", dict, {})
            for part, qty in (used or {}).items():
                if part not in part_codes:
                    self.problem(f"{p}.parts.{part}", "is not listed under [[parts]]")
                if not isinstance(qty, int) or qty < 1:
                    self.problem(f"{p}.parts.{part}", f"must be a positive whole quantity, not {qty!r}")
            if None not in (code, names, category, duration, price, used):
                out.append(ServiceSpec(code, dict(names), category, duration, price, deposit_minor, deposit_percent, dict(used)))
        return out

    def deposit(self, value, path, currency, price) -> tuple[int | None, int | None]:
        if value is None:
            return None, None
        if isinstance(value, dict):
            percent = value.get("percent")
            if not isinstance(percent, int) or isinstance(percent, bool) or not 0 < percent <= 100:
                self.problem(f"{path}.percent", f"must be a whole percentage from 1 to 100, not {percent!r}")
                return None, None
            return None, percent
        amount = self.money(value, path, currency)
        if amount is not None and price is not None and amount > price:
            self.problem(path, "is more than the price of the service")
        return amount, None

    def bays(self, items: Any) -> list[BaySpec]:
        out: list[BaySpec] = []
        for i, item in enumerate(self.table_list(items, "bays")):
            code = self.code(item, f"bays[{i}]", {b.code for b in out})
            name = self.get(item, "name", f"bays[{i}].name", str, code)
            if code is not None:
                out.append(BaySpec(code, name))
        return out

    def payments(self, raw: dict, currency: str | None) -> tuple[list[str], dict]:
        table = self.table(raw, "payments")
        methods = self.get(table, "methods", "payments.methods", list, ["cash"]) or []
        providers: dict[str, dict] = {}
        for i, method in enumerate(methods):
            if method not in PAYMENT_METHODS:
                self.problem(f"payments.methods[{i}]", f"unknown payment method {method!r} (use {', '.join(PAYMENT_METHODS)})")
        if "mpesa" in methods and currency not in (None, "KES"):
            self.problem("payments.methods", f"M-Pesa takes KES only, but the shop's currency is {currency}")
        for provider in ("telegram", "whatsapp", "mpesa", "kaspi"):
            section = raw.get(provider) if provider in ("telegram", "whatsapp") else table.get(provider)
            path = provider if provider in ("telegram", "whatsapp") else f"payments.{provider}"
            if provider in ("mpesa", "kaspi") and provider in methods and section is None:
                self.problem(path, f"is required when {provider} is a payment method")
            if section is None:
                continue
            if not isinstance(section, dict):
                self.problem(path, "must be a table")
                continue
            for key in PROVIDER_SECRETS[provider]:
                if key not in section and not self.stored:  # a shop stored before a key was required still runs
                    self.problem(f"{path}.{key}", "is required: the name of the environment variable holding it")
            providers[provider] = dict(section)
        kaspi = providers.get("kaspi", {})
        if kaspi.get("response_format", "xml") not in ("xml", "json"):
            self.problem("payments.kaspi.response_format", "must be \"xml\" or \"json\"")
        return methods, providers

    def templates(self, table: Any, whatsapp: bool) -> dict[str, dict]:
        if not isinstance(table, dict):
            self.problem("templates", "must be a table of WhatsApp templates")
            return {}
        for name, template in table.items():
            sid = template.get("content_sid") if isinstance(template, dict) else None
            if not (isinstance(sid, str) and re.fullmatch(r"HX[0-9a-fA-F]{32}", sid)):
                self.problem(f"templates.{name}.content_sid", f"must be a Twilio ContentSid (HX + 32 hex digits), not {sid!r}")
            known = TEMPLATE_VARIABLES.get(name)
            variables = template.get("variables", []) if isinstance(template, dict) else []
            for i, variable in enumerate(variables if isinstance(variables, list) else [variables]):
                if known is not None and variable not in known:
                    self.problem(f"templates.{name}.variables[{i}]",
                                 f"unknown variable {variable!r} (use {', '.join(sorted(known))})")  # fmt: skip
        for name in TEMPLATE_VARIABLES if whatsapp else ():
            if name not in table:
                self.problem(f"templates.{name}", "is required with WhatsApp: outside its 24-hour window only an "
                                                  "approved template can be sent")  # fmt: skip
        return {k: dict(v) for k, v in table.items() if isinstance(v, dict)}

    def reminders(self, table: dict) -> tuple[int, ...]:
        hours = self.get(table, "hours_before", "reminders.hours_before", list, [24, 2]) or []
        for i, h in enumerate(hours):
            if not isinstance(h, int) or isinstance(h, bool) or not 1 <= h <= MAX_REMINDER_HOURS:
                self.problem(f"reminders.hours_before[{i}]",
                             f"must be a number of hours from 1 to {MAX_REMINDER_HOURS}, not {h!r}")  # fmt: skip
        return tuple(sorted({h for h in hours if isinstance(h, int) and 1 <= h <= MAX_REMINDER_HOURS}, reverse=True))

    def check_secrets(self, table: Any, path: str) -> None:
        """Secrets live in the environment; a file names the variable, never the value."""
        items = enumerate(table) if isinstance(table, list) else table.items()
        provider_section = path.split(".")[0].split("[")[0] in ("telegram", "whatsapp", "payments")
        for key, value in items:
            where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
            if isinstance(value, dict | list):
                self.check_secrets(value, where)
            elif isinstance(key, int):
                continue
            elif key.endswith("_env"):
                if not (isinstance(value, str) and ENV_NAME.match(value)):
                    self.problem(where, "looks like a secret value; write the NAME of an environment variable that holds it (e.g. SHOP_TELEGRAM_TOKEN)")
            elif provider_section and any(word in key.lower() for word in SECRET_WORDS):
                self.problem(where, f"secrets may not be written in the file; put the value in an environment variable and name it in {key}_env")

    # -- helpers ----------------------------------------------------------------------

    def table_list(self, items: Any, path: str, required: bool = True) -> list[dict]:
        if items is None:
            if required:
                self.problem(path, f"is required: at least one [[{path}]] entry")
            return []
        if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            self.problem(path, f"must be a list of [[{path}]] tables")
            return []
        if required and not items:
            self.problem(path, f"needs at least one [[{path}]] entry")
        return items

    def code(self, item: dict, path: str, seen: set[str]) -> str | None:
        code = self.get(item, "code", f"{path}.code", str)
        if code is None:
            return None
        if not CODE.match(code):
            self.problem(f"{path}.code", f"must be lowercase letters, digits, - and _, not {code!r}")
            return None
        if code in seen:
            self.problem(f"{path}.code", f"{code!r} is used twice")
            return None
        return code


# The templates Pitstop sends outside WhatsApp's window, and the variables it fills in.
MAX_REMINDER_HOURS = 72  # the reminder job looks this far ahead (core.reminders)
TEMPLATE_VARIABLES = {"reminder": {"name", "service", "time", "code"}, "status": {"name", "code", "status"},
                      "staff_notice": {"name", "summary"}}  # fmt: skip


def _kind_name(kind: type | tuple) -> str:
    names = {str: "text", int: "a whole number", list: "a list", dict: "a table", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)
