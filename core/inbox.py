"""The inbox: every inbound delivery (chat update, payment callback) is stored raw,
under the provider's unique id, before anything acts on it.

`record` is idempotent: the same (source, external_id) a second time finds the row
already there and reports a duplicate, which callers acknowledge without acting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from core.db import insert_once
from core.models import InboxUpdate


@dataclass(frozen=True)
class Recorded:
    inbox_id: int
    duplicate: bool


def record(session: Session, *, source: str, external_id: str, payload: str, now: datetime,
           shop_id: int | None = None, expected: str | None = None) -> Recorded:  # fmt: skip
    """Store a delivery once; a repeat of it is reported as a duplicate (with the id of
    the first). A repeat arriving while the first is still being handled waits for it.

    `expected`: the outcome a caller that applies the delivery in this same transaction
    expects, written with the row; it marks the row only if the outcome turns out
    otherwise (one statement fewer on every chat message)."""
    external_id = external_id[:200]
    values = {"source": source, "external_id": external_id, "shop_id": shop_id, "payload": payload,
              "received_at": now}  # fmt: skip
    if expected is not None:
        values |= {"outcome": expected, "processed_at": now}
    new_id = insert_once(session, InboxUpdate, values, ["source", "external_id"])
    if new_id is not None:
        return Recorded(new_id, False)
    first = session.scalar(select(InboxUpdate.id).where(InboxUpdate.source == source,
                                                         InboxUpdate.external_id == external_id))  # fmt: skip
    return Recorded(first, True)


def mark(session: Session, inbox_id: int, outcome: str, now: datetime) -> None:
    """Note what became of a delivery (applied, ignored: why, refused: why)."""
    session.execute(_MARK, {"inbox_id": inbox_id, "outcome": outcome[:200], "processed_at": now})


_TABLE = InboxUpdate.__table__
_MARK = update(_TABLE).where(_TABLE.c.id == bindparam("inbox_id"))
