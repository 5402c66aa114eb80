"""`make chaos`: a seeded fault run on real processes, judged by the simulate oracle.

    .venv/bin/python -m tests.chaos.run --seed 7 --minutes 10
    .venv/bin/python -m tests.chaos.run --seed 7 --quick          # under 3 minutes
    .venv/bin/python -m tests.chaos.run --seed 7 --minutes 10 --one-redis  # no sentinels

Starts its own Kafka broker and Redis (tests/chaos/infra.py: the run kills them), the
email and webhook stand-ins failing at random, two `duban run engine` and two
`duban run notifier` processes on tests/chaos/config laid over the example config; then
publishes a seeded stream while a seeded fault schedule kills, freezes and restarts
things. At the end the oracle (`services.simulate` over the same events) says which
deliveries were due; chaos-results.json at the repository root and the table on stdout
say what was lost, sent twice, in doubt, unexpected, late or dead-lettered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.topics import Topics
from services.kafka import ensure_topics
from services.settings import all_topics
from tests.chaos.faults import Faults, classes_for, schedule
from tests.chaos.infra import ChaosInfra
from tests.chaos.oracle import LATE_BOUND_S, compare, expected_notices
from tests.chaos.publisher import Publisher, Timing
from tests.chaos.replicas import Fleet, base_env, free_ports
from tests.chaos.report import kafka_evidence, table
from tests.chaos.standins import Providers
from tests.stack import REPO_ROOT, STACK_DIR, wait_until_async

CHAOS_CONFIG = Path(__file__).resolve().parent / "config"
EXAMPLE = REPO_ROOT / "deploy" / "config" / "example"
OUTPUT = REPO_ROOT / "chaos-results.json"
REDIS_DB = 9
PARTITIONS = 4


@dataclass(frozen=True)
class Plan:
    seed: int
    minutes: float
    timing: Timing
    run_s: float  # from the first hazard to the end the oracle judges
    drain_s: float  # how long to wait after the end for what is due
    faults_per_class: int
    fsync: str = "always"
    sentinel: bool = True  # Redis as primary + replica + 3 sentinels, with failovers


def plan_for(seed: int, minutes: float, quick: bool, faults_per_class: int | None) -> Plan:
    if quick:
        # Reports, reminders and closures fall within the minute; the letters after it.
        timing = Timing(window_s=15, deadline_s=(65, 75), hazards=25, units=6)
        return Plan(seed, 1.0, timing, 60, 30, faults_per_class or 1)
    run_s = minutes * 60
    timing = Timing(0.6 * run_s, (150, 240), int(25 * minutes), 20)
    return Plan(seed, minutes, timing, run_s, 120, faults_per_class or max(1, int(minutes)))


def assemble_config(into: Path) -> Path:
    """The example config with tests/chaos/config's files laid over it."""
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(EXAMPLE, into)
    for item in CHAOS_CONFIG.glob("*.yaml"):
        shutil.copy(item, into / item.name)
    return into


def run_topics(tag: str) -> Topics:
    return Topics(**{f.name: f"chaos.{tag}.{getattr(Topics(), f.name)}" for f in fields(Topics)})


def service_env(
    infra: ChaosInfra, topics: Topics, providers: Providers, tag: str
) -> dict[str, str]:
    names = {f"DUBAN_TOPIC_{f.name.upper()}": getattr(topics, f.name) for f in fields(Topics)}
    return {
        **base_env(),
        **names,
        **providers.env(),
        "DUBAN_KAFKA_BOOTSTRAP": infra.bootstrap,
        **infra.redis_env(REDIS_DB),
        "DUBAN_ENGINE_GROUP": f"chaos-engine-{tag}",
        "DUBAN_NOTIFIER_GROUP": f"chaos-notifier-{tag}",
        "DUBAN_TOPIC_PARTITIONS": str(PARTITIONS),
        "DUBAN_TIMER_LEASE_S": "10",
        "DUBAN_TIMER_IDLE_POLL_S": "0.2",
    }


async def wait_until(check: Any, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Whether `check` came true within `timeout_s` (tests/stack.py's wait, not raising)."""
    try:
        await wait_until_async(check, timeout_s=timeout_s, interval_s=poll_s)
    except TimeoutError:
        return False
    return True


async def chaos(plan: Plan) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    home = STACK_DIR / "chaos"
    infra = ChaosInfra(home / "servers", plan.fsync, sentinel=plan.sentinel)
    providers = Providers(plan.seed)
    topics = run_topics(tag)
    config = assemble_config(home / "config")
    shutil.rmtree(home / "logs", ignore_errors=True)
    await asyncio.gather(infra.start(), providers.start())
    fleet = Fleet.build(
        config, service_env(infra, topics, providers, tag), home / "logs", free_ports(4)
    )
    publisher = Publisher(infra.bootstrap, topics, plan.seed, plan.timing)
    try:
        await ensure_topics(infra.bootstrap, all_topics(topics), PARTITIONS)
        await publisher.units()
        fleet.start()
        providers.start_ack(config, fleet.replicas[0].env, home / "logs")
        if not await wait_until(fleet.all_ready, 120):
            raise RuntimeError(f"the replicas did not become ready; logs in {home / 'logs'}")
        return await _judged_run(plan, infra, fleet, providers, publisher, topics, config)
    finally:
        await publisher.close()
        fleet.stop()
        await providers.stop()
        infra.stop()


async def _judged_run(
    plan: Plan,
    infra: ChaosInfra,
    fleet: Fleet,
    providers: Providers,
    publisher: Publisher,
    topics: Topics,
    config: Path,
) -> dict[str, Any]:
    started = datetime.now(UTC)
    end = started + timedelta(seconds=plan.run_s)
    classes = classes_for(plan.sentinel)
    faults = Faults(
        fleet,
        infra,
        schedule(plan.seed, plan.run_s, plan.faults_per_class, len(fleet.replicas), classes),
    )
    await asyncio.gather(publisher.hazards(), faults.run())
    await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
    providers.calm()
    due, every = await asyncio.to_thread(
        expected_notices, publisher.out.events, config, end, timedelta(hours=1)
    )
    late_after = LATE_BOUND_S + faults.log.longest_down_s

    async def all_due_delivered() -> bool:
        return not compare(due, every, providers.inbox.received, late_after).lost

    await wait_until(all_due_delivered, plan.drain_s)
    recovered = await wait_until(fleet.all_ready, 60) and not fleet.unexpected_exits()
    verdict = compare(due, every, providers.inbox.received, late_after)
    evidence = await kafka_evidence(infra.bootstrap, topics, PARTITIONS)
    return {
        "seed": plan.seed,
        "redis_appendfsync": plan.fsync,
        "redis": "primary + replica + 3 sentinels" if plan.sentinel else "one server",
        "minutes": round(plan.minutes, 2),
        "faults": dict(faults.log.counts),
        "fault_log": faults.log.lines,
        "published": {
            "events": len(publisher.out.events),
            "by_kind": publisher.out.counts,
        },
        **verdict.figures(),
        "in_doubt": evidence["in_doubt"],
        "late_after_s": late_after,
        "poison": publisher.out.poison,
        "dead_lettered": evidence["dead_lettered_events"],
        "dead_letter_copies": evidence["dead_letter_copies"],
        "notices_dead_lettered": evidence["dead_lettered_notices"],
        "receipts": evidence["receipts"],
        "receipts_published_more_than_once": evidence["receipts_published_more_than_once"],
        "provider_failures": dict(providers.inbox.failures),
        "recovered_without_help": recovered,
        "lost_deliveries": [":".join(d) for d in verdict.lost[:50]],
        "duplicated_deliveries": [":".join(d) for d in list(verdict.duplicated)[:50]],
        "unexpected_deliveries": [":".join(d) for d in verdict.unexpected[:50]],
        "late_deliveries": [[":".join(d), s] for d, s in verdict.late[:50]],
    }


@contextlib.contextmanager
def one_run_at_a_time() -> Iterator[None]:
    """Runs share .stack/chaos and the servers' ports: a second one waits for the first."""
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    with (STACK_DIR / "chaos.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="a short run (under 3 minutes)")
    parser.add_argument("--faults-per-class", type=int, default=None)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--fsync",
        choices=("everysec", "always"),
        default="always",
        help="Redis appendfsync: always (as deployed) or everysec (a kill -9 may lose the "
        "last second of acknowledged writes: to measure that window)",
    )
    parser.add_argument(
        "--one-redis",
        dest="sentinel",
        action="store_false",
        help="one Redis server (kill -9 and restart) instead of the default: a primary and a "
        "replica watched by three sentinels (the services WAIT for the replica), with the "
        "fault class 'failover' (the primary killed)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _arguments(argv)
    logging.basicConfig(level=logging.ERROR)
    # The run kills the broker on purpose: the clients' connection errors are expected.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    plan = replace(
        plan_for(args.seed, args.minutes, args.quick, args.faults_per_class),
        fsync=args.fsync,
        sentinel=args.sentinel,
    )
    started = time.monotonic()
    with one_run_at_a_time():
        results = asyncio.run(chaos(plan))
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    args.output.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(table(results))
    print(f"\nfigures: {args.output}")
    return results


if __name__ == "__main__":
    main()
