"""What every benchmark shares: figures, the stack, fresh topics, producing and progress.

Benchmarks never touch Redis databases 0 (`make run`) and 1 (integration tests), and
each run uses topic names and consumer groups of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from contracts.topics import Topics
from services.kafka import ensure_topics
from services.settings import Settings, all_topics
from tests.perf.events import Produced
from tests.stack import STACK_DIR, LocalStack

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO_ROOT / "deploy" / "config" / "example"
POLL_S = 0.1


@dataclass(frozen=True)
class Peer:
    """Another system's figure for the same measurement, same machine, same run."""

    name: str
    value: float | None
    note: str = ""


@dataclass
class Figure:
    """One measured figure, its target, and the peers' figures under the same conditions."""

    name: str
    value: float | None
    unit: str
    how: str
    target: float | None = None
    higher_is_better: bool = True
    peers: list[Peer] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """Whether the target is met (None: no target or nothing measured)."""
        if self.target is None or self.value is None:
            return None
        if self.higher_is_better:
            return self.value >= self.target
        return self.value <= self.target

    def ratio(self, peer: Peer) -> float | None:
        """duban / peer (for lower-is-better figures, below 1 means duban is ahead)."""
        if self.value is None or not peer.value:
            return None
        return self.value / peer.value

    def as_json(self) -> dict[str, Any]:
        """The figure with its derived fields, for bench-results.json."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "peers"}
        out["peers"] = [
            {"name": p.name, "value": p.value, "note": p.note, "ratio_duban_to_peer": _r(self, p)}
            for p in self.peers
        ]
        return out | {"passed": self.passed}


def _r(figure: Figure, peer: Peer) -> float | None:
    ratio = figure.ratio(peer)
    return None if ratio is None else round(ratio, 3)


@dataclass
class Section:
    """The figures of one benchmark and what it measured them on."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def unique_tag() -> str:
    """A suffix that keeps this run's topics, groups and keys apart from every other."""
    return f"bench-{uuid.uuid4().hex[:8]}"


def db_url(redis_url: str, db: int) -> str:
    """The same Redis server, another database (benchmarks use 2 and up)."""
    if db < 2:
        raise ValueError("benchmarks never use Redis databases 0 and 1")
    return f"{redis_url.rsplit('/', 1)[0]}/{db}"


def bench_settings(stack: LocalStack, tag: str, db: int, **overrides: Any) -> Settings:
    """Settings with this run's own topics, groups and Redis database."""
    topics = Topics(**{f.name: f"{getattr(Topics(), f.name)}.{tag}" for f in fields(Topics)})
    base = Settings(
        config_dir=EXAMPLE_CONFIG,
        kafka_bootstrap=stack.kafka_bootstrap,
        redis_url=db_url(stack.redis_url, db),
        topics=topics,
        engine_group=f"engine-{tag}",
        notifier_group=f"notifier-{tag}",
    )
    return base.model_copy(update=overrides)


@asynccontextmanager
async def fresh_stack(settings: Settings) -> AsyncIterator[Redis]:
    """An empty Redis database and this run's topics; both removed afterwards."""
    redis = Redis.from_url(settings.redis_url)
    await redis.flushdb()
    await ensure_topics(
        settings.kafka_bootstrap, all_topics(settings.topics), settings.topic_partitions
    )
    try:
        yield redis
    finally:
        await redis.flushdb()
        await redis.aclose()
        await delete_topics(settings.kafka_bootstrap, all_topics(settings.topics))


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Remove a run's topics (the broker keeps every test's otherwise)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, items: Sequence[Produced]) -> float:
    """Produce every item (acks=all, batched, all in flight); returns messages/s."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for chunk in range(0, len(items), 5000):
            sends = [
                await producer.send(topic, item.value, key=item.key)
                for item in items[chunk : chunk + 5000]
            ]
            await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return len(items) / (time.perf_counter() - started)


class Progress:
    """Samples a growing count (committed offsets, topic end offsets) over time."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []

    def add(self, count: int) -> None:
        """Record `count` now."""
        self.samples.append((time.perf_counter(), count))

    def steady_rate(self) -> tuple[float | None, float, int]:
        """(items/s, seconds, items) from the first sample above zero to the first at the end."""
        moving = [(t, c) for t, c in self.samples if c > 0]
        if not moving:
            return None, 0.0, 0
        t0, c0 = moving[0]
        final = moving[-1][1]
        t1 = next(t for t, c in moving if c == final)
        return ((final - c0) / (t1 - t0) if t1 > t0 else None), t1 - t0, final - c0


async def poll_until(
    count: Callable[[], Any], target: int, progress: Progress, timeout_s: float
) -> bool:
    """Sample `count()` every POLL_S until it reaches `target`; False on timeout."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        value = await count()
        progress.add(value)
        if value >= target:
            return True
        await asyncio.sleep(POLL_S)
    return False


class OffsetWatch:
    """Committed offsets of a consumer group and end offsets of topics, read cheaply."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> OffsetWatch:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def committed(self, group: str) -> int:
        """Sum of the group's committed offsets over every partition."""
        offsets = await self.admin.list_consumer_group_offsets(group)
        return sum(max(0, o.offset) for o in offsets.values())

    async def stable_members(self, group: str) -> int:
        """How many members the group has once it is Stable (0 while it rebalances)."""
        response = (await self.admin.describe_consumer_groups([group]))[0]
        _, _, state, _, _, members, *_ = response.groups[0]
        return len(members) if state == "Stable" else 0

    async def end(self, topic: str) -> int:
        """How many records the topic holds (sum of end offsets)."""
        if topic not in self._partitions:
            described = await self.admin.describe_topics([topic])
            self._partitions[topic] = [
                TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]
            ]
        return sum((await self.consumer.end_offsets(self._partitions[topic])).values())


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of unsorted values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


def rounded(value: float | None, digits: int = 1) -> float | None:
    """A figure rounded for the JSON, None kept."""
    return None if value is None else round(value, digits)


PROFILE_DIR = Path(tempfile.gettempdir()) / "duban-bench"


@asynccontextmanager
async def profiled(name: str, enabled: bool) -> AsyncIterator[None]:
    """cProfile the block into $TMPDIR/duban-bench/<name>.prof (`run.py --profile`)."""
    if not enabled:
        yield
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        PROFILE_DIR.mkdir(exist_ok=True)
        profile.dump_stats(PROFILE_DIR / f"{name}.prof")
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)


def stack_cpu_s(others: Mapping[str, int] | None = None) -> dict[str, float]:
    """CPU seconds used so far by the local stack's Kafka and Redis processes, and by
    the `others` (name → pid)."""
    pids = dict(others or {})
    for name in ("kafka", "redis"):
        try:
            pids[name] = int((STACK_DIR / name / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            continue
    used = {}
    for name, pid in pids.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[name] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return used


class CpuMeter:
    """Cores used by this process, Kafka, Redis and `others` (name → pid) over a stretch
    of wall time."""

    def __init__(self, others: Mapping[str, int] | None = None) -> None:
        self.others = dict(others or {})
        self.wall = time.perf_counter()
        self.own = time.process_time()
        self.stack = stack_cpu_s(self.others)

    def cores(self) -> dict[str, float]:
        """Average cores busy since construction, per process (2 cores on the bench box)."""
        wall = time.perf_counter() - self.wall
        used = {"this_process": time.process_time() - self.own}
        now = stack_cpu_s(self.others)
        used |= {k: v - self.stack[k] for k, v in now.items() if k in self.stack}
        return {k: round(v / wall, 2) for k, v in used.items()}


@asynccontextmanager
async def replica_processes(
    module: str, args: Sequence[str], count: int
) -> AsyncIterator[dict[str, int]]:
    """`count` processes of `python -m module *args`, each a service replica that prints
    one line once started and stops when its stdin closes; name → pid once all started."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    name = module.rsplit(".", 1)[-1]
    try:
        for proc in procs:
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        yield {f"{name}_{n}": proc.pid for n, proc in enumerate(procs, 1)}
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            await proc.wait()
