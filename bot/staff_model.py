"""The staff dialogue's vocabulary: commands out, outcomes in, and what it may look at.

Like the customer engine (bot/model.py), the staff engine never touches the database:
it reads a `StaffContext` and returns commands; bot/staff_commands.py carries them out
against core and feeds each outcome back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from core.messages import Msg

# -- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class JobAction:
    """received | start | ready | ready_leaving_out (the unanswered extra work) | noshow on a job."""

    booking_id: int
    action: str


@dataclass(frozen=True)
class Complete:
    booking_id: int
    cash_paid: bool


@dataclass(frozen=True)
class ProposeExtra:
    booking_id: int
    description: str
    price_minor: int
    photo: str | None = None  # "telegram:<file_id>" or "whatsapp:<media url>"


@dataclass(frozen=True)
class Shift:
    on: bool


@dataclass(frozen=True)
class Stock:
    pass


@dataclass(frozen=True)
class Restock:
    part: str
    qty: int


@dataclass(frozen=True)
class Report:
    """An owner's report: digest (sent with its chart), today, week, hours."""

    what: str
    day: date | None = None


@dataclass(frozen=True)
class SetDay:
    day: date
    closed: bool
    reason: str | None = None


@dataclass(frozen=True)
class AnswerCustomer:
    """The owner's answer to a customer who wrote to the shop (the caption of a photo, if
    one goes with it)."""

    customer_id: int
    text: str
    photo: str | None = None  # as Event.photo
    more_photos: tuple[str, ...] = ()  # as Event.more_photos


@dataclass(frozen=True)
class MarkRefunded:
    number: str  # the booking's ("1042" or "MM-1042")


@dataclass(frozen=True)
class ResetTokens:
    phone: str


@dataclass(frozen=True)
class Export:
    first: date
    last: date


@dataclass(frozen=True)
class SetLanguage:
    lang: str


@dataclass(frozen=True)
class Denied:
    """The engine saw a command this staff member's role may not run: log and refuse."""

    command: str


StaffCommand = (JobAction | Complete | ProposeExtra | Shift | Stock | Restock | Report | SetDay | ResetTokens
                | Export | SetLanguage | Denied)  # fmt: skip


# -- outcomes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffDone:
    what: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StaffRefused:
    reason: str  # a message id
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Shown:
    """A report to show: sentences already made by core."""

    texts: tuple[Msg, ...]


# -- what the engine may look at ----------------------------------------------------------


@dataclass(frozen=True)
class StaffInfo:
    id: int
    name: str
    role: str  # mechanic | owner
    language: str
    on_shift: bool
    shop: str
    languages: tuple[str, ...]
    timezone: str
    currency: str
    code_prefix: str = ""  # of the shop's booking codes ("MM")
    phone_example: str = "+254712123456"  # a mobile number as written in the shop's country


@dataclass(frozen=True)
class ExtraView:
    description: str
    price_minor: int
    status: str  # proposed | approved | declined


@dataclass(frozen=True)
class VisitView:
    start: datetime
    code: str
    service_names: tuple[dict, ...]


@dataclass(frozen=True)
class JobView:
    id: int
    code: str
    start: datetime
    end: datetime
    status: str
    customer: str  # first name only
    vehicle: str | None
    service_names: tuple[dict, ...]
    notes: str | None
    mechanic: str
    mechanic_id: int | None
    price_minor: int
    paid_minor: int
    extras: tuple[ExtraView, ...] = ()
    history: tuple[VisitView, ...] = ()

    @property
    def balance_minor(self) -> int:
        return max(self.price_minor - self.paid_minor, 0)


class StaffContext(Protocol):
    now: datetime
    staff: StaffInfo

    def today(self) -> date: ...

    def jobs(self) -> list[JobView]: ...  # today's: the mechanic's own, or every one for the owner

    def job(self, booking_id: int) -> JobView | None: ...  # None if not theirs to see

    def customer_name(self, customer_id: int) -> str | None: ...  # None if not this shop's

    def find_job(self, number: str) -> JobView | None: ...  # by booking number ("1042")
