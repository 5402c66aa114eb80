"""The loss window of a Redis Sentinel failover, measured (docs/reliability.md).

    .venv/bin/python -m tests.perf.sentinel_loss                  # 5 rounds per mode
    .venv/bin/python -m tests.perf.sentinel_loss --rounds 10 --writers 64

Each round starts its own primary, replica and three sentinels (tests/sentinel.py, AOF
everysec, `min-replicas-to-write 1`) in a temporary folder. Writers, through duban's own
client (services.store.client, sentinel mode) and its WAIT helper
(services.store.replicas), each INCR a counter of their own as fast as they can; the
value an INCR returns is a write Redis acknowledged (with DUBAN_REDIS_WAIT_REPLICAS=1:
acknowledged and confirmed by a replica). After `--write-s` seconds the primary gets
SIGKILL; once the sentinels promote the replica, each counter on the new primary is
compared with the highest value acknowledged: the difference is writes lost. The killed
node is started again (it rejoins as a replica) and the time until a write succeeds again
is measured too. Nothing here is a test: no figure fails the build.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from services.settings import Settings
from services.store.client import redis_client
from services.store.replicas import ReplicaWait
from tests.sentinel import HOST, SentinelSet


@dataclass
class Round:
    """One kill -9 of the primary under write load."""

    wait_replicas: int
    acknowledged: int  # writes acknowledged before the kill and during the failover
    lost: int  # acknowledged, missing on the new primary
    writes_per_s: float  # acknowledged writes per second before the kill
    failover_s: float | None  # kill -> every sentinel names the replica
    no_writes_s: float  # kill -> a write issued after the kill succeeds
    failed_over: bool  # the primary at the end is not the node killed


class Writers:
    """Tasks that INCR their own counter in a loop and keep the highest value acked; each
    INCR goes with a SET of `value_bytes` (how much each write replicates)."""

    def __init__(self, redis: Redis, wait: ReplicaWait, count: int, value_bytes: int) -> None:
        self.redis, self.wait = redis, wait
        self.acked = [0] * count
        self.value = b"x" * value_bytes
        self.running = True
        self.since: float | None = None  # the kill: when did a write issued after it succeed?
        self.resumed: float | None = None

    async def run(self) -> None:
        await asyncio.gather(*(self._one(i) for i in range(len(self.acked))))

    async def _one(self, i: int) -> None:
        key = f"loss:{i}"

        def incr(pipe: Pipeline) -> None:
            pipe.set(f"pad:{i}", self.value)
            pipe.incr(key)

        while self.running:
            started = time.monotonic()
            try:
                [_, value] = await self.wait.commands(self.redis, incr)
            except RedisError:
                await asyncio.sleep(0.01)  # down or failing over: try again
                continue
            self.acked[i] = max(self.acked[i], int(value))
            if self.since is not None and started > self.since and self.resumed is None:
                self.resumed = time.monotonic()


async def one_round(home: Path, wait_replicas: int, args: argparse.Namespace) -> Round:
    async with SentinelSet(home) as ha:
        settings = Settings(**ha.settings_update(db=0), redis_wait_replicas=wait_replicas)
        redis = redis_client(settings)
        load = Writers(redis, ReplicaWait.of(settings), args.writers, args.value_bytes)
        task = asyncio.create_task(load.run())
        try:
            await asyncio.sleep(args.write_s)  # the load runs this long before the kill
            rate = sum(load.acked) / args.write_s
            old, failover_s, no_writes_s = await _kill(ha, load, args)
        finally:
            load.running = False
            await task
            await redis.aclose()
        primary = await ha.primary()
        present = await _counters(primary, args.writers)
    lost = sum(max(0, acked - seen) for acked, seen in zip(load.acked, present, strict=True))
    return Round(
        wait_replicas, sum(load.acked), lost, rate, failover_s, no_writes_s, primary != old
    )


async def _kill(
    ha: SentinelSet, load: Writers, args: argparse.Namespace
) -> tuple[int, float | None, float]:
    """kill -9 of the primary under load: its port, how long the sentinels took to name
    another (None with --restart-at-once) and how long until a write succeeded again."""
    replica = await ha.replica()
    if args.lag_s:  # the replica falls behind (frozen) right before the kill
        ha.pause(replica)
        await asyncio.sleep(args.lag_s)
    old = await ha.kill_primary()
    load.since = killed_at = time.monotonic()
    if args.lag_s:
        ha.resume(replica)
    failover_s = None
    if not args.restart_at_once:
        await ha.wait_failover(old)
        failover_s = time.monotonic() - killed_at
    await ha.restart(old)  # back from its AOF: a replica after a failover, else the primary
    while load.resumed is None and time.monotonic() - killed_at < 120:
        await asyncio.sleep(0.01)  # measuring: when do writes succeed again?
    return old, failover_s, (load.resumed or time.monotonic()) - killed_at


async def _counters(port: int, count: int) -> list[int]:
    """The counters as the node on `port` (the new primary) has them."""
    async with Redis(host=HOST, port=port) as node:
        values = await node.mget([f"loss:{i}" for i in range(count)])
    return [int(v) if v is not None else 0 for v in values]


def summary(rounds: list[Round]) -> dict[str, Any]:
    """Per WAIT setting: rounds, writes acknowledged and lost, and the medians."""
    out: dict[str, Any] = {}
    for mode in sorted({r.wait_replicas for r in rounds}):
        mine = [r for r in rounds if r.wait_replicas == mode]
        out[f"wait_replicas={mode}"] = {
            "rounds": len(mine),
            "acknowledged": sum(r.acknowledged for r in mine),
            "lost": sum(r.lost for r in mine),
            "lost_per_round": [r.lost for r in mine],
            "max_lost_in_a_round": max(r.lost for r in mine),
            "median_writes_per_s": round(statistics.median(r.writes_per_s for r in mine)),
            "median_failover_s": _median([r.failover_s for r in mine if r.failover_s]),
            "failovers": sum(r.failed_over for r in mine),
            "median_no_writes_s": _median([r.no_writes_s for r in mine]),
        }
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="duban-sentinel-loss-") as tmp:
        for n in range(args.rounds):
            for mode in (0, 1):
                found = await one_round(Path(tmp) / f"{n}-{mode}", mode, args)
                print(json.dumps(asdict(found)), flush=True)
                rounds.append(found)
    result = {"args": vars(args), "rounds": [asdict(r) for r in rounds], "summary": summary(rounds)}
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per WAIT setting")
    parser.add_argument("--writers", type=int, default=32, help="concurrent writers")
    parser.add_argument("--write-s", type=float, default=3.0, help="load before the kill")
    parser.add_argument("--value-bytes", type=int, default=16, help="bytes each write adds")
    parser.add_argument(
        "--lag-s", type=float, default=0.0, help="freeze the replica this long before the kill"
    )
    parser.add_argument(
        "--restart-at-once",
        action="store_true",
        help="restart the killed primary at once, before the sentinels fail over",
    )
    parser.add_argument("--output", help="write the figures to this JSON file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parse()))
