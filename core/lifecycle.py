"""The life of a booking, as the shop floor sees it.

held → confirmed → received → in_progress ⇄ awaiting_approval → ready → completed,
with the side exits cancelled, no_show, expired and needs_reschedule. An expired hold
comes back as confirmed only when its payment arrives late and the slot is still free
(core.payments). The table below is the whole rule book; `check_move` is the only way
to ask it.

```mermaid
stateDiagram-v2
    [*] --> held
    held --> confirmed
    held --> expired
    held --> cancelled
    expired --> confirmed
    confirmed --> received
    confirmed --> cancelled
    confirmed --> no_show
    confirmed --> needs_reschedule
    needs_reschedule --> confirmed
    needs_reschedule --> cancelled
    received --> in_progress
    in_progress --> awaiting_approval
    awaiting_approval --> in_progress
    in_progress --> ready
    received --> ready
    ready --> completed
    completed --> [*]
```
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class BookingStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    AWAITING_APPROVAL = "awaiting_approval"
    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    EXPIRED = "expired"
    NEEDS_RESCHEDULE = "needs_reschedule"


S = BookingStatus

MOVES: dict[BookingStatus, frozenset[BookingStatus]] = {
    S.HELD: frozenset({S.CONFIRMED, S.EXPIRED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.RECEIVED, S.CANCELLED, S.NO_SHOW, S.NEEDS_RESCHEDULE}),
    S.NEEDS_RESCHEDULE: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.RECEIVED: frozenset({S.IN_PROGRESS, S.READY}),
    S.IN_PROGRESS: frozenset({S.AWAITING_APPROVAL, S.READY}),
    S.AWAITING_APPROVAL: frozenset({S.IN_PROGRESS}),
    S.READY: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.NO_SHOW: frozenset(),
    S.EXPIRED: frozenset({S.CONFIRMED}),  # a late payment, while the slot is still free
}

# Statuses in which a booking holds its mechanic and bay. A held booking blocks only
# until its hold expires; queries check hold_expires_at as well.
OCCUPYING: frozenset[BookingStatus] = frozenset(
    {S.HELD, S.CONFIRMED, S.RECEIVED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.READY}
)

# The car is at the shop: its job stays in view however long the work runs past its plan.
AT_THE_SHOP: frozenset[BookingStatus] = frozenset({S.RECEIVED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.READY})

FINAL: frozenset[BookingStatus] = frozenset(s for s, nxt in MOVES.items() if not nxt)
# Statuses a customer may still cancel (and so move): before the car is in.
CANCELLABLE: frozenset[BookingStatus] = frozenset(s for s, nxt in MOVES.items() if S.CANCELLED in nxt)
# Still in the shop's diary: neither over nor a hold that ran out (in the enum's order).
LIVE: tuple[BookingStatus, ...] = tuple(s for s in BookingStatus if s not in FINAL and s != S.EXPIRED)


class IllegalMove(ValueError):
    """A status change the rule book does not allow; `reason` says why in plain words."""

    def __init__(self, current: BookingStatus, target: BookingStatus, reason: str):
        super().__init__(f"cannot move a {current} booking to {target}: {reason}")
        self.current = current
        self.target = target
        self.reason = reason


def may_act(is_owner: bool, staff_id: int, mechanic_id: int | None, status: str) -> bool:
    """Who may move a job along: the owner any job, a mechanic their own, and anyone a
    job the shop could not keep (nobody's since its mechanic left), whose car came all
    the same."""
    return is_owner or mechanic_id == staff_id or status == S.NEEDS_RESCHEDULE


def status_now(status: str, hold_expires_at: datetime | None, now: datetime) -> str:
    """A booking's status as of `now`: a hold that ran out is expired, though the sweep
    (each minute) may not have marked it so yet. For what is shown; a write locks the
    booking and expires it (`booking.expire_overdue_holds`)."""
    if status == S.HELD and hold_expires_at is not None and hold_expires_at <= now:
        return S.EXPIRED
    return status


def check_move(current: BookingStatus | str, target: BookingStatus | str) -> None:
    """Raise IllegalMove unless a booking may go from `current` to `target`."""
    current, target = BookingStatus(current), BookingStatus(target)
    if target in MOVES[current]:
        return
    if current in FINAL:
        reason = f"the booking is already {current}"
    elif current == target:
        reason = f"the booking is already {current}"
    else:
        allowed = ", ".join(sorted(MOVES[current]))
        reason = f"from {current} it can only go to {allowed}"
    raise IllegalMove(current, target, reason)
