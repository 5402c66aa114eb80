"""A retried loop's failures are logged once per streak with a traceback, not every round."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from services.engine.timers import TimerLoop
from services.errors import FailureStreak
from services.settings import Settings
from tests.fakes import FakeClock

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, bool]]:
    return [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]


def test_a_streak_logs_its_traceback_once_then_a_line_a_minute_then_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks, log = Ticks(), logging.getLogger("duban.test.streak")
    streak = FailureStreak(log, "firing timers", every_s=60, monotonic=ticks)
    with caplog.at_level(logging.INFO, logger="duban.test.streak"):
        for _ in range(3):  # three rounds, 2 s apart
            streak.failed(ConnectionError("refused"), retry_s=2)
            ticks.s += 2
        ticks.s += 55  # 61 s after the first
        streak.failed(ConnectionError("refused"), retry_s=2)
        streak.failed(TimeoutError("slow"), retry_s=2)  # another kind: its traceback too
        streak.succeeded()
        streak.succeeded()  # no streak: nothing more
    assert lines(caplog) == [
        ("ERROR", "firing timers failed; retrying every 2 s", True),
        ("ERROR", "firing timers still failing: 4 attempts in 61 s (ConnectionError)", False),
        ("ERROR", "firing timers failed; retrying every 2 s", True),
        ("WARNING", "firing timers works again after 5 failed attempts in 61 s", False),
    ]
    assert streak.failures == 0


class Refusing:
    """A timer store that refuses `times` claims, then has nothing due."""

    def __init__(self, times: int) -> None:
        self.times = times

    async def claim_due(self, *_: object) -> list[object]:
        if self.times:
            self.times -= 1
            raise ConnectionError("Redis refused the connection")
        return []

    async def pending(self) -> int:
        return 0


class Firing:
    async def fire(self, members: list[str], due: object = None) -> None:
        return None


async def test_the_timer_loop_logs_redis_down_once_and_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = TimerLoop(Firing(), Refusing(3), FakeClock(NOW), Settings())  # type: ignore[arg-type]
    loop.stop()  # its pauses end at once
    with caplog.at_level(logging.INFO, logger="duban.timers"):
        for _ in range(4):
            await loop._round()
    # the messages up to what varies (the retry pause, the streak's real duration)
    found = [
        (level, text.split(";")[0].split(" in ")[0], trace) for level, text, trace in lines(caplog)
    ]
    assert found == [
        ("ERROR", "firing timers failed", True),
        ("WARNING", "firing timers works again after 3 failed attempts", False),
    ]
