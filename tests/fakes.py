"""Fakes for the ports: a clock tests move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta


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
