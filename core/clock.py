"""What time it is for Pitstop: the real time, or a shifted one for demos and staging.

`PITSTOP_NOW=2026-11-23T07:00:00Z` starts the clock at that moment and lets it run on
from there, so a demo or a staging run plays the same Monday morning every time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, start: datetime | None = None):
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (the demo skips to the afternoon)."""
        self._offset += delta
