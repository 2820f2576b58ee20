"""Twilio's delivery reports for the WhatsApp messages Pitstop sent (sent, delivered,
read, undelivered, failed), posted to /webhooks/whatsapp/<shop>/status.

Each report is stored raw in the inbox under its MessageSid and status, then applied
to the outbox row that has that sid. Twilio can report before that row knows its sid:
the sender writes the sid when Twilio answers, in the transaction that holds the row,
and an "undelivered" may be posted before it commits. Such a report waits in the inbox
(marked WAITING); the sender applies it as it writes the sid, and the outbox re-drive
applies one that slipped in between (`apply_waiting`). Nothing Twilio says is lost.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import inbox, notices
from core.db import Database, defer
from core.models import InboxUpdate, OutboxMessage

log = logging.getLogger(__name__)
SOURCE = "twilio-status"
STATUS_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5,
               "undelivered": 6, "failed": 6}  # fmt: skip
NOT_DELIVERED = ("undelivered", "failed")
WAITING = "waiting: no message of ours has this sid yet"
FORGOTTEN_AFTER = timedelta(days=1)  # a report for no message of ours by then is for none ever


@dataclass(frozen=True)
class StatusReport:
    """What Twilio says became of one message: its sid, the status, the error if any."""

    sid: str
    status: str
    error_code: str | None = None

    @property
    def key(self) -> str:
        """Its unique id in the inbox: Twilio posts each status of a message once, and
        the same again only when it retries the post."""
        return f"{self.sid}:{self.status}"


def parse(form: dict[str, str]) -> StatusReport | None:
    """A status callback's form as a report; None when it names no message or status."""
    sid, status = form.get("MessageSid", "").strip(), form.get("MessageStatus", "").strip()
    if not sid or not status or len(sid) > 64:
        return None
    return StatusReport(sid, status[:32], form.get("ErrorCode") or None)


def report(session: Session, shop_id: int, status: StatusReport, payload: str, now: datetime) -> bool:
    """Store a report and apply it to its message if that is known yet (else it waits).
    True when it moved the message's status on; a repeated post changes nothing."""
    recorded = inbox.record(session, source=SOURCE, external_id=status.key, payload=payload, now=now,
                            shop_id=shop_id, expected=WAITING)  # fmt: skip
    if recorded.duplicate:
        return False
    if status.status not in STATUS_RANK:
        inbox.mark(session, recorded.inbox_id, f"ignored: status {status.status!r} is not followed", now)
        return False
    row = _sent_row(session, shop_id, status.sid)
    if row is None:
        return False  # not ours yet: waits for the sender or the re-drive
    return _apply(session, row, recorded.inbox_id, status, now)


def apply_reported(session: Session, row: OutboxMessage, now: datetime) -> None:
    """The sender, holding the row it just sent: apply the reports on it that came
    before it wrote the sid down."""
    for inbox_id, status in _waiting(session, row.shop_id, row.provider_message_id):
        _apply(session, row, inbox_id, status, now)


def apply_waiting(db: Database, now: datetime) -> int:
    """The re-drive: apply the reports still waiting whose message has its sid now (the
    report came in between the sender's look and its commit); give up on those older than
    a day, which are for no message of ours. Returns how many were applied."""
    with db.reading() as uow:
        waiting = uow.session.execute(select(InboxUpdate.shop_id, InboxUpdate.external_id).where(
            InboxUpdate.source == SOURCE, InboxUpdate.outcome == WAITING).order_by(InboxUpdate.id)).all()  # fmt: skip
    applied = 0
    for shop_id, sid in {(shop_id, key.rpartition(":")[0]) for shop_id, key in waiting}:
        with db.uow() as uow:
            row = _sent_row(uow.session, shop_id, sid)
            for inbox_id, status in _waiting(uow.session, shop_id, sid, before=None if row else now - FORGOTTEN_AFTER):
                if row is not None:
                    applied += _apply(uow.session, row, inbox_id, status, now)
                else:
                    inbox.mark(uow.session, inbox_id, "ignored: no message of ours has this sid", now)
    return applied


def record_status(session: Session, row: OutboxMessage, status: str, error_code: str | None) -> bool:
    """Apply a delivery status; statuses only move forward (they arrive out of order). A
    notice with choices that never reached the phone is no open question."""
    if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(row.status, -1):
        return False
    row.status = status
    if error_code:
        row.last_error = f"Twilio error {error_code}"
    if status in NOT_DELIVERED and row.body.get("whole"):
        defer(session, notices.never_seen, row.shop_id, row.address, row.id)
    return True


def _sent_row(session: Session, shop_id: int, sid: str) -> OutboxMessage | None:
    """The shop's message Twilio knows by `sid`, locked; None while its sid is not written."""
    return session.scalar(select(OutboxMessage).where(
        OutboxMessage.shop_id == shop_id, OutboxMessage.provider_message_id == sid).with_for_update())  # fmt: skip


def _apply(session: Session, row: OutboxMessage, inbox_id: int, status: StatusReport, now: datetime) -> bool:
    moved = record_status(session, row, status.status, status.error_code)
    inbox.mark(session, inbox_id, "applied" if moved else "ignored: the message is further on", now)
    return moved


def _waiting(session: Session, shop_id: int, sid: str | None, before: datetime | None = None
             ) -> list[tuple[int, StatusReport]]:  # fmt: skip
    """The unapplied reports on one message (received `before`, if given), in the order
    Twilio's statuses go."""
    if not sid:
        return []
    query = select(InboxUpdate.id, InboxUpdate.payload).where(
        InboxUpdate.source == SOURCE, InboxUpdate.shop_id == shop_id, InboxUpdate.outcome == WAITING,
        InboxUpdate.external_id.startswith(f"{sid}:", autoescape=True))  # fmt: skip
    if before is not None:
        query = query.where(InboxUpdate.received_at <= before)
    rows = session.execute(query).all()
    reports = [(inbox_id, parse(json.loads(payload))) for inbox_id, payload in rows]  # stored as posted
    return sorted(reports, key=lambda pair: STATUS_RANK.get(pair[1].status, -1))
