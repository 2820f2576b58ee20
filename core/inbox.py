"""The inbox: every inbound delivery (chat update, payment callback) is stored raw,
under the provider's unique id, before anything acts on it.

`record` is idempotent: the same (source, external_id) a second time finds the row
already there and reports a duplicate, which callers acknowledge without acting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import InboxUpdate


@dataclass(frozen=True)
class Recorded:
    row: InboxUpdate
    duplicate: bool


def record(session: Session, *, source: str, external_id: str, payload: str, now: datetime,
           shop_id: int | None = None) -> Recorded:  # fmt: skip
    """Store a delivery once; a repeat of it is reported as a duplicate."""
    query = select(InboxUpdate).where(InboxUpdate.source == source, InboxUpdate.external_id == external_id)
    existing = session.scalar(query)
    if existing is not None:
        return Recorded(existing, True)
    row = InboxUpdate(source=source, external_id=external_id[:200], shop_id=shop_id, payload=payload,
                      received_at=now)  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same delivery, arriving at another process at once
        return Recorded(session.scalar(query), True)
    return Recorded(row, False)


def mark(row: InboxUpdate, outcome: str, now: datetime) -> None:
    """Note what became of a delivery (applied, ignored: why, refused: why)."""
    row.outcome, row.processed_at = outcome[:200], now
