"""Staff in chat: mechanics and owners on the same bot and number as customers.

Placeholder until issue 7 lands: no one is treated as staff yet, so every message goes
to the customer conversation.
"""

from __future__ import annotations


def handles(session, shop_id, inbound, event, now, inbox_id) -> bool:
    """True when the message was a staff member's and has been answered here."""
    return False
