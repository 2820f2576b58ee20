"""The data model: what a workshop, its people and its jobs look like in the database.

Money is integer minor units next to an ISO currency; times are UTC (`UTCDateTime`
refuses naive values and hands back aware ones on every backend, SQLite included).
The guarantee against double booking lives in the migration, as PostgreSQL exclusion
constraints over (mechanic, time range) and (bay, time range); see
migrations/versions/0001_initial.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from core.lifecycle import BookingStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp that is UTC on the way in and aware on the way out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON, list: JSON}


class Shop(Base):
    """A workshop: its rules (hours, policies, payment set-up) come from its shop file."""

    __tablename__ = "shops"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))
    languages: Mapped[list] = mapped_column(JSON)
    code_prefix: Mapped[str] = mapped_column(String(8))
    next_booking_number: Mapped[int] = mapped_column(Integer, default=1001)
    # Hours, booking rules, policies, payments, templates: the validated shop file.
    config: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Moved by core.availability.touch_shop whenever the shop's rules, staff, bays,
    # services or closures change; processes cache their view of the shop until it moves.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    services: Mapped[list[Service]] = relationship(back_populates="shop", order_by="Service.id")
    bays: Mapped[list[Bay]] = relationship(back_populates="shop", order_by="Bay.id")
    staff: Mapped[list[Staff]] = relationship(back_populates="shop", order_by="Staff.id")


class Service(Base):
    """Something the shop sells by the hour: an oil change, brake pads, a diagnosis."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    names: Mapped[dict] = mapped_column(JSON)  # {"en": "Oil change", "sw": "..."}
    category: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    deposit_minor: Mapped[int | None] = mapped_column(BigInteger)
    deposit_percent: Mapped[int | None] = mapped_column(Integer)
    parts: Mapped[dict] = mapped_column(JSON, default=dict)  # {"oil-filter": 1}
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    shop: Mapped[Shop] = relationship(back_populates="services")

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or next(iter(self.names.values()))


class Bay(Base):
    """A lift or work position: a job holds one for its whole duration."""

    __tablename__ = "bays"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    shop: Mapped[Shop] = relationship(back_populates="bays")


class Staff(Base):
    """A mechanic or owner; recognised in chat once they prove the phone in the shop file."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("shop_id", "phone"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # mechanic | owner
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    skills: Mapped[list] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(8))
    on_shift: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    verified_at: Mapped[datetime | None]

    shop: Mapped[Shop] = relationship(back_populates="staff")


class Customer(Base):
    """A person who books with one shop; tokens pay for late cancellations and no-shows."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164 once known
    language: Mapped[str] = mapped_column(String(8))
    tokens: Mapped[int] = mapped_column(Integer, default=2)
    tokens_reset_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="customer")
    vehicles: Mapped[list[Vehicle]] = relationship(back_populates="customer", order_by="Vehicle.id")


class ChannelIdentity(Base):
    """How a customer is reached: a Telegram user id or a WhatsApp number, per shop."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("shop_id", "channel", "address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # telegram | whatsapp | console
    address: Mapped[str] = mapped_column(String(64))  # telegram chat id, whatsapp:+2547...
    last_inbound_at: Mapped[datetime | None]  # opens WhatsApp's 24-hour window

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Vehicle(Base):
    """A customer's car or motorbike, by plate; its bookings are its service history.

    A car the customer removed (sold, or its plate typed wrong) keeps its row, marked
    `removed_at`: its bookings still name it for the shop; typed again, it comes back."""

    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("customer_id", "plate"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(20))
    make: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    year: Mapped[int | None] = mapped_column(Integer)
    removed_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="vehicles")


class Booking(Base):
    """One visit: a vehicle, its services, a mechanic and a bay for a stretch of time.

    `blocks_until` is the end of the job plus the shop's buffer: the range the mechanic
    and the bay are unavailable, and the range the exclusion constraints compare.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_shop_time", "shop_id", "starts_at"),
        Index("ix_bookings_mechanic_time", "mechanic_id", "starts_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    mechanic_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    bay_id: Mapped[int | None] = mapped_column(ForeignKey("bays.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    blocks_until: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default=BookingStatus.HELD)
    hold_expires_at: Mapped[datetime | None]
    price_minor: Mapped[int] = mapped_column(BigInteger)
    deposit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))  # where the customer booked from
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[BookingItem]] = relationship(
        back_populates="booking", order_by="BookingItem.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[BookingEvent]] = relationship(
        back_populates="booking", order_by="BookingEvent.id", cascade="all, delete-orphan"
    )


class BookingItem(Base):
    """A line of a booking: a booked service, or extra work found on the car.

    Extra work starts `proposed`; the customer's approval or decline is stored with its
    time, which is the record of consent.
    """

    __tablename__ = "booking_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(16), default="service")  # service | extra
    description: Mapped[str] = mapped_column(String(500))
    duration_minutes: Mapped[int] = mapped_column(Integer, default=0)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(
        String(16), default="booked"
    )  # booked|proposed|approved|declined
    decided_at: Mapped[datetime | None]

    booking: Mapped[Booking] = relationship(back_populates="items")


class BookingEvent(Base):
    """Every status change of a booking: who moved it, from what, to what, and why."""

    __tablename__ = "booking_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))  # customer:12 | staff:3 | system:sweep
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    booking: Mapped[Booking] = relationship(back_populates="events")


class Payment(Base):
    """Money asked for or received against a booking, by M-Pesa, Kaspi or at the shop.

    (provider, provider_ref) is unique: the CheckoutRequestID, Kaspi QrPaymentId or txn_id
    is the key every callback is applied by, exactly once. (provider, receipt) is unique
    too: one M-Pesa receipt never pays for two things. A pending payment that waits for
    the provider carries `next_check_at`, when the reconciliation job looks at it next
    (STK query, Kaspi status poll), and `give_up_at`, after which it is failed.
    """

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        UniqueConstraint("provider", "receipt"),
        Index("ix_payments_due", "status", "next_check_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))  # mpesa | kaspi_qr | kaspi | cash
    purpose: Mapped[str] = mapped_column(String(16))  # deposit | full | balance
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # pending | completed | failed | refund_due | refunding | refunded
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    merchant_ref: Mapped[str | None] = mapped_column(String(100))
    receipt: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    failure_code: Mapped[str | None] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    raw_callbacks: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    # Where the request to the provider stands: requesting | sent | retry | unknown, or the
    # provider's last word while it is undecided (M-Pesa "1037", Kaspi "Wait").
    provider_status: Mapped[str | None] = mapped_column(String(32))
    link: Mapped[str | None] = mapped_column(String(500))  # Kaspi payment link
    requested_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # the link (or prompt) stops working
    next_check_at: Mapped[datetime | None]
    give_up_at: Mapped[datetime | None]
    check_interval_s: Mapped[int | None] = mapped_column(Integer)  # Kaspi StatusPollingInterval
    checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime | None]


class Closure(Base):
    """A day the shop is shut (or, with closed=False, open despite a public holiday)."""

    __tablename__ = "closures"
    __table_args__ = (UniqueConstraint("shop_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    closed: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(String(200))


class Part(Base):
    """A part kept in stock; services consume parts when a job is completed."""

    __tablename__ = "parts"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    min_level: Mapped[int] = mapped_column(Integer, default=0)


class Conversation(Base):
    """Where a chat stands; kept here so any process can carry on any chat.

    `version` is bumped on every step, so two messages of one customer handled at once
    cannot both write their outcome.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("shop_id", "channel", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64), default="start")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    language: Mapped[str | None] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboxUpdate(Base):
    """Every inbound delivery, stored raw before it is acted on.

    `source` + `external_id` (e.g. "telegram", "<shop>:<update_id>") is unique: a
    provider's retry of the same delivery finds its row and changes nothing.
    """

    __tablename__ = "inbox_updates"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(200))


class OutboxMessage(Base):
    """A message to send, written in the same transaction as what caused it.

    `body` holds message ids and parameters, rendered in the recipient's language at
    delivery. `dedupe_key` is unique, so a reminder or reply is written at most once.
    Delivery status only moves forward (queued → sent → delivered → read); a message no
    longer true when its turn came (a reminder of a visit cancelled since) is `dropped`.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    body: Mapped[dict] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class StoredFile(Base):
    """A file sent in chat (the digest's chart, a receipt, an export, a photo passed on
    between a customer and the shop), kept in the database: the worker that sends it, or the web process Twilio
    fetches it from, may be on another machine (only the database and Redis are shared)."""

    __tablename__ = "files"
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WaitlistEntry(Base):
    """A customer waiting for a full day; the first in line is offered a freed slot."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (Index("ix_waitlist_shop_day", "shop_id", "day", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)  # shop-local
    service_ids: Mapped[list] = mapped_column(JSON)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting|offered|done|cancelled
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    offered_at: Mapped[datetime | None]


class Rating(Base):
    """A customer's 1-5 stars for a completed visit: one per booking (a second answer
    replaces the first), kept with the mechanic who did the job."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("booking_id"),
        Index("ix_ratings_shop_time", "shop_id", "created_at"),
        Index("ix_ratings_mechanic", "mechanic_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    mechanic_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    stars: Mapped[int] = mapped_column(Integer)  # 1..5, checked by core.ratings
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
