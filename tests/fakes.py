"""Fakes for the ports. The in-memory twins live in the product (services.store.memory,
which `duban simulate` runs on); what is only for tests stays here."""

from __future__ import annotations

from collections.abc import Sequence

from services.store.memory import MemoryEntityStore, RecordingSink
from services.store.memory import VirtualClock as FakeClock
from services.store.ports import Write

__all__ = ["FakeClock", "RacingStore", "RecordingSink"]


class RacingStore(MemoryEntityStore):
    """An entity store where another replica wins the next commit of the keys named."""

    def __init__(self) -> None:
        super().__init__()
        self.conflict_next: list[str] = []  # keys whose next commit loses a race

    async def commit(self, writes: Sequence[Write]) -> list[int]:
        for write in writes:
            if write.key in self.conflict_next:
                self.conflict_next.remove(write.key)
                # The winner committed the same state first (it applied the same events).
                version, json = self.docs.get(write.key, (0, write.json))
                self.docs[write.key] = (version + 1, json)
        return await super().commit(writes)


class FakeTime:
    """Monotonic time that moves only when the deliverer sleeps or the test says."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The fake monotonic clock."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the pause and let that much time pass."""
        self.sleeps.append(seconds)
        self.now += seconds
