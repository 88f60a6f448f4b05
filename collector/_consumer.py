"""What reads the admitted telemetry stream beside storage.

The collector hands every message its machine's ``Streams`` admitted to each consumer, in
order, before the message's batch is stored (so an acknowledged message has been seen by
all of them), and asks each for its points every ``kpi.interval``. The KPI engine is one; a
fault early-warning detector is another of the same shape: add it to ``Collector.consumers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ._messages import Message
from ._points import Retraction


class StreamConsumer(Protocol):
    def feed(self, msg: Message, received_ms: int) -> None:
        """One admitted message (no I/O: the ingest waits for it)."""

    def tick_steps(self, received_ms: int) -> Iterator[list[str]]:
        """The points due now, in parts (the ingest runs between them)."""

    def take_retractions(self) -> list[Retraction]:
        """Stored points to delete before the last part's points are written."""
