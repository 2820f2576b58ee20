"""Customers as the channels see them: a Telegram user or a WhatsApp number, per shop."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import phonenumbers
from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.db import insert_once, per_transaction
from core.i18n import N_
from core.lifecycle import AT_THE_SHOP, LIVE, BookingStatus, status_now
from core.models import Booking, ChannelIdentity, Customer, Vehicle, WaitlistEntry
from core.precompiled import Precompiled, loaded_row, one_of, write_columns, written

# When a customer last wrote is kept to the minute: a dialogue of quick taps costs no
# write each, and WhatsApp's 24-hour window, judged by it, closes a minute early at worst.
SEEN_STEP = timedelta(minutes=1)


def normalise_phone(raw: str, country: str | None) -> str | None:
    """E.164 form of a phone number typed or shared in any local format, or None."""
    try:
        number = phonenumbers.parse(raw.replace("whatsapp:", ""), country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache  # the staff context asks it on every read of the staff member
def example_phone(country: str) -> str:
    """A mobile number as written in `country`, for examples shown to the shop's staff."""
    number = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if number else "+254712123456"


def mask_phone(phone: str | None) -> str:
    """A phone number fit for logs: country code and the last three digits only."""
    if not phone:
        return "-"
    digits = phone.replace("whatsapp:", "")
    return digits[:4] + "•" * max(len(digits) - 7, 0) + digits[-3:]


_PHONE = re.compile(r"(?<![\w+])\+\d{8,15}\b")  # an international number, as Twilio quotes it


def mask_phones_in(text: str) -> str:
    """A message from elsewhere (a provider's error) with every phone number in it masked."""
    return _PHONE.sub(lambda found: mask_phone(found.group()), text)


def first_name(name: str | None) -> str:
    return next(iter((name or "").split()), "")


def called(customer: Customer) -> str:
    """How staff are shown a customer: their first name, or their masked phone."""
    return first_name(customer.name) or mask_phone(customer.phone)


def customer_for(session: Session, shop_id: int, channel: str, address: str, *, language: str,
                 name: str | None = None, phone: str | None = None,
                 now: datetime | None = None) -> Customer:  # fmt: skip
    """The customer behind this chat, created on first contact.

    Two first messages from one person processed at once may both try to create the
    customer; the unique (shop, channel, address) lets one win and the other read it.
    """
    found = per_transaction(session, READ_AHEAD).pop((shop_id, channel, address), _UNREAD)
    if found is _UNREAD:
        found = _IDENTITY.first(session, {"shop": shop_id, "channel": channel, "address": address})
    if found is None:
        made = _first_contact(session, shop_id, channel, address, language, name, phone, now)
        if made is not None:
            return made
        return customer_for(session, shop_id, channel, address, language=language, now=now)  # another's: read it
    identity_id, last_inbound_at, *columns = found
    customer = loaded_row(session, Customer, columns)
    if now is not None and (last_inbound_at is None or now - last_inbound_at >= SEEN_STEP):
        _SEEN.rows(session, {"identity": identity_id, "last_inbound_at": now})
    lacking = {key: value for key, value in (("name", name), ("phone", phone)) if value and not getattr(customer, key)}
    if lacking:  # (a customer made now has them already)
        _fill_in_later(session, customer, lacking)
    return customer


def _fill_in_later(session: Session, customer: Customer, values: dict) -> None:
    """What the channel tells of a customer that their row lacks (a name, a phone): the
    object shows it at once, and `fill_in` writes it at the end of the message. Written
    now (or flushed by the step's first query), it would take the customer's row before
    the step's day locks, against the lock order (bot/runner.py): a no-show of theirs
    marked that day, which takes the day and then their row, would deadlock with it."""
    for key, value in values.items():
        set_committed_value(customer, key, value)
    per_transaction(session, _TO_FILL_IN)[customer.id] = (customer, values)


def fill_in(session: Session) -> None:
    """Write what `customer_for` left for the end of the message, once its step is over
    (a customer's row last). A value the step has changed since is left as it is now;
    one the step read afresh from the row (a late cancellation locks it to spend a
    token), or forgot with a savepoint rolled back, is still lacking and is written."""
    waiting = per_transaction(session, _TO_FILL_IN)
    for customer, values in list(waiting.values()):
        still = {key: value for key, value in values.items() if customer.__dict__.get(key) in (value, None, "")}
        if still:
            write_columns(session, customer, still)
    waiting.clear()


def _first_contact(session: Session, shop_id: int, channel: str, address: str, language: str, name: str | None,
                   phone: str | None, now: datetime | None) -> Customer | None:  # fmt: skip
    """The customer of a chat's first message, made with its channel in two statements
    on the driver (core.precompiled: the ORM's two flushes in a savepoint cost 2.2 million
    instructions more); None when another transaction has just made that channel's
    customer (its channel is written ON CONFLICT DO NOTHING, after waiting for theirs),
    whose row is then the one to read: the row made here is deleted, as the savepoint's
    rollback undid it."""
    row = _NEW_CUSTOMER.first(session, {"shop_id": shop_id, "name": name, "phone": phone, "language": language})
    reached = insert_once(session, ChannelIdentity, dict(shop_id=shop_id, customer_id=row[0], channel=channel,
                                                         address=address, last_inbound_at=now),
                          unique=["shop_id", "channel", "address"])  # fmt: skip
    if reached is None:
        _FORGET_CUSTOMER.rows(session, {"customer": row[0]})
        return None
    customer = loaded_row(session, Customer, row)
    written(session, customer, new=True)
    return customer


# A chat's customer read with the message's arrival (core.chats.take_message), as _IDENTITY
# reads it, or None for none yet: per transaction, by (shop, channel, address), taken once.
READ_AHEAD, _UNREAD = "customers_read_ahead", object()
_TO_FILL_IN = "customers_to_fill_in"  # per transaction: {customer id: (customer, {column: value})}
# Every chat message asks: compiled once, run on the driver (core.precompiled).
_IDENTITIES, _CUSTOMERS = ChannelIdentity.__table__.c, Customer.__table__.c
_IDENTITY = Precompiled(select(_IDENTITIES.id, _IDENTITIES.last_inbound_at, *_CUSTOMERS).join_from(
    ChannelIdentity.__table__, Customer.__table__, _IDENTITIES.customer_id == _CUSTOMERS.id).where(
    _IDENTITIES.shop_id == bindparam("shop"), _IDENTITIES.channel == bindparam("channel"),
    _IDENTITIES.address == bindparam("address")))  # fmt: skip
_SEEN = Precompiled(update(ChannelIdentity.__table__).where(_IDENTITIES.id == bindparam("identity")),
                    column_keys=["last_inbound_at"])
# A chat's first message (its customer's columns as stored, defaults included); its twin's undoing.
_NEW_CUSTOMER = Precompiled(insert(Customer.__table__).returning(*_CUSTOMERS),
                            column_keys=["shop_id", "name", "phone", "language"])
_FORGET_CUSTOMER = Precompiled(delete(Customer.__table__).where(_CUSTOMERS.id == bindparam("customer")))


def add_vehicle(session: Session, customer: Customer, plate: str, make: str | None = None,
                model: str | None = None, year: int | None = None) -> Vehicle:  # fmt: skip
    """The customer's vehicle with this plate, added if new; one they removed comes back
    (its history is theirs again), with the make they give now, if any.

    Read and written on the driver (core.precompiled: the ORM's lazy load and flush cost
    a typed plate 2.4 million instructions more); the customer's `vehicles` are left
    loaded with what is stored, as the ORM's own would be."""
    key = plate_key(plate)
    cars = [loaded_row(session, Vehicle, row) for row in _CARS.rows(session, {"customer": customer.id})]
    vehicle = next((car for car in cars if plate_key(car.plate) == key), None)
    if vehicle is None:
        vehicle = _new_car(session, customer, plate, make, model, year)
        cars.append(vehicle)
        written(session, customer)  # its list changed, as a flush would say
    elif vehicle.removed_at is not None:
        write_columns(session, vehicle, dict(removed_at=None) | (dict(make=make, model=model) if make else {}))
    set_committed_value(customer, "vehicles", cars)
    return vehicle


def _new_car(session: Session, customer: Customer, plate: str, make: str | None, model: str | None,
             year: int | None) -> Vehicle:  # fmt: skip
    values = dict(customer_id=customer.id, plate=plate, make=make, model=model, year=year)
    car = loaded_row(session, Vehicle, _NEW_CAR.first(session, values))
    written(session, car, new=True)
    return car


# A typed plate: the customer's cars, removed ones too (compared as plate_key compares
# them), and a new one's row; compiled once, run on the driver (core.precompiled).
_VEHICLES = Vehicle.__table__.c
_CARS = Precompiled(select(*_VEHICLES).where(_VEHICLES.customer_id == bindparam("customer")).order_by(_VEHICLES.id))
_NEW_CAR = Precompiled(insert(Vehicle.__table__).returning(*_VEHICLES),
                       column_keys=["customer_id", "plate", "make", "model", "year"])


def plate_key(plate: str) -> str:
    """A plate as compared: however it was spaced when typed, one car (the key
    bot.understand.plate_key gives a plate it has read)."""
    return plate.replace(" ", "").upper()


@dataclass(frozen=True)
class Removed:
    """A car taken off the customer's list; `waits_ended`: its places on the waiting list,
    given up with it (a time freed later would be held for a car they no longer have)."""

    plate: str
    waits_ended: int = 0


# Why a car cannot be removed, as the customer is told.
STILL_BOOKED = N_("{plate} cannot be removed while it has a booking: {code}, {when}. "
                  "Once that visit is over or cancelled, you can remove it.")  # fmt: skip


@dataclass(frozen=True)
class StillBooked:
    """Why a car cannot be removed: a visit of it still to come, or under way (STILL_BOOKED)."""

    plate: str
    code: str
    start: datetime


def booking_keeping(session: Session, vehicle_id: int, now: datetime) -> Booking | None:
    """The car's first visit still to come or under way (held, confirmed, at the shop):
    while it stands the car stays on the customer's list, as the booking names it."""
    rows = session.scalars(_KEEPING, {"vehicle": vehicle_id, "now": now})
    return next((b for b in rows if status_now(b.status, b.hold_expires_at, now) != BookingStatus.EXPIRED), None)


def remove_vehicle(session: Session, customer_id: int, vehicle_id: int, now: datetime) -> Removed | StillBooked:
    """Take a car off the customer's list (sold, or its plate typed wrong), unless a
    visit of it still stands. Its row stays, marked removed: its past bookings and
    history remain the shop's. LookupError for a car that is not theirs, or gone."""
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.customer_id != customer_id or vehicle.removed_at is not None:
        raise LookupError(f"no vehicle {vehicle_id} of customer {customer_id}")
    kept = booking_keeping(session, vehicle_id, now)
    if kept is not None:
        return StillBooked(vehicle.plate, kept.code, kept.starts_at)
    vehicle.removed_at = now
    waits = session.scalars(select(WaitlistEntry).where(WaitlistEntry.vehicle_id == vehicle_id,
                                                        WaitlistEntry.status == "waiting")).all()  # fmt: skip
    for entry in waits:
        entry.status = "cancelled"
    return Removed(vehicle.plate, len(waits))


# A booking still standing at `now`: to come, or its car still at the shop (its hold may have
# run out unswept: status_now tells).
STANDING = (one_of(Booking.status, LIVE), or_(Booking.ends_at > bindparam("now"), one_of(Booking.status, AT_THE_SHOP)))
_KEEPING = select(Booking).where(Booking.vehicle_id == bindparam("vehicle"), *STANDING).order_by(
    Booking.starts_at, Booking.id)  # fmt: skip
