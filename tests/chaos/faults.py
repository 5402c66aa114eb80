"""The seeded fault schedule and its execution.

Classes: ``replica_kill`` (kill -9 of a random engine or notifier, restarted after a few
seconds), ``redis_kill`` and ``kafka_kill`` (kill -9 of the chaos run's own server, then
restarted), ``freeze`` (SIGSTOP of a random replica for longer than its leases, then
SIGCONT). With Redis as primary, replica and sentinels (the default; tests/chaos/ha.py)
``redis_kill`` kills the replica, and ``failover`` kills the primary: the sentinels
promote the replica, the old primary rejoins as its replica. Faults run one after another
at their planned times; a freeze runs beside the others. Each fault notes its downtime,
which bounds how late a notice may be.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.chaos.infra import ChaosInfra
from tests.chaos.replicas import Fleet, Replica
from tests.stack import wait_until_async

CLASSES = ("replica_kill", "redis_kill", "kafka_kill", "freeze")
HA_CLASSES = (*CLASSES, "failover")


def classes_for(sentinel: bool) -> tuple[str, ...]:
    """The fault classes of a run: with the sentinels, failovers too."""
    return HA_CLASSES if sentinel else CLASSES


FREEZE_S = 35.0  # past the delivery ledger's 30 s lease and the timers' lease
FREEZE_WAIT_S = 60.0  # a freeze waits this long for two replicas awake


@dataclass(frozen=True)
class Fault:
    at_s: float
    kind: str
    target: int  # which replica (replica_kill, freeze)
    down_s: float


@dataclass
class FaultLog:
    """What happened: counts per class, the longest downtime, each fault's line."""

    counts: Counter[str] = field(default_factory=Counter)
    longest_down_s: float = 0.0
    lines: list[str] = field(default_factory=list)

    def note(self, fault: Fault, down_s: float, what: str) -> None:
        self.counts[fault.kind] += 1
        self.longest_down_s = max(self.longest_down_s, down_s)
        self.lines.append(f"{fault.at_s:7.1f}s {fault.kind:<13} {what} (down {down_s:.1f}s)")


def schedule(
    seed: int,
    window_s: float,
    per_class: int,
    replicas: int,
    classes: tuple[str, ...] = CLASSES,
) -> list[Fault]:
    """`per_class` faults of each class at seeded times within the window."""
    rng = random.Random(seed + 3)
    faults = []
    for kind in classes:
        for _ in range(per_class):
            down = FREEZE_S if kind == "freeze" else rng.uniform(2, 6)
            at = rng.uniform(0.05 * window_s, 0.9 * window_s)
            faults.append(Fault(at, kind, rng.randrange(replicas), down))
    return sorted(faults, key=lambda f: f.at_s)


class Faults:
    """Runs a schedule against the fleet and the chaos servers."""

    def __init__(self, fleet: Fleet, infra: ChaosInfra, faults: list[Fault]) -> None:
        self.fleet, self.infra, self.faults = fleet, infra, faults
        self.log = FaultLog()
        self._freezes: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        started = time.monotonic()
        for fault in self.faults:
            wait = fault.at_s - (time.monotonic() - started)
            if wait > 0:
                await asyncio.sleep(wait)
            if fault.kind == "freeze":
                self._freezes.append(asyncio.create_task(self._freeze(fault)))
            else:
                await self._one(fault)
        await asyncio.gather(*self._freezes)

    async def _one(self, fault: Fault) -> None:
        started = time.monotonic()
        if fault.kind == "replica_kill":
            replica = self.fleet.replicas[fault.target]
            replica.kill()
            await asyncio.sleep(fault.down_s)
            replica.start()
            what = f"kill -9 {replica.name}, restarted"
        elif fault.kind == "failover" and self.infra.ha is not None:
            what = await self.infra.ha.fail_over(fault.down_s)
        elif fault.kind == "redis_kill" and self.infra.ha is not None:
            what = await self.infra.ha.kill_replica(fault.down_s)
        elif fault.kind == "redis_kill":
            self.infra.kill_redis()
            await asyncio.sleep(fault.down_s)
            await self.infra.start_redis()
            what = "kill -9 redis, restarted"
        else:
            self.infra.kill_kafka()
            await asyncio.sleep(fault.down_s)
            await self.infra.start_kafka()
            what = "kill -9 kafka, restarted"
        self.log.note(fault, time.monotonic() - started, what)

    async def _freeze(self, fault: Fault) -> None:
        target = self.fleet.replicas[fault.target]

        def pick() -> Replica | None:
            """The target if awake, else another while two are awake (a freeze, not an
            outage); None until then."""
            if target.alive and not target.frozen:
                return target
            awake = [r for r in self.fleet.replicas if r.alive and not r.frozen]
            return awake[fault.target % len(awake)] if len(awake) >= 2 else None

        try:
            replica = await wait_until_async(pick, timeout_s=FREEZE_WAIT_S, interval_s=1.0)
        except TimeoutError:
            self.log.lines.append(f"{fault.at_s:7.1f}s freeze         skipped: none awake")
            return
        started = time.monotonic()
        replica.freeze()
        await asyncio.sleep(fault.down_s)
        replica.thaw()
        self.log.note(fault, time.monotonic() - started, f"SIGSTOP {replica.name}, SIGCONT")
