"""The cron process's jobs: each takes no arguments, finds its own work, and is safe to
run twice at once (every one of them is idempotent, and locks what it changes).

`pitstop cron` registers them with RQ's cron scheduler when Redis is configured, or
runs them in a loop in-process on the embedded default.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from bot import whatsapp_status
from bot.delivery import deliver
from core import booking, waitlist
from core.models import OutboxMessage
from core.runtime import current_runtime

log = logging.getLogger(__name__)
REDRIVE_BATCH = 500
STUCK_AFTER = timedelta(seconds=30)  # a delivery job normally runs within a second


def expire_holds() -> int:
    """Mark held bookings whose hold ran out as expired."""
    return len(booking.sweep_expired_holds(current_runtime().db, current_runtime().now()))


def redrive_outbox(min_age: timedelta = STUCK_AFTER) -> int:
    """Deliver what is still pending (Redis was down, a worker died, a 429 asked us to
    wait): rows due for another attempt whose delivery job should long have run. And
    apply the WhatsApp delivery reports that came before their message's sid was known."""
    runtime = current_runtime()
    now = runtime.now()
    whatsapp_status.apply_waiting(runtime.db, now)
    with runtime.db.uow() as uow:
        ids = list(uow.session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
            OutboxMessage.created_at <= now - min_age,
        ).order_by(OutboxMessage.id).limit(REDRIVE_BATCH)))  # fmt: skip
    for outbox_id in ids:
        if runtime.settings.jobs_in_process:
            deliver(outbox_id)
        else:
            runtime.queue.enqueue(deliver, outbox_id, job_id=f"redrive-{outbox_id}-{int(now.timestamp()) // 60}")
    return len(ids)


def offer_waitlist() -> int:
    """Offer freed slots to the first customers waiting for those days."""
    return len(waitlist.offer_everywhere(current_runtime().db, current_runtime().now()))


def send_reminders() -> int:
    """Reminders 24 h and 2 h before confirmed visits (per shop), each written once."""
    from core import reminders

    return reminders.send_due(current_runtime().db, current_runtime().now())


def send_digests() -> int:
    """Each shop's daily digest to its owners at the shop's digest time, once a day."""
    from core import digest

    runtime = current_runtime()
    return digest.send_due(runtime.db, runtime.now(), runtime.settings.var_dir)


def reconcile_payments() -> int:
    """Ask the providers about payments still undecided (STK query, Kaspi status polls)."""
    from core import payments

    result = payments.reconcile_payments(current_runtime().now())
    return result.checked


def forget_old_files() -> int:
    """Files sent in chat are kept 30 days, then dropped."""
    from core import files

    return files.forget_old(current_runtime().db, current_runtime().now())


JOBS = [  # (function, interval in seconds)
    (expire_holds, 60),
    (redrive_outbox, 30),
    (offer_waitlist, 120),
    (send_reminders, 120),
    (send_digests, 300),
    (reconcile_payments, 5),
    (forget_old_files, 3600),
]
