"""Delivering outbox messages through their channel's sender.

`deliver(outbox_id)` is the RQ job written for every outbox row. It is idempotent: a
row already sent is left alone, so a re-drive or a retried job never sends twice.
Channels register a sender for their name; the terminal channel reads its own rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from core.models import OutboxMessage, Shop
from core.runtime import current_runtime

log = logging.getLogger(__name__)

FINAL = ("sent", "delivered", "read", "failed", "undelivered")


class TryLater(Exception):
    """The provider asked us to slow down (HTTP 429): try again after `seconds`."""

    def __init__(self, seconds: float):
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Undeliverable(Exception):
    """The message cannot be sent as it is (e.g. outside WhatsApp's 24-hour window with
    no approved template): retrying will not help."""


def senders() -> dict[str, Callable]:
    """channel name -> function(runtime, row, shop, session) that sends the row, returning the provider's id."""
    from bot import telegram, whatsapp

    return {"telegram": telegram.send, "whatsapp": whatsapp.send}


def deliver(outbox_id: int) -> None:
    """Send one outbox message, once.

    The row stays locked while it is sent, so two workers (or a worker and the re-drive)
    never send it twice; a crash mid-send rolls back to pending and the re-drive sends it.
    """
    runtime = current_runtime()
    with runtime.db.uow() as uow:
        row = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update())
        if row is None or row.status in FINAL:
            return
        sender = senders().get(row.channel)
        if sender is None:
            return  # e.g. the terminal: its loop shows its own messages
        row.attempts += 1
        shop = uow.session.get(Shop, row.shop_id)
        try:
            row.provider_message_id = sender(runtime, row, shop, uow.session)
        except TryLater as exc:
            row.next_attempt_at = runtime.now() + timedelta(seconds=exc.seconds)
            row.last_error = str(exc)
            return
        except Undeliverable as exc:
            row.status, row.last_error = "failed", str(exc)[:500]
            log.warning("outbox %s cannot be delivered: %s", outbox_id, exc)
            return
        except Exception as exc:  # a failed send is retried by the re-drive, not lost
            row.last_error = f"{type(exc).__name__}: {exc}"[:500]
            row.next_attempt_at = runtime.now() + timedelta(seconds=min(2**row.attempts, 600))
            log.warning("delivery of outbox %s failed: %s", outbox_id, row.last_error)
            return
        row.status, row.sent_at = "sent", runtime.now()

