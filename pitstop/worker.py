"""The `pitstop worker` process's RQ worker."""

from __future__ import annotations

from rq import SimpleWorker


class Worker(SimpleWorker):
    """RQ's SimpleWorker (jobs in this process), listening for RQ's commands with waits
    of 1 s rather than 60: on leaving, RQ closes the listener while it may still be
    waiting, and `pitstop worker --burst` then hung for up to a minute now and then."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=1, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)  # fmt: skip
