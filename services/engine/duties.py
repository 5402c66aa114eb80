"""The engine's duty and digest work: registration, fulfilment, and their timers.

Same discipline as hazards: read versioned documents, decide with the pure core, commit
state, timer and notices (into the outbox) together with compare-and-set, publish the
notices of the commits that succeeded, retry the conflicting ones. Digest notice ids
carry the period, so a digest is sent once per period however many replicas fire it or
however late a replica comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
    is_high_risk,
    new_state,
    unit_duties,
)
from services.core.evaluate import PlannedNotice, Rules
from services.core.reducer import Fact
from services.core.state import HazardState, UnitInfo
from services.core.task_rows import tasks_by_owner
from services.engine.outbox import Outbox
from services.store.keys import digest_key, duty_key, unit_key
from services.store.ports import EntityStore, Stored, Write

log = logging.getLogger("duban.duties")
MAX_ATTEMPTS = 8
# Periods a digest remembers as sent: the core only asks about the latest one, and the
# document must not grow a line every week for ever.
DIGEST_PERIODS_KEPT = 60
M = TypeVar("M", HazardState, UnitInfo, DutyState)


class DutyWork:
    """Duties of units and departments, and the digests."""

    def __init__(self, rules: Rules, store: EntityStore, outbox: Outbox, clock: Clock):
        self.rules = rules
        self.store = store
        self.outbox = outbox
        self.clock = clock
        self.duties = {d.id: d for d in rules.duties.duties}
        self.bound = {(d.id, dept) for dept, d in department_duties(rules)}
        self._warned: set[str] = set()

    async def bootstrap(self) -> None:
        """Create the listed departments' duties (first seen now) and the digests that do
        not exist yet; re-plan the existing department duties (a department listed again
        gets its timer back)."""
        now = self.clock.now()
        bound = department_duties(self.rules)
        seeds = [
            Write(
                duty_key(d.id, dept),
                0,
                new_state(dept, d, False, self.rules, now).model_dump_json(),
                duty_member(d.id, dept),
                now,
            )
            for dept, d in bound
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
        # Version 0 expected: an existing document is a conflict and is left as it is,
        # only re-planned.
        existing = set(await self.store.commit(seeds))
        await self._advance([(d, dept) for i, (dept, d) in enumerate(bound) if i in existing], {})

    async def units_registered(self, units: Sequence[UnitInfo]) -> None:
        """Start (or re-plan) the duties each registered unit owes. A unit is first seen
        when duban first processes it, not at the registry's own date: a unit registered
        years ago is not written up for past periods at go-live."""
        pairs = [(d, u.unit_id) for u in units for d in unit_duties(u, self.rules)]
        await self._advance(pairs, {})

    async def fulfilled(self, facts: Sequence[tuple[str, Fact]]) -> None:
        """Apply duty.fulfilled facts ((subject id, fact))."""
        pairs, when = [], {}
        for subject_id, fact in facts:
            duty = self.duties.get(str(fact.data["duty"]))
            if duty is None:
                self._warn(
                    f"duty.fulfilled：duties.yaml 中没有履职事项 '{fact.data['duty']}'，已忽略"
                    f"（no duty '{fact.data['duty']}' in duties.yaml）"
                )
                continue
            if not self._owes(duty, subject_id):
                self._warn(
                    f"duty.fulfilled：部门 '{subject_id}' 不在 duties.yaml 中“{duty.id}”的 "
                    f"departments 里（或通讯录里没有该部门），已忽略（department '{subject_id}' "
                    f"does not owe '{duty.id}'）"
                )
                continue
            pairs.append((duty, subject_id))
            when[duty_key(duty.id, subject_id)] = datetime.fromisoformat(
                str(fact.data["fulfilled_at"])
            )
        await self._advance(pairs, when)

    async def fire(self, members: Sequence[str]) -> None:
        """Fire duty timers ("duty:<duty>:<subject>") and digest timers ("digest:<id>")."""
        pairs = []
        for member in members:
            kind, _, rest = member.partition(":")
            duty_id, _, subject_id = rest.partition(":")
            if kind == "duty" and duty_id in self.duties:
                pairs.append((self.duties[duty_id], subject_id))
        await self._retire([p for p in pairs if not self._owes(*p)])
        await self._advance([p for p in pairs if self._owes(*p)], {})
        for member in members:
            if member.startswith("digest:"):
                await self._digest(member.partition(":")[2])

    async def _advance(
        self,
        pairs: list[tuple[Duty, str]],
        fulfilled: dict[str, datetime],
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
                write, sent = self._decide(
                    duty, subject_id, doc, units.get(subject_id), fulfilled.get(doc.key), now
                )
                writes.append(write)
                notices.append(sent)
            conflicts = await self.outbox.commit(writes, notices)
            pairs = [p for i, p in enumerate(pairs) if i in conflicts]
        raise RuntimeError(f"duty documents still conflicting: {pairs[:3]}")

    def _decide(
        self,
        duty: Duty,
        subject_id: str,
        doc: Stored,
        unit: UnitInfo | None,
        fulfilled_at: datetime | None,
        now: datetime,
    ) -> tuple[Write, list[PlannedNotice]]:
        """One duty of one subject at `now`: its new document and timer, and the notices."""
        state = (
            DutyState.model_validate_json(doc.json)
            if doc.json
            else new_state(subject_id, duty, is_high_risk(unit, self.rules), self.rules, now)
        )
        subject = duty_subject(subject_id, unit)
        result = advance_duty(state, duty, subject, unit, self.rules, now, fulfilled_at)
        for warning in result.warnings:
            self._warn(warning)
        member = duty_member(duty.id, subject_id)
        json = result.state.model_dump_json()
        return Write(doc.key, doc.version, json, member, result.next_at), result.notices

    def _owes(self, duty: Duty, subject_id: str) -> bool:
        """Units owe their duties; a department only the duties listing it."""
        return duty.owed_by != "department" or (duty.id, subject_id) in self.bound

    async def _retire(self, pairs: list[tuple[Duty, str]]) -> None:
        """Stop the timers of department duties duties.yaml no longer lists; send nothing."""
        if not pairs:
            return
        docs = await self.store.read([duty_key(d.id, s) for d, s in pairs])
        await self.store.commit(
            [
                Write(doc.key, doc.version, doc.json, duty_member(d.id, s), None)
                for (d, s), doc in zip(pairs, docs, strict=True)
                if doc.json is not None
            ]
        )

    def _warn(self, warning: str) -> None:
        """Log each distinct warning once per process, as the hazard work does."""
        if warning not in self._warned:
            self._warned.add(warning)
            log.warning("%s", warning)

    async def _digest(self, digest_id: str) -> None:
        digest = next((g for g in self.rules.duties.digests if g.id == digest_id), None)
        if digest is None:
            self._warn(
                f"duties.yaml 中已没有统计报送 '{digest_id}'，其定时器不再发送"
                f"（timer for digest '{digest_id}', which duties.yaml no longer defines）"
            )
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
            units = await self._all(UnitInfo, "unit")
            names = {u.unit_id: u.name or u.unit_id for u in units}
            industries = {u.unit_id: u.industry for u in units}
            missed = missed_duties(await self._all(DutyState, "duty"), names, industries)
            by_id = {u.unit_id: u for u in units}
            tasks = tasks_by_owner(await self._all(HazardState, "task"), by_id, self.rules, now)
            run = run_digest(digest, state, hazards, missed, self.rules, now, tasks)
            if run.period_key is not None:
                sent = [*state.sent, run.period_key][-DIGEST_PERIODS_KEPT:]
                state = state.model_copy(update={"sent": sent})
            write = Write(
                doc.key, doc.version, state.model_dump_json(), f"digest:{digest_id}", run.next_at
            )
            if not await self.outbox.commit([write], [run.notices]):
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
