"""Telling people about what happened on the shop floor, through the outbox.

Customers hear on the channel they booked from, in their language; on WhatsApp, outside
the 24-hour window, the shop's approved template named here is used instead (the sender
picks it). When a notice carries choices, the customer's conversation learns them (a
small job run after commit), so a WhatsApp customer can answer "1" or "approve" as well
as a Telegram customer can tap. Staff hear on the channel they verified on, and only
once they have verified (before that we have no way to reach them that WhatsApp allows).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import outbox
from core.chat_data import start_over
from core.chats import lock_chat
from core.customers import first_name
from core.db import defer
from core.i18n import N_
from core.messages import Msg, Reply, remembered_choices, render
from core.models import Booking, ChannelIdentity, Customer, OutboxMessage, Staff

log = logging.getLogger(__name__)
IDLE_AFTER = timedelta(minutes=30)  # as the conversation engine counts a pause
WHATSAPP_WINDOW = timedelta(hours=24)  # after someone's last message, WhatsApp takes only templates

# The status of a booking in a few words, for customers and staff alike. The first
# seven are the same message ids the customer's "my bookings" uses.
STATUS_NAMES = {
    "held": N_("waiting for payment"),
    "confirmed": N_("confirmed"),
    "received": N_("car received"),
    "in_progress": N_("in progress"),
    "awaiting_approval": N_("waiting for your approval"),
    "ready": N_("ready for pickup"),
    "needs_reschedule": N_("needs a new time"),
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
    "no_show": N_("no-show"),
    "expired": N_("expired"),
}
# The same for the shop's people, who are not the ones asked to approve.
STAFF_STATUS_NAMES = STATUS_NAMES | {"awaiting_approval": N_("waiting for the customer's approval")}

# Words a customer may type instead of a choice's number or label (folded by the matcher).
YES_ALIASES = ["yes", "ok", "approve", "agree", "ndio", "ndiyo", "sawa", "да", "согласен", "иә", "ия", "👍"]
NO_ALIASES = ["no", "decline", "hapana", "нет", "жоқ", "жок", "👎"]


def notify_customer(session: Session, booking: Booking, reply: Reply, key: str | None, now: datetime,
                    template: str | None = None, variables: dict | None = None,
                    aliases: dict[str, list[str]] | None = None, kind: str = "text",
                    extra: dict | None = None, whole: bool = False) -> outbox.Queued | None:  # fmt: skip
    """Tell the booking's customer; idempotent on `key`. Returns the new outbox row.

    `whole`: the choices mean nothing without the text (extra work and its price). On
    WhatsApp an answer is then expected only once the text itself was sent; a notice
    that had to go as a template (the 24-hour window closed) is sent again, whole, when
    the customer next writes (`bot.whatsapp.send`, `show_whole_later`, `show_again`)."""
    extra = dict(extra or {})
    if template:
        extra |= {"template": template, "variables": {k: str(v) for k, v in (variables or {}).items()}}
    language = customer_of(session, booking).language
    offered = remembered_choices(reply.choices, language, aliases)
    if whole and offered:
        extra["whole"] = {"offered": offered}
    row = outbox.tell_customer(session, booking, reply, dedupe_key=key, now=now, kind=kind, extra=extra or None)
    if row is not None and offered and not (whole and row.channel == "whatsapp"):
        defer(session, remember_choices, row.shop_id, row.channel, row.address, offered, now.isoformat(), False,
              row.language, reply.to_json(), row.id)  # fmt: skip
    return row


def status_notice(session: Session, booking: Booking, reply: Reply, key: str, now: datetime, *,
                  aliases: dict[str, list[str]] | None = None, money: bool = False) -> outbox.Queued | None:
    """News of a booking for its customer, carried outside WhatsApp's 24-hour window by
    the shop's `status` template (their name, the booking's code and where it stands).
    A notice with choices is `whole`: answered only once its text was seen. `money`: news
    of their money (a refund), which the template's "cancelled" does not tell: sent whole
    when they next write, too."""
    customer = customer_of(session, booking)
    lang = customer.language
    variables = {"name": greeting_name(customer, lang), "code": booking.code, "status": status_name(booking.status, lang)}
    return notify_customer(session, booking, reply, key, now, template="status", variables=variables,
                           aliases=aliases, whole=bool(reply.choices),
                           extra={"whole_later": True} if money else None)  # fmt: skip


def show_whole_later(shop_id: int, address: str, outbox_id: int, lang: str | None = None) -> None:
    """The job: a whole notice went to WhatsApp as its template only; the customer's
    chat remembers to send it again, whole, when they next write (which opens the
    window). Its own transaction, after the send committed (the lock order)."""
    from core.runtime import current_runtime

    rt = current_runtime()
    now = rt.now()
    with rt.db.uow() as uow:
        conv = lock_chat(uow.session, shop_id, "whatsapp", address, now, state="menu",
                         data={"lang": lang, "at": now.isoformat()})  # fmt: skip
        data = dict(conv.data or {})
        conv.data = data | {"show_again": sorted({*data.get("show_again", []), outbox_id})}


def never_seen(shop_id: int, address: str, outbox_id: int) -> None:
    """The job: a whole notice Twilio accepted and then could not deliver (the phone off
    for days, the number gone from WhatsApp). The customer never saw its choices, so a
    number they type must not answer it: the chat forgets them (an earlier notice still
    waiting is the question again) and sends the notice whole when they next write."""
    from core.runtime import current_runtime

    with current_runtime().db.uow() as uow:
        row = uow.session.get(OutboxMessage, outbox_id)
        conv = lock_chat(uow.session, shop_id, "whatsapp", address, current_runtime().now(), create=False)
        if row is None or conv is None:
            return
        data = without_notice(dict(conv.data or {}), row.body["whole"]["offered"])
        conv.data = data | {"show_again": sorted({*data.get("show_again", []), outbox_id})}


def without_notice(data: dict, offered: list) -> dict:
    """A chat's data with one notice's choices forgotten: if it is the question now, the
    notice waiting under it (if any) is the question again, or else the choices offered
    before it came."""
    data = dict(data)
    waiting = [n for n in data.pop("notices_waiting", None) or [] if n["offered"] != offered]
    if waiting:
        data["notices_waiting"] = waiting
    if (data.get("notice") or {}).get("offered") == offered:
        before = data.pop("notice").get("before")
        if data.get("offered") == offered:  # still the question (they may have moved on since)
            del data["offered"]
            if promote_waiting(data) is None and before:
                data["offered"] = before  # the choices they saw last before it: what a number answers
    return data


def promote_waiting(data: dict) -> dict | None:
    """The notice waiting under one just answered (or forgotten) becomes the question
    again, its choices as remembered when it came: returned, or None when none waits."""
    waiting = list(data.pop("notices_waiting", None) or [])
    if not waiting:
        return None
    earlier = data["notice"] = waiting.pop()
    data["offered"] = earlier["offered"]
    if waiting:
        data["notices_waiting"] = waiting
    return earlier


def show_again(session: Session, outbox_ids: list[int], now: datetime) -> None:
    """Send again, whole, the notices only a template carried, and the photos none could
    (in the transaction of the customer's message, whose chat row is locked), in the order
    they came: the photos of one message too."""
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids)).order_by(OutboxMessage.id)):
        if outbox.outdated(session, row, now, again=True):  # the work was decided or left out, the hold ran out...
            continue
        body = {k: v for k, v in row.body.items() if k not in ("template", "variables")}
        outbox.send(session, shop_id=row.shop_id, channel=row.channel, address=row.address, language=row.language,
                    reply=Reply.from_json(body), dedupe_key=f"{row.dedupe_key or row.id}:whole", now=now,
                    kind=row.kind, extra={k: body[k] for k in ("whole", *FILE_KEYS) if k in body})  # fmt: skip


FILE_KEYS = ("file_id", "filename", "path", "photo", "unfetched")  # a photo's, shown again (core.files, bot.photos)


def remember_choices(shop_id: int, channel: str, address: str, offered: list, at: str, staff: bool = False,
                     lang: str | None = None, notice: dict | None = None, outbox_id: int | None = None,
                     mark: str | None = None) -> None:  # fmt: skip
    """The job: the customer's conversation now expects an answer to the notice.

    Run in its own transaction after the notice committed (taking the conversation row
    inside a booking's transaction would break the lock order). A conversation left idle
    goes back to the menu, so the answer is not taken for a stale question. A notice
    still unanswered when another comes (two pieces of extra work found at once) waits
    under it (`data["notices_waiting"]`), and is asked again once that one is answered.
    `mark`: a key of the chat's data set to `at` (what the dialogue should know came). Choices
    that are no notice never take the numbers of a notice still open.
    """
    from core.runtime import current_runtime

    now = datetime.fromisoformat(at)
    with current_runtime().db.uow() as uow:
        # a customer who never chatted (booked by the shop) gets a chat, and so does an owner who never
        # wrote to the bot (a customer's words came as the staff template): their answer still counts
        conv = lock_chat(uow.session, shop_id, channel, address, now, state="menu", data={"lang": lang, "at": at})
        data = dict(conv.data or {})
        if staff:  # the staff dialogue keeps its own state inside the row
            conv.data = data | {"staff": dict(data.get("staff") or {}) | {"offered": offered}}
            return
        if notice is not None:
            wait_under(data, offered)
        last = data.get("at")
        if last is None or now - datetime.fromisoformat(last) > IDLE_AFTER:
            conv.state = "menu"
            # the question left so long is forgotten; the staff dialogue's data stays: a customer's notice
            # may come to an owner's chat (the customer dialogue never meets it, bot.staff answers staff first)
            data = start_over(data, "staff") | {"at": now.isoformat()}
        if mark is not None:  # e.g. "shop_answered": the menu takes their next words for a reply to the shop
            data[mark] = at
        data.pop("album", None)  # something came between: the next photo is no more of the album before it
        still_open = data.get("notice") is not None and data["notice"]["offered"] == data.get("offered")
        if notice is None and still_open:  # a notice's question is open: its numbers stay its own
            conv.data = data
            return
        if notice is not None:  # with the choices it covers, shown again should it never arrive, and its row,
            # by which it is known to still hold before it is asked again after another
            data["notice"] = {"reply": notice, "offered": offered, "before": data.get("offered"), "outbox_id": outbox_id}
        data["offered"] = offered
        conv.data = data


WAITING_KEPT = 3  # unanswered notices kept under a newer one


def wait_under(data: dict, offered: list) -> None:
    """A notice (its choices `offered`) come while another's question is open: that one
    waits under it (data.notices_waiting, the newest WAITING_KEPT); not the same notice again."""
    pending = data.get("notice")
    if pending is not None and pending["offered"] == data.get("offered") and offered != pending["offered"]:
        data["notices_waiting"] = [*(data.get("notices_waiting") or [])[-(WAITING_KEPT - 1):], pending]


def customer_of(session: Session, booking: Booking) -> Customer:
    return session.get(Customer, booking.customer_id)


def status_name(status: str, lang: str) -> str:
    return render(Msg(STATUS_NAMES.get(status, status)), lang)


def greeting_name(customer: Customer, lang: str) -> str:
    """The customer's name in a template's greeting ("Hi {{1}}"): Twilio refuses a
    template whose variable is empty, and a WhatsApp profile may have no name."""
    return template_text(customer.name or "") or render(Msg(N_("customer")), lang)


# -- staff --------------------------------------------------------------------------------


def staff_reach(staff: Staff) -> tuple[str, str] | None:
    """Where a staff member reads us: the channel they verified on."""
    if staff.verified_at is None or not staff.active:
        return None
    if staff.telegram_user_id:
        return "telegram", str(staff.telegram_user_id)
    return "whatsapp", f"whatsapp:{staff.phone}"


def tell_staff(session: Session, staff: Staff, reply: Reply, key: str | None, now: datetime,
               kind: str = "text", extra: dict | None = None,
               reach: tuple[str, str] | None = None, may_wait: bool = False) -> outbox.Queued | None:  # fmt: skip
    """Write to a staff member where they read us (`reach`, or the channel they verified
    on); on WhatsApp the first sentence also fills the shop's staff template, for when
    the 24-hour window is closed. `may_wait` (a customer's words and photos to the shop):
    each template is paid for, so when one already waits for their next message, this
    goes without one and waits with it (`show_later`), shown whole when they write."""
    reach = reach or staff_reach(staff)
    if reach is None:
        log.info("staff %s is not verified yet; notice %s not sent", staff.id, key)
        return None
    channel, address = reach
    if channel == "whatsapp" and reply.texts:  # outside the 24-hour window: the shop's staff template
        if may_wait and template_waiting(session, staff.shop_id, address, now):
            extra = (extra or {}) | {"show_later": True}
        else:
            first = render(reply.texts[0], staff.language)
            extra = staff_template(staff.name, first) | (extra or {})
            if len(reply.texts) > 1 or len(" ".join(first.split())) > len(extra["variables"]["summary"]):
                extra["whole_later"] = True  # more than the template carries: sent whole when they next write
    row = outbox.send(session, shop_id=staff.shop_id, channel=channel, address=address, language=staff.language,
                      reply=reply, dedupe_key=key, now=now, kind=kind, extra=extra)  # fmt: skip
    if row is not None and reply.choices:
        offered = remembered_choices(reply.choices, row.language)
        defer(session, remember_choices, row.shop_id, row.channel, row.address, offered, now.isoformat(), True)
    return row


def last_wrote(session: Session, shop_id: int, address: str) -> datetime | None:
    """When this WhatsApp chat last wrote to the shop (None: never): its window's start."""
    return session.scalar(select(ChannelIdentity.last_inbound_at).where(
        ChannelIdentity.shop_id == shop_id, ChannelIdentity.channel == "whatsapp",
        ChannelIdentity.address == address))  # fmt: skip


def template_waiting(session: Session, shop_id: int, address: str, now: datetime) -> bool:
    """Does a template already wait for this WhatsApp chat's next message: its window
    closed, a template sent outside it (or still to go) since they last wrote, with more
    to show when they write (`whole_later`, `show_later`)? Not one refused or undelivered
    (the next one then tries again), nor one sent more than TEMPLATE_HOLDS ago: a chat
    that does not write is woken again the next day, and nothing waits for ever."""
    last = last_wrote(session, shop_id, address)
    if last is not None and now - last < WHATSAPP_WINDOW:
        return False  # inside the window: what is written now is read now
    since = max(last, now - TEMPLATE_HOLDS) if last is not None else now - TEMPLATE_HOLDS
    rows = session.execute(select(OutboxMessage.status, OutboxMessage.sent_at, OutboxMessage.body).where(
        OutboxMessage.shop_id == shop_id, OutboxMessage.channel == "whatsapp", OutboxMessage.address == address,
        OutboxMessage.created_at >= since, OutboxMessage.status.in_(("pending", *STILL_SENT)),
    ).order_by(OutboxMessage.id.desc()).limit(TEMPLATES_LOOKED_AT))  # fmt: skip
    return any(body.get("template") and (body.get("whole_later") or body.get("show_later")) and
               (status == "pending" or last is None or sent_at >= last + WHATSAPP_WINDOW)  # went as the template
               for status, sent_at, body in rows)  # fmt: skip


TEMPLATE_HOLDS = timedelta(hours=24)  # how long one template waiting holds back the next
STILL_SENT = ("sent", "delivered", "read")  # not failed, undelivered or dropped
TEMPLATES_LOOKED_AT = 50  # the latest messages to the chat looked at


def template_text(text: str) -> str:
    """Text for a WhatsApp template's variable: one line, no runs of spaces (Meta refuses
    them), at most 300 characters."""
    return " ".join(text.split())[:300]


def staff_template(name: str | None, text: str) -> dict:
    """What a notice to staff carries for WhatsApp's 24-hour window: the shop's
    `staff_notice` template, with the staff member's first name and the text."""
    return {"template": "staff_notice", "variables": {"name": first_name(name), "summary": template_text(text)}}


def owners(session: Session, shop_id: int) -> list[Staff]:
    return list(session.scalars(select(Staff).where(
        Staff.shop_id == shop_id, Staff.role == "owner", Staff.active.is_(True)).order_by(Staff.id)))  # fmt: skip


def tell_owners(session: Session, shop_id: int, reply: Reply, key: str | None, now: datetime,
                kind: str = "text", extra: dict | None = None, may_wait: bool = False) -> int:  # fmt: skip
    """Tell every owner of the shop (each once per `key`, when given); returns how many
    were written. `may_wait`: as tell_staff's, decided for each owner's chat."""
    sent = 0
    for owner in owners(session, shop_id):
        if tell_staff(session, owner, reply, f"{key}:owner{owner.id}" if key else None, now, kind=kind,
                      extra=extra, reach=owner_reach(session, owner), may_wait=may_wait) is not None:  # fmt: skip
            sent += 1
    return sent


def owner_reach(session: Session, owner: Staff) -> tuple[str, str] | None:
    """Where an owner is told: where they verified; one who has not used the bot yet, on
    WhatsApp when the shop has it (the shop's staff template reaches them there)."""
    from core.availability import shop_view

    reach = staff_reach(owner)
    if reach is None and owner.phone and "whatsapp" in shop_view(session, owner.shop_id).spec.providers:
        reach = ("whatsapp", f"whatsapp:{owner.phone}")
    return reach
