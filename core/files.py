"""Files sent in chat, kept in the database (`StoredFile`).

A digest's chart, a receipt PDF, an export or a photo sent to the shop is made (or
fetched) on one machine and sent from another: the worker delivering the outbox row, or
the web process Twilio fetches WhatsApp media from. The outbox row names the stored
file; rows written before files were kept here name a path under the var directory,
still honoured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import String, cast, delete, or_, select
from sqlalchemy.orm import Session

from core.db import Database, session_of
from core.models import Conversation, OutboxMessage, StoredFile

KEEP = timedelta(days=30)  # long past any delivery's last try and Twilio's fetch of the media


def keep(session: Session, shop_id: int, path: Path, now: datetime, filename: str | None = None) -> dict:
    """Store the file at `path` (just written here); the outbox body fields naming it."""
    return store(session, shop_id, path.read_bytes(), filename or path.name, now)


def store(session: Session, shop_id: int, data: bytes, filename: str, now: datetime) -> dict:
    """Store `data` as the file `filename`; the outbox body fields naming it."""
    row = StoredFile(shop_id=shop_id, filename=filename, data=data, created_at=now)
    session.add(row)
    session.flush()
    return {"file_id": row.id, "filename": row.filename}


def named(session: Session, shop_id: int, filename: str) -> dict | None:
    """The outbox body fields of the shop's file kept as `filename`, if there is one (a
    photo passed on to several people is kept once, under a name of its own)."""
    found = session.scalar(select(StoredFile.id).where(StoredFile.shop_id == shop_id, StoredFile.filename == filename)
                           .order_by(StoredFile.id.desc()).limit(1))  # fmt: skip
    return {"file_id": found, "filename": filename} if found is not None else None


def attached(body: dict) -> bool:
    """Does this outbox row carry a file?"""
    return bool(body.get("file_id") or body.get("path"))


def read(session: Session, body: dict, var_dir: Path) -> tuple[bytes, str] | None:
    """The bytes and name of an outbox row's file, or None when it is gone."""
    if body.get("file_id"):
        row = session.get(StoredFile, body["file_id"])
        return (row.data, row.filename) if row is not None else None
    path = Path(str(body.get("path", ""))).resolve()  # a row from before: only under our own var directory
    if not path.is_file() or Path(var_dir).resolve() not in path.parents:
        return None
    return path.read_bytes(), body.get("filename") or path.name


def forget_old(db: Database | Session, now: datetime) -> int:
    """The cron job: drop files older than KEEP (their messages went long ago), but not
    one a message still waits to send: a row pending, or one waiting for the person's next
    message to be shown whole (a chat's show_again). Returns how many."""
    with session_of(db) as s:
        old = set(s.scalars(select(StoredFile.id).where(StoredFile.created_at < now - KEEP)))
        if not old:
            return 0
        waiting = {i for data in s.scalars(select(Conversation.data).where(cast(Conversation.data, String).like("%show_again%")))
                   for i in (data or {}).get("show_again", [])}  # fmt: skip
        still_to_send = s.scalars(select(OutboxMessage.body).where(OutboxMessage.kind.in_(("document", "photo")),
                                                           or_(OutboxMessage.status == "pending", OutboxMessage.id.in_(waiting))))  # fmt: skip
        gone = old - {body.get("file_id") for body in still_to_send}
        return s.execute(delete(StoredFile).where(StoredFile.id.in_(gone))).rowcount if gone else 0
