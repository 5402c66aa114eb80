"""Fakes for the ports: a clock tests move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.store.entities import Stored, Write


class FakeClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        """The fake present."""
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.current += delta

    def set(self, moment: datetime) -> None:
        """Jump to a moment."""
        self.current = moment


class MemoryStore:
    """EntityStore's fake side: versioned documents and the timer set in dicts."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[int, str]] = {}
        self.timers: dict[str, datetime] = {}
        self.conflict_next: list[str] = []  # keys whose next commit loses a race

    async def read(self, keys: list[str]) -> list[Stored]:
        return [
            Stored(k, self.docs.get(k, (0, None))[1], self.docs.get(k, (0, None))[0]) for k in keys
        ]

    async def scan(self, kind: str) -> list[str]:
        return [json for key, (_, json) in self.docs.items() if key.startswith(f"duban:{kind}:")]

    async def commit(self, writes: list[Write]) -> list[int]:
        conflicts = []
        for i, w in enumerate(writes):
            version = self.docs.get(w.key, (0, None))[0]
            if w.key in self.conflict_next:
                self.conflict_next.remove(w.key)
                self.docs[w.key] = (version + 1, self.docs.get(w.key, (0, w.json))[1] or w.json)
                conflicts.append(i)
                continue
            if version != w.expected_version:
                conflicts.append(i)
                continue
            self.docs[w.key] = (version + 1, w.json)
            if w.timer_member:
                if w.timer_due is None:
                    self.timers.pop(w.timer_member, None)
                else:
                    self.timers[w.timer_member] = w.timer_due
        return conflicts


class RecordingSink:
    """The engine's output, kept for assertions."""

    def __init__(self) -> None:
        self.published: list = []
        self.dead: list[tuple[bytes, str]] = []

    async def notices(self, notices) -> None:
        self.published.extend(notices)

    async def dead_letter(self, record, reason: str) -> None:
        self.dead.append((record.value, reason))
