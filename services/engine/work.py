"""The engine's service layer: a batch of records (or due timers) in, notices and state out.

`Engine.apply` is what happens when events arrive and `Engine.fire` what happens when
timers fire; the consumer, the timer loop and `duban simulate` all call these two.

Order of effects, per batch: commit state, timers and the decided notices (into the
outbox) with compare-and-set, then publish the notices of the commits that succeeded
(awaiting the broker) and clear them from the outbox, then let the consumer commit
offsets (services.engine.outbox). A version conflict (another replica, or a timer firing
for the same hazard) publishes nothing for that hazard: it is re-read and re-decided. A
crash after a commit leaves its notices in the outbox, which the sweep publishes; a
repeat has the same notice ids, which the notifier's delivery keys turn into no-ops.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from contracts.registry import DEFAULT_LIMITS, InputLimits, InvalidEvent, parse_event
from services.clock import Clock
from services.core.advance import Advanced, advance
from services.core.evaluate import Rules
from services.core.state import HazardState, SubjectKind, UnitInfo
from services.engine.duties import DutyWork
from services.engine.observe import observe
from services.engine.outbox import Outbox
from services.engine.people import PeopleWork
from services.inbound import Routed, route
from services.store.keys import hazard_key, task_key, unit_key
from services.store.ports import EntityStore, Sink, Stored, Write

if TYPE_CHECKING:
    # services.guard imports Kafka's and Redis's error classes; simulate imports no client.
    from services.guard import Record
    from services.metrics import EngineMetrics

log = logging.getLogger("duban.engine")
MAX_ATTEMPTS = 8
UNIT_CACHE_SIZE = 10_000
POISON_RETRY = timedelta(hours=1)


@dataclass
class BatchReport:
    """What one batch did, for logs, metrics and tests."""

    applied: int = 0
    rejected: int = 0
    notices: int = 0
    conflicts: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class ParsedUnits:
    """Unit documents parsed once per distinct stored JSON.

    Every batch still reads its units from Redis, so an update is seen at once; only
    parsing is saved (a batch of 500 hazards of 200 units re-parsed them every time).
    Keyed by the JSON text itself, a cached entry can never be stale.
    """

    def __init__(self, size: int = UNIT_CACHE_SIZE) -> None:
        self.size = size
        self._parsed: dict[str, UnitInfo] = {}

    def __call__(self, json: str) -> UnitInfo:
        info = self._parsed.get(json)
        if info is None:
            if len(self._parsed) >= self.size:
                self._parsed.clear()
            info = self._parsed[json] = UnitInfo.model_validate_json(json)
        return info


class Engine:
    """Applies events and fires timers for hazards, supervised tasks and units."""

    def __init__(
        self,
        rules: Rules,
        store: EntityStore,
        sink: Sink,
        clock: Clock,
        limits: InputLimits = DEFAULT_LIMITS,
        metrics: EngineMetrics | None = None,
    ) -> None:
        self.rules = rules
        self.metrics = metrics
        self.limits = limits
        self.store = store
        self.sink = sink
        self.clock = clock
        self.outbox = Outbox(store, sink)
        self.duties = DutyWork(rules, store, self.outbox, clock)
        self.people = PeopleWork(rules, store)
        self._warned: set[str] = set()
        self._parsed_units = ParsedUnits()

    async def handle(self, records: Sequence[Record]) -> BatchReport:
        """Process consumed records: invalid ones to the dead-letter topic, the rest applied."""
        report = BatchReport()
        routed: list[Routed] = []
        for record in records:
            try:
                routed.append(
                    replace(route(parse_event(record.value, limits=self.limits)), origin=record)
                )
            except InvalidEvent as e:
                report.rejected += 1
                log.warning("dead-lettered %s: %s", record.position, e.reason)
                await self.sink.dead_letter(record, e.reason)
        await self.apply(routed, report)
        observe(report, self.rules, self.metrics)
        return report

    async def apply(
        self, events: Sequence[Routed], report: BatchReport | None = None
    ) -> BatchReport:
        """Events arrive: units registered first, then hazards and tasks advanced, then
        duties fulfilled."""
        report = report or BatchReport()
        by_entity: dict[str, list[Routed]] = defaultdict(list)
        for routed in events:
            by_entity[routed.entity].append(routed)
        await self.duties.units_registered(await self._units(by_entity))
        await self.people.registered(by_entity)
        for kind in _KINDS:
            mine = {k.partition(":")[2]: v for k, v in by_entity.items() if _is(kind, k)}
            if mine:
                await self.advance_hazards(mine, report, kind)
        await self.duties.fulfilled(
            [(k.partition(":")[2], r.duty) for k, v in by_entity.items() for r in v if r.duty]
        )
        for key in (k for k in by_entity if k.startswith("notice:")):
            log.info("acknowledgement of %s noted; duty and digest notices do not repeat", key)
        return report

    async def fire(
        self, members: Sequence[str], due: Mapping[str, datetime] | None = None
    ) -> BatchReport:
        """Timers fire ("hazard:<id>", "task:<id>", "duty:<duty>:<subject>", "digest:<id>"):
        re-decide at now; a hazard's or task's steps due since its timer's due time (in
        `due`, by member) are decided as on time."""
        report = BatchReport()
        for kind in _KINDS:
            mine: dict[str, list[Routed]] = {
                m.partition(":")[2]: [] for m in members if _is(kind, m)
            }
            if mine:
                since = {m.partition(":")[2]: at for m, at in (due or {}).items() if _is(kind, m)}
                await self.advance_hazards(mine, report, kind, since)
        others = [m for m in members if not any(_is(kind, m) for kind in _KINDS)]
        if others:
            await self.duties.fire(others)
        return report

    async def advance_hazards(
        self,
        hazards: dict[str, list[Routed]],
        report: BatchReport | None = None,
        kind: SubjectKind = "hazard",
        due: Mapping[str, datetime] | None = None,
    ) -> BatchReport:
        """Advance each hazard (or task, by `kind`) with its new events (none: a timer
        fired, due at `due[id]` if known) at the clock's now."""
        report = report or BatchReport()
        pending = dict(hazards)
        for _ in range(MAX_ATTEMPTS):
            if not pending:
                return report
            conflicted = await self._attempt(pending, report, kind, due or {})
            report.conflicts += len(conflicted)
            pending = {h: pending[h] for h in conflicted}
        raise RuntimeError(
            f"{kind}s still conflicting after {MAX_ATTEMPTS} attempts: {sorted(pending)[:5]}"
        )

    async def _attempt(
        self,
        pending: dict[str, list[Routed]],
        report: BatchReport,
        kind: SubjectKind,
        due: Mapping[str, datetime],
    ) -> list[str]:
        ids = list(pending)
        key_of = task_key if kind == "task" else hazard_key
        stored = await self.store.read([key_of(h) for h in ids])
        states = [_hazard(s) for s in stored]
        units = await self._unit_docs(states, pending)
        rules = await self.people.rules_for(states, pending.values(), units.values())
        now = self.clock.now()
        done: list[tuple[str, Stored, Advanced]] = []
        for hazard_id, doc, state in zip(ids, stored, states, strict=True):
            items = pending[hazard_id]
            unit = units.get(_unit_id(state, items) or "")
            try:
                result = advance(
                    state,
                    hazard_id,
                    [r.fact for r in items if r.fact],
                    [r.ack for r in items if r.ack],
                    unit,
                    rules,
                    now,
                    kind,
                    arrived=_arrived(items) or due.get(hazard_id),
                )
            except Exception as e:  # a core bug or an input it cannot take: never a crash loop
                await self._poisoned(f"{kind}:{hazard_id}", doc, items, e, now)
                continue
            done.append((hazard_id, doc, result))
        writes = [
            Write(
                doc.key,
                doc.version,
                r.state.model_dump_json(),
                f"{kind}:{h}" if r.replanned else None,
                r.next_at,
            )
            for h, doc, r in done
        ]
        conflicts = await self.outbox.commit(writes, [r.notices for _, _, r in done])
        for i, (_, _, result) in enumerate(done):
            if i not in conflicts:
                self._account(result, report)
        return [done[i][0] for i in sorted(conflicts)]

    async def _poisoned(
        self, member: str, doc: Stored, items: list[Routed], error: Exception, now: datetime
    ) -> None:
        """Dead-letter the events the core failed on; a failing timer retries hourly."""
        from services.guard import failure_reason  # see the import note at the top

        kind, _, entity_id = member.partition(":")
        reason = f"engine could not process {kind} {entity_id}: {failure_reason(error)}"
        log.error("%s", reason, exc_info=error)
        for item in items:
            if item.origin is not None:  # simulated events come from no record
                await self.sink.dead_letter(cast("Record", item.origin), reason)
        if doc.json is not None and not items:
            retry = Write(doc.key, doc.version, doc.json, member, now + POISON_RETRY)
            await self.store.commit([retry])

    def _account(self, result: Advanced, report: BatchReport) -> None:
        report.notices += len(result.notices)
        for _, outcome, _ in result.outcomes:
            report.outcomes[outcome] += 1
            report.applied += outcome == "applied"
        for warning in result.warnings:
            if warning not in self._warned:  # each distinct gap once per process
                self._warned.add(warning)
                log.warning("%s", warning)

    async def _unit_docs(
        self, states: list[HazardState | None], pending: dict[str, list[Routed]]
    ) -> dict[str, UnitInfo]:
        unit_ids = {
            u
            for s, items in zip(states, pending.values(), strict=True)
            if (u := _unit_id(s, items))
        }
        docs = await self.store.read([unit_key(u) for u in unit_ids])
        return {info.unit_id: info for info in (self._parsed_units(d.json) for d in docs if d.json)}

    async def _units(self, by_entity: dict[str, list[Routed]]) -> list[UnitInfo]:
        """Keep each unit's newest registry data (stale upserts never overwrite newer ones)."""
        latest = {
            k.partition(":")[2]: max((r.unit for r in v if r.unit), key=_as_of)
            for k, v in by_entity.items()
            if k.startswith("unit:")
        }
        registered: list[UnitInfo] = []
        for _ in range(MAX_ATTEMPTS):
            if not latest:
                return registered
            stored = await self.store.read([unit_key(u) for u in latest])
            fresh = [
                (s, info)
                for s, info in zip(stored, latest.values(), strict=True)
                if _newer(info, s)
            ]
            writes = [Write(s.key, s.version, info.model_dump_json()) for s, info in fresh]
            conflicts = set(await self.store.commit(writes))
            registered += [info for i, (_, info) in enumerate(fresh) if i not in conflicts]
            keys = {writes[i].key for i in conflicts}
            latest = {u: i for u, i in latest.items() if unit_key(u) in keys}
        raise RuntimeError("unit documents still conflicting")


def _hazard(stored: Stored) -> HazardState | None:
    return HazardState.model_validate_json(stored.json) if stored.json else None


_KINDS: tuple[SubjectKind, ...] = ("hazard", "task")


def _is(kind: SubjectKind, member: str) -> bool:
    """Whether an entity or timer member ("task:<id>") is of `kind`."""
    return member.startswith(kind + ":")


def _unit_id(state: HazardState | None, items: list[Routed]) -> str | None:
    """The unit a hazard belongs to, or the unit owning a task (newest event first)."""
    for item in reversed(items):
        owner = item.fact.data.get("owner") if item.fact else None
        if isinstance(owner, dict):
            return str(owner["id"]) if owner.get("kind") == "unit" else None
    if state is not None and state.unit is not None:
        return state.unit.id
    if state is not None and state.owner_kind == "unit":
        return state.owner_id
    for item in items:
        unit = item.fact.data.get("unit") if item.fact else None
        if isinstance(unit, dict):
            return str(unit["id"])
    return None


def _arrived(items: list[Routed]) -> datetime | None:
    """When the first of a hazard's consumed events reached Kafka (None: none consumed)."""
    stamps = [r.timestamp_ms for i in items if (r := cast("Record", i.origin)) and r.timestamp_ms]
    return datetime.fromtimestamp(min(stamps) / 1000, UTC) if stamps else None


def _as_of(info: UnitInfo | None) -> str:
    return info.as_of.isoformat() if info and info.as_of else ""


def _newer(info: UnitInfo, stored: Stored) -> bool:
    if stored.json is None:
        return True
    old = UnitInfo.model_validate_json(stored.json)
    return old.as_of is None or info.as_of is None or info.as_of >= old.as_of
