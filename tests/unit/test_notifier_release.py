"""Releasing quiet-hours deferrals: a notice that fails is dead-lettered once, never
re-claimed forever; an outage leaves it for its lease to bring back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from contracts.notice import NoticeRequested
from contracts.registry import parse_event
from services.guard import Record
from services.notifier.deferred import Unreadable
from services.notifier.intake import Intake, release_once
from services.notifier.render import TemplateError
from tests.fakes import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "examples" / "notice.requested.json"


def notice() -> NoticeRequested:
    data = parse_event(EXAMPLE.read_bytes()).data
    assert isinstance(data, NoticeRequested)
    return data


class Store:
    def __init__(self, due: list[NoticeRequested | Unreadable]) -> None:
        self.due = due
        self.done_ids: list[str] = []
        self.forgotten: list[str] = []

    async def claim(self, now: datetime, limit: int, lease_s: float) -> list:
        due, self.due = self.due, []
        return due

    async def done(self, n: NoticeRequested) -> None:
        self.done_ids.append(n.notice_id)

    async def forget(self, member: str) -> None:
        self.forgotten.append(member)


class Deliverer:
    def __init__(self, error: Exception | None, held: bool = False) -> None:
        self.error = error
        self.held = held  # the deliverer held the notice again (every channel down)
        self.dead: list[str] = []
        self.outcomes = SimpleNamespace(dead_letter=self._dead_letter)

    async def deliver(self, n: NoticeRequested) -> bool:
        if self.error is not None:
            raise self.error
        return self.held

    async def _dead_letter(self, n: NoticeRequested, reason: str) -> None:
        self.dead.append(reason)


def intake(deliverer: Deliverer, raw_dead: list[tuple[Record, str]]) -> Intake:
    async def dead_letter(record: Record, reason: str) -> None:
        raw_dead.append((record, reason))

    return Intake(deliverer, dead_letter)  # type: ignore[arg-type]


CLOCK = FakeClock(datetime(2026, 9, 1, tzinfo=UTC))


@pytest.mark.parametrize("error", [TemplateError("undefined 'x'"), KeyError("boom")])
async def test_a_failing_release_is_dead_lettered_and_done(error: Exception) -> None:
    store, deliverer, raw = Store([notice()]), Deliverer(error), []
    assert await release_once(intake(deliverer, raw), store, CLOCK) == 1  # type: ignore[arg-type]
    assert len(deliverer.dead) == 1 and store.done_ids == [notice().notice_id]
    assert await release_once(intake(deliverer, raw), store, CLOCK) == 0  # type: ignore[arg-type]


async def test_an_outage_during_release_leaves_the_deferral_for_its_lease() -> None:
    store, deliverer = Store([notice()]), Deliverer(RedisConnectionError("down"))
    with pytest.raises(RedisConnectionError):
        await release_once(intake(deliverer, []), store, CLOCK)  # type: ignore[arg-type]
    assert deliverer.dead == [] and store.done_ids == []


async def test_an_unreadable_deferral_is_dead_lettered_raw_and_forgotten() -> None:
    bad = Unreadable("n1#1@p1", b"{not json", "ValidationError, 9 bytes")
    store, raw = Store([bad]), []
    await release_once(intake(Deliverer(None), raw), store, CLOCK)  # type: ignore[arg-type]
    assert [(r.value, reason) for r, reason in raw] == [
        (b"{not json", "deferred notice unreadable: ValidationError, 9 bytes")
    ]
    assert store.forgotten == ["n1#1@p1"]


async def test_a_released_notice_held_again_keeps_its_new_time() -> None:
    store = Store([notice()])
    assert await release_once(intake(Deliverer(None, held=True), []), store, CLOCK) == 1  # type: ignore[arg-type]
    assert store.done_ids == []  # not forgotten: the hold's new time stands


async def test_a_released_notice_delivered_is_done() -> None:
    store = Store([notice()])
    assert await release_once(intake(Deliverer(None), []), store, CLOCK) == 1  # type: ignore[arg-type]
    assert store.done_ids == [notice().notice_id]
