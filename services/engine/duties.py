"""The engine's duty and digest work: registration, fulfilment, and their timers.

Same discipline as hazards: read versioned documents, decide with the pure core,
publish the notices, commit state and timer together with compare-and-set, retry the
conflicting ones. Digest notice ids carry the period, so a digest is sent once per
period however many replicas fire it or however late a replica comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from services.clock import Clock
from services.core.digest import DigestState, missed_duties, run_digest
from services.core.duties import Duty, DutyState
from services.core.duty_timeline import (
    advance_duty,
    department_duties,
    duty_member,
    duty_subject,
    unit_duties,
)
from services.core.evaluate import PlannedNotice, Rules
from services.core.reducer import Fact
from services.core.state import HazardState, UnitInfo
from services.store.keys import digest_key, duty_key, unit_key
from services.store.ports import EntityStore, Stored, Write

log = logging.getLogger("duban.duties")
MAX_ATTEMPTS = 8
# Periods a digest remembers as sent: the core only asks about the latest one, and the
# document must not grow a line every week for ever.
DIGEST_PERIODS_KEPT = 60
M = TypeVar("M", HazardState, UnitInfo, DutyState)
Publish = Callable[[Sequence[PlannedNotice]], Awaitable[None]]


class DutyWork:
    """Duties of units and departments, and the digests."""

    def __init__(self, rules: Rules, store: EntityStore, publish: Publish, clock: Clock):
        self.rules = rules
        self.store = store
        self.publish = publish
        self.clock = clock
        self.duties = {d.id: d for d in rules.duties.duties}

    async def bootstrap(self) -> None:
        """Create department duties and digests that do not exist yet (owed from now)."""
        now = self.clock.now()
        seeds = [
            Write(
                duty_key(d.id, dept),
                0,
                DutyState(subject_id=dept, duty=d.id, owed_since=now).model_dump_json(),
                duty_member(d.id, dept),
                now,
            )
            for dept, d in department_duties(self.rules)
        ]
        seeds += [
            Write(
                digest_key(g.id),
                0,
                DigestState(digest=g.id, since=now).model_dump_json(),
                f"digest:{g.id}",
                now,
            )
            for g in self.rules.duties.digests
        ]
        # Version 0 expected: an existing document is a conflict and is left as it is.
        await self.store.commit(seeds)

    async def units_registered(self, units: Sequence[UnitInfo]) -> None:
        """Start (or re-plan) the duties each registered unit owes."""
        pairs = [(d, u.unit_id) for u in units for d in unit_duties(u, self.rules)]
        since = {u.unit_id: u.as_of for u in units}
        await self._advance(pairs, {}, since)

    async def fulfilled(self, facts: Sequence[tuple[str, Fact]]) -> None:
        """Apply duty.fulfilled facts ((subject id, fact))."""
        pairs, when = [], {}
        for subject_id, fact in facts:
            duty = self.duties.get(str(fact.data["duty"]))
            if duty is None:
                log.warning(
                    "duty.fulfilled for '%s', which no duty in duties.yaml defines",
                    fact.data["duty"],
                )
                continue
            pairs.append((duty, subject_id))
            when[duty_key(duty.id, subject_id)] = datetime.fromisoformat(
                str(fact.data["fulfilled_at"])
            )
        await self._advance(pairs, when, {})

    async def fire(self, members: Sequence[str]) -> None:
        """Fire duty timers ("duty:<duty>:<subject>") and digest timers ("digest:<id>")."""
        pairs = []
        for member in members:
            kind, _, rest = member.partition(":")
            duty_id, _, subject_id = rest.partition(":")
            if kind == "duty" and duty_id in self.duties:
                pairs.append((self.duties[duty_id], subject_id))
        await self._advance(pairs, {}, {})
        for member in members:
            if member.startswith("digest:"):
                await self._digest(member.partition(":")[2])

    async def _advance(
        self,
        pairs: list[tuple[Duty, str]],
        fulfilled: dict[str, datetime],
        since: dict[str, datetime | None],
    ) -> None:
        for _ in range(MAX_ATTEMPTS):
            if not pairs:
                return
            keys = [duty_key(d.id, s) for d, s in pairs]
            stored = await self.store.read(keys)
            units = await self._units([s for _, s in pairs])
            now = self.clock.now()
            writes, notices = [], []
            for (duty, subject_id), doc in zip(pairs, stored, strict=True):
                state = _duty_state(doc, duty, subject_id, since.get(subject_id) or now)
                unit = units.get(subject_id)
                result = advance_duty(
                    state,
                    duty,
                    duty_subject(subject_id, unit),
                    unit,
                    self.rules,
                    now,
                    fulfilled.get(doc.key),
                )
                notices += result.notices
                writes.append(
                    Write(
                        doc.key,
                        doc.version,
                        result.state.model_dump_json(),
                        duty_member(duty.id, subject_id),
                        result.next_at,
                    )
                )
            await self.publish(notices)
            conflicts = set(await self.store.commit(writes))
            pairs = [p for i, p in enumerate(pairs) if i in conflicts]
        raise RuntimeError(f"duty documents still conflicting: {pairs[:3]}")

    async def _digest(self, digest_id: str) -> None:
        digest = next((g for g in self.rules.duties.digests if g.id == digest_id), None)
        if digest is None:
            log.warning("timer for digest '%s', which duties.yaml no longer defines", digest_id)
            return
        for _ in range(MAX_ATTEMPTS):
            doc = (await self.store.read([digest_key(digest_id)]))[0]
            now = self.clock.now()
            state = (
                DigestState.model_validate_json(doc.json)
                if doc.json
                else DigestState(digest=digest_id, since=now)
            )
            hazards = await self._all(HazardState, "hazard")
            names = {u.unit_id: u.name or u.unit_id for u in await self._all(UnitInfo, "unit")}
            missed = missed_duties(await self._all(DutyState, "duty"), names)
            run = run_digest(digest, state, hazards, missed, self.rules, now)
            if run.period_key is not None:
                sent = [*state.sent, run.period_key][-DIGEST_PERIODS_KEPT:]
                state = state.model_copy(update={"sent": sent})
            await self.publish(run.notices)
            write = Write(
                doc.key, doc.version, state.model_dump_json(), f"digest:{digest_id}", run.next_at
            )
            if not await self.store.commit([write]):
                return
        raise RuntimeError(f"digest {digest_id} still conflicting")

    async def _units(self, subject_ids: list[str]) -> dict[str, UnitInfo]:
        docs = await self.store.read([unit_key(s) for s in subject_ids])
        return {
            info.unit_id: info
            for info in (UnitInfo.model_validate_json(d.json) for d in docs if d.json)
        }

    async def _all(self, model: type[M], kind: str) -> list[M]:
        return [model.model_validate_json(d) for d in await self.store.scan(kind)]


def _duty_state(doc: Stored, duty: Duty, subject_id: str, since: datetime) -> DutyState:
    if doc.json:
        return DutyState.model_validate_json(doc.json)
    return DutyState(subject_id=subject_id, duty=duty.id, owed_since=since)
