"""A hand-written Context for engine tests: a small Nairobi garage, no database."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.model import (
    BookingRef,
    BookingView,
    CustomerInfo,
    HistoryLine,
    ServiceView,
    ShopInfo,
    VehicleView,
)

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 09:00 in Nairobi
OIL = ServiceView(1, {"en": "Oil change", "sw": "Kubadilisha oili", "ru": "Замена масла", "kk": "Май ауыстыру"}, 45, 350000, 0)
BRAKES = ServiceView(2, {"en": "Brake pads", "sw": "Pedi za breki", "ru": "Тормозные колодки", "kk": "Тежегіш қалыптары"}, 60, 450000, 100000)
SHOP = ShopInfo("Mwangaza Motors", ("en", "sw", "ru", "kk"), "Africa/Nairobi", "KES", "KE", ("mpesa", "cash"),
                24, 2, 30, 15, (OIL, BRAKES))


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_shop(name: str) -> tuple[ShopInfo, dict[str, int]]:
    """An example shop's services as the engine sees them ("atyrau-service"), and their
    ids by code: the names customers will really type against."""
    spec = tomllib.loads((EXAMPLES / f"{name}.toml").read_text())
    services = tuple(ServiceView(i, dict(s["names"]), s["duration_minutes"], s["price"] * 100, _deposit(s))
                     for i, s in enumerate(spec["services"], 1))  # fmt: skip
    shop = replace(SHOP, name=spec["name"], languages=tuple(spec["languages"]), services=services)
    return shop, {s["code"]: i for i, s in enumerate(spec["services"], 1)}


def _deposit(service: dict) -> int:
    deposit = service.get("deposit", 0)
    return service["price"] * deposit["percent"] if isinstance(deposit, dict) else deposit * 100


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Nairobi wall time on a November 2026 day, as UTC."""
    return datetime(2026, 11, day, hour - 3, minute, tzinfo=UTC)


@dataclass
class FakeContext:
    now: datetime = NOW
    shop: ShopInfo = SHOP
    customer: CustomerInfo = field(default_factory=lambda: CustomerInfo(7, "Amina", None, "en", 2))
    vehicles: tuple[VehicleView, ...] = ()
    language_hint: str | None = "en"
    numbered: bool = True
    full_days: set[date] = field(default_factory=set)
    my_bookings: list[BookingView] = field(default_factory=list)
    lines: dict[int, list[HistoryLine]] = field(default_factory=dict)
    payments: dict[int, int] = field(default_factory=dict)  # booking id -> minor units received
    outdated_notices: set[int] = field(default_factory=set)  # outbox ids of notices no longer true
    keeping: dict[int, BookingRef] = field(default_factory=dict)  # vehicle id -> its visit still to come

    def today(self) -> date:
        return (self.now + timedelta(hours=3)).date()

    def free_days(self, service_ids, first, last, moving=None):
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return [d for d in days if d.weekday() != 6 and d not in self.full_days]

    def free_times(self, service_ids, day, moving=None):
        if day.weekday() == 6 or day in self.full_days:
            return []
        return [datetime(day.year, day.month, day.day, h - 3, tzinfo=UTC) for h in (10, 11, 14, 15)]

    def is_open(self, day):
        return day.weekday() != 6  # closed on Sundays

    def bookings(self):
        return list(self.my_bookings)

    def paid(self, booking_id):
        return self.payments.get(booking_id, 0)

    def notice_holds(self, outbox_id):
        return outbox_id not in self.outdated_notices

    def history(self, vehicle_id):
        return self.lines.get(vehicle_id, [])

    def booking_keeping(self, vehicle_id):
        return self.keeping.get(vehicle_id)

    def with_vehicle(self, plate="KCB 123A") -> FakeContext:
        self.vehicles = (VehicleView(3, plate, "Toyota Probox"),)
        return self
