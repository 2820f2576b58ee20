"""The engine's vocabulary: events in, commands out, and the read-only context it sees.

The engine never touches the database. What it needs to know (the shop, the customer,
free days and times, bookings) it asks a `Context`; what it wants done it returns as
`Command`s; the runner carries them out and feeds each `Outcome` back as an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

# -- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something a person did: typed text, tapped a choice, shared a contact or a place,
    sent a photo (`text` its caption). `outcome` carries the result of a command the
    engine asked for."""

    kind: str  # text | choice | contact | location | start | photo | outcome
    text: str = ""
    choice: str = ""
    phone: str | None = None
    outcome: Any = None
    photo: str | None = None  # where to fetch it: "telegram:<file_id>", "whatsapp:<media URL>"
    other_file: bool = False  # a file that is not a photo came with the words (a PDF, a video): not passed on
    album: str | None = None  # the Telegram album (media_group_id) the photo is one of; on WhatsApp BURST
    more_photos: tuple[str, ...] = ()  # WhatsApp: the message's other images, going wherever `photo` goes

    @property
    def photos(self) -> tuple[str, ...]:
        """Every photo the message carries, the one its words are the caption of first."""
        return (self.photo, *self.more_photos) if self.photo else ()

    @staticmethod
    def typed(text: str) -> Event:
        return Event("text", text=text)

    @staticmethod
    def tapped(choice: str) -> Event:
        return Event("choice", choice=choice)


# WhatsApp has no albums: photos sent together come a message each, with nothing to say they
# are one send. Each WhatsApp photo carries this album key instead, and is told one of the
# photos sent with the one before it by time alone: no words under it, and at most BURST_GAP
# after that one (each photo of a send is uploaded and posted by Twilio within seconds of the
# one before, even on a slow line; a photo taken or chosen after reading the bot's answer to
# the last one comes later).
BURST = "whatsapp-burst"
BURST_GAP = timedelta(seconds=30)


def since_last(data: dict, now: datetime) -> timedelta:
    """How long ago the chat's last step was (data.at; none yet: now)."""
    at = data.get("at")
    return now - datetime.fromisoformat(at) if at else timedelta(0)


def rest_of_album(event: Event, album: str | None, since: timedelta, album_lasts: timedelta) -> bool:
    """Whether a photo is one more of the album whose photo (album `album`, data.album) came
    just before it, `since` ago, nothing between: answered by that one's answer, said once.
    A Telegram album's photos come within `album_lasts`; a WhatsApp burst's (BURST) within
    BURST_GAP of each other, and words or a file under one end it (it is answered)."""
    if event.kind != "photo" or not event.album or event.album != album:
        return False
    if event.album == BURST:  # (a file beside it ends it too: that it did not go is said)
        return since <= BURST_GAP and not event.text.strip() and not event.other_file
    return since <= album_lasts


# -- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SetLanguage:
    lang: str


@dataclass(frozen=True)
class SavePhone:
    """The customer's number, theirs from now on. Issued after the payment it was typed
    for, which carries the number itself: the customer's row is locked last, after the
    day's lock and the booking's rows (the lock order, bot/runner.py)."""

    phone: str


@dataclass(frozen=True)
class SaveVehicle:
    plate: str
    make_model: str | None = None


@dataclass(frozen=True)
class Hold:
    service_ids: tuple[int, ...]
    start: datetime
    vehicle_id: int | None
    payment_method: str
    phone: str | None = None  # M-Pesa asks this number, not the one on file (theirs, typed just now)


@dataclass(frozen=True)
class Cancel:
    booking_id: int


@dataclass(frozen=True)
class Reschedule:
    booking_id: int
    start: datetime


@dataclass(frozen=True)
class JoinWaitlist:
    day: date
    service_ids: tuple[int, ...]
    vehicle_id: int | None


@dataclass(frozen=True)
class AcceptOffer:
    booking_id: int
    payment_method: str
    phone: str | None = None  # M-Pesa asks this number, not the one on file (theirs, typed just now)


@dataclass(frozen=True)
class DeclineOffer:
    booking_id: int


@dataclass(frozen=True)
class RetryPayment:
    booking_id: int
    payment_method: str
    phone: str | None = None  # M-Pesa asks this number: another, for this payment only, or theirs typed just now


@dataclass(frozen=True)
class PayBalance:
    booking_id: int
    payment_method: str
    phone: str | None = None  # M-Pesa asks this number: another, for this payment only, or theirs typed just now


@dataclass(frozen=True)
class RemoveVehicle:
    """Take a car off the customer's list (sold, or its plate typed wrong)."""

    vehicle_id: int


@dataclass(frozen=True)
class MessageShop:
    text: str
    photo: str | None = None  # a photo the words are the caption of (as Event.photo)
    more_photos: tuple[str, ...] = ()  # the other photos of the same message (as Event.more_photos)


@dataclass(frozen=True)
class DecideExtra:
    """The customer's answer about extra work a mechanic found (issue 7)."""

    item_id: int
    approve: bool


@dataclass(frozen=True)
class RateJob:
    booking_id: int
    stars: int


@dataclass(frozen=True)
class SendReceipt:
    """The receipt of a completed visit as a PDF document."""

    booking_id: int


Command = (SetLanguage | SavePhone | SaveVehicle | Hold | Cancel | Reschedule | JoinWaitlist
           | AcceptOffer | DeclineOffer | RetryPayment | PayBalance | RemoveVehicle | MessageShop)  # fmt: skip


# -- outcomes (fed back as Event("outcome", outcome=...)) ----------------------------------


@dataclass(frozen=True)
class Booked:
    booking_id: int
    code: str
    start: datetime
    confirmed: bool  # pay at the shop: confirmed at once; online: held until paid
    pay_minor: int  # what the customer is asked to pay now (0 for pay at the shop)
    hold_minutes: int
    payment_method: str
    payment_link: str | None = None
    service_ids: tuple[int, ...] = ()  # what was booked (a retry or an offer comes without the chat's own list)


@dataclass(frozen=True)
class Taken:
    start: datetime
    alternatives: tuple[datetime, ...]
    too_soon: bool = False  # nobody took it: it is now too close to book


@dataclass(frozen=True)
class Done:
    """A command that worked; `detail` says what came of it (e.g. tokens left)."""

    what: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """A command the domain refused; `reason` is a message id for the customer."""

    reason: str
    params: dict = field(default_factory=dict)


# -- what the engine may look at ----------------------------------------------------------


@dataclass(frozen=True)
class ServiceView:
    id: int
    names: dict[str, str]
    duration_minutes: int
    price_minor: int
    deposit_minor: int  # for a customer with tokens left


@dataclass(frozen=True)
class VehicleView:
    id: int
    plate: str
    make_model: str | None


@dataclass(frozen=True)
class BookingView:
    id: int
    code: str
    start: datetime
    status: str
    service_names: tuple[dict[str, str], ...]
    price_minor: int
    vehicle: str | None
    service_ids: tuple[int, ...] = ()
    deposit_minor: int = 0  # paid in advance (a hold's, until it is paid)


@dataclass(frozen=True)
class HistoryLine:
    start: datetime
    code: str
    service_names: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class BookingRef:
    """A booking named to the customer: its code and when."""

    id: int
    code: str
    start: datetime


@dataclass(frozen=True)
class ShopInfo:
    name: str
    languages: tuple[str, ...]
    timezone: str
    currency: str
    country: str
    payment_methods: tuple[str, ...]
    late_window_hours: int
    monthly_tokens: int
    horizon_days: int
    hold_minutes: int
    services: tuple[ServiceView, ...]


@dataclass(frozen=True)
class CustomerInfo:
    id: int
    name: str | None
    phone: str | None
    language: str | None  # None until chosen
    tokens: int


class Context(Protocol):
    """Read-only questions the engine asks while deciding what to say."""

    now: datetime
    shop: ShopInfo
    customer: CustomerInfo
    vehicles: tuple[VehicleView, ...]  # the cars on the customer's list, read only by the steps that ask
    language_hint: str | None
    numbered: bool  # choices are shown numbered (WhatsApp, the terminal), not as Telegram's buttons

    def today(self) -> date: ...

    def free_days(self, service_ids: tuple[int, ...], first: date, last: date, moving: int | None = None) -> list[date]:
        """Days with a free time; `moving`: the customer's booking being moved (its own time counts as free)."""
        ...

    def free_times(self, service_ids: tuple[int, ...], day: date, moving: int | None = None) -> list[datetime]: ...

    def is_open(self, day: date) -> bool: ...

    def bookings(self) -> list[BookingView]: ...

    def paid(self, booking_id: int) -> int:
        """Money received so far for one of the customer's bookings (minor units)."""
        ...

    def history(self, vehicle_id: int) -> list[HistoryLine]: ...

    def booking_keeping(self, vehicle_id: int) -> BookingRef | None:
        """The car's visit still to come or under way, which keeps it on the customer's
        list (core.customers.booking_keeping); None when it may be removed."""
        ...

    def notice_holds(self, outbox_id: int | None) -> bool:
        """Whether a notice sent earlier (by its outbox row) is still true: a reminder of a
        visit begun since, or a balance paid since, is not asked again."""
        ...
