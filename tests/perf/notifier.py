"""Notifier deliveries/s: one notifier process (then two), local HTTP robots and SMTP, rate
limits off.

`count` notice.requested events (tests/perf/notices.py) are produced to a fresh topic,
planned round robin on email (aiosmtpd), the signed generic webhook, and the WeCom,
DingTalk and Feishu robots, all fakes from tests/providers served by a separate
process (tests/perf/sinks.py) that checks every request and signature. Then one
notifier (`create_notifier(settings, channels=...)`) delivers them: ledger claim,
rendering, the send, "sent" in the ledger and a notice.delivered receipt on Kafka.
Progress is the receipts topic's end offset, sampled every 0.1 s; the rate runs from
the first receipt to the last. The same notices are then delivered by two notifier
processes in one consumer group (tests/perf/notifier_replica.py), for the scale-out
figure; the issue's target is for one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.notifier.app import create_notifier
from services.notifier.channels import Channel, build_channel, settings_class
from services.runner import running
from services.settings import Settings
from tests.perf import alertmanager
from tests.perf.common import (
    REPO_ROOT,
    CpuMeter,
    Figure,
    OffsetWatch,
    Peer,
    Progress,
    Section,
    bench_settings,
    fresh_stack,
    poll_until,
    produce,
    profiled,
    replica_processes,
    rounded,
    unique_tag,
)
from tests.perf.notices import notice_events
from tests.stack import LocalStack

REDIS_DB = 4
CPU_RATIO_TARGET = 1.5  # issue 12: CPU per delivery at most 1.5x Alertmanager's
CHANNELS = ("email", "webhook", "wecom", "dingtalk", "feishu")
SCALE_OUT = 2  # notifier processes for the scale-out figure


@contextlib.asynccontextmanager
async def sinks() -> AsyncIterator[dict[str, Any]]:
    """The sink process (tests/perf/sinks.py) and where its sinks listen."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.perf.sinks",
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        yield json.loads(line) | {"pid": proc.pid}
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def sink_stats(where: dict[str, Any]) -> dict[str, Any]:
    """What each sink accepted so far."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{where['control']}/stats")
        stats: dict[str, Any] = answer.json()
        return stats


def channels_for(where: dict[str, Any]) -> dict[str, Channel]:
    """The notifier's channels, pointed at the sinks (no TLS, no auth, no rate limits)."""

    def make(kind: str, **values: Any) -> Channel:
        return build_channel(kind, settings_class(kind)(**values), name=kind)

    return {
        "email": make(
            "email",
            host=where["smtp"]["host"],
            port=where["smtp"]["port"],
            from_addr="duban@bench.example",
            security="none",
        ),
        "webhook": make("webhook", url=where["webhook"]["url"], secret=where["webhook"]["secret"]),
        "wecom": make("wecom", webhook_url=where["wecom"]["url"]),
        "dingtalk": make(
            "dingtalk", webhook_url=where["dingtalk"]["url"], secret=where["dingtalk"]["secret"]
        ),
        "feishu": make(
            "feishu", webhook_url=where["feishu"]["url"], secret=where["feishu"]["secret"]
        ),
    }


async def run(
    stack: LocalStack, count: int = 20_000, timeout_s: float = 150, profile: bool = False
) -> Section:
    """Deliver `count` notices with duban, then `count` alerts with Alertmanager."""
    section = Section("Notifier deliveries (Kafka → notifier → local HTTP + SMTP sinks)")
    async with sinks() as where:
        progress, details = await deliver(stack, where, count, timeout_s, profile)
    # A fresh sink process for the peer: the fakes keep every request they accepted, and
    # a sink process full of them spends time in garbage collection that would slow it.
    async with sinks() as where:
        peer = await alertmanager.run(
            where["alertmanager_webhook"],
            lambda: sink_stats(where),
            count,
            timeout_s,
            others={"sinks": where["pid"]},
        )
    # The same notices again, from two notifier processes in one consumer group.
    async with sinks() as where:
        progress_two, details_two = await deliver(
            stack, where, count, timeout_s, False, replicas=SCALE_OUT
        )
    rate, seconds, measured = progress.steady_rate()
    rate_two, seconds_two, measured_two = progress_two.steady_rate()
    section.details = details | {
        "measured_receipts": measured,
        "measured_seconds": rounded(seconds, 2),
        "alertmanager": peer,
        f"processes_{SCALE_OUT}": details_two
        | {"measured_receipts": measured_two, "measured_seconds": rounded(seconds_two, 2)},
    }
    section.figures.append(
        Figure(
            "notifier deliveries",
            rounded(rate),
            "deliveries/s",
            "notice.receipts end offsets sampled every 0.1 s, first to last receipt; "
            "one notifier process; sinks in another process (reported, not judged: this "
            "machine's speed swings 2x; the CPU ratio to Alertmanager below is the target)",
            peers=[
                Peer(
                    "Alertmanager 0.25 webhook (1 alert per notification)",
                    peer.get("notifications_per_s"),
                    peer["install"] if not peer["installed"] else "",
                )
            ],
            note="" if details["drained"] else f"did not finish in {timeout_s:.0f} s",
        )
    )
    cpu = cpu_per_delivery(rate, details, peer)
    section.figures += [cpu, cpu_ratio(cpu)]
    section.figures.append(
        Figure(
            f"notifier deliveries, {SCALE_OUT} processes",
            rounded(rate_two),
            "deliveries/s",
            f"as above, {SCALE_OUT} notifier processes in one consumer group, the notices "
            "produced once it is Stable; the target is for one process",
            note="" if details_two["drained"] else f"did not finish in {timeout_s:.0f} s",
        )
    )
    return section


def cpu_per_delivery(rate: float | None, details: dict[str, Any], peer: dict[str, Any]) -> Figure:
    """Microseconds of CPU per delivery: the notifier process's (duban) and Alertmanager's
    own (a Go program on every core), over the same stretch as the rate."""

    def per(cores: float | None, per_s: float | None) -> float | None:
        return rounded(cores * 1e6 / per_s) if cores and per_s else None

    ours = per(details["cores_busy_while_delivering"].get("this_process"), rate)
    theirs = per(
        peer.get("cores_busy_while_delivering", {}).get("alertmanager"),
        peer.get("notifications_per_s"),
    )
    return Figure(
        "notifier CPU per delivery",
        ours,
        "µs",
        "process CPU time ÷ deliveries while delivering (render, send, ledger, receipt); "
        "Alertmanager: its process, per notification",
        higher_is_better=False,
        peers=[Peer("Alertmanager 0.25 webhook", theirs)],
    )


def cpu_ratio(cpu: Figure) -> Figure:
    """The judged figure: duban's CPU per delivery over Alertmanager's CPU per notification,
    both measured in this run, so the machine's speed of the moment cancels out."""
    ratio = cpu.ratio(cpu.peers[0]) if cpu.peers else None
    return Figure(
        "notifier CPU per delivery ÷ Alertmanager's per notification",
        None if ratio is None else round(ratio, 3),
        "×",
        "the two figures above, measured in the same run",
        target=CPU_RATIO_TARGET,
        higher_is_better=False,
    )


async def deliver(
    stack: LocalStack,
    where: dict[str, Any],
    count: int,
    timeout_s: float,
    profile: bool,
    replicas: int = 1,
) -> tuple[Progress, dict[str, Any]]:
    """`replicas` notifiers (one: in this process) delivering `count` notices to the
    sinks; progress and details. One finds the notices waiting; several are processes of
    their own in one consumer group, and the notices are produced once it is Stable."""
    tag = unique_tag()
    settings = bench_settings(stack, tag, REDIS_DB, rate_limits=False)
    events = notice_events(count, CHANNELS, needs_email={"email"})
    async with fresh_stack(settings):
        if replicas == 1:
            await produce(settings.kafka_bootstrap, settings.topics.notice_requested, events)
        notifiers = (
            in_process(settings, where, profile)
            if replicas == 1
            else processes(tag, where, replicas)
        )
        progress = Progress()
        watch = OffsetWatch(settings.kafka_bootstrap)
        async with watch, notifiers as pids:
            if replicas > 1:  # every notice to a group that is done rebalancing
                await poll_until(
                    lambda: watch.stable_members(settings.notifier_group), replicas, Progress(), 60
                )
                await produce(settings.kafka_bootstrap, settings.topics.notice_requested, events)
            meter = CpuMeter({"sinks": where["pid"], **pids})
            done = await poll_until(
                lambda: watch.end(settings.topics.notice_receipts), count, progress, timeout_s
            )
            cores = meter.cores()
        accepted = await sink_stats(where)
    return progress, {
        "notices": count,
        "notifier_processes": replicas,
        "channels": list(CHANNELS),
        "batch_max": settings.batch_max,
        "drained": done,
        "cores_busy_while_delivering": cores,
        "sinks_accepted": {k: v for k, v in accepted.items() if k != "alertmanager"},
    }


@contextlib.asynccontextmanager
async def in_process(
    settings: Settings, where: dict[str, Any], profile: bool
) -> AsyncIterator[dict[str, int]]:
    """One notifier in this process (so --profile can see it); no other pids to meter."""
    notifier = create_notifier(settings, channels=channels_for(where))
    async with running(notifier.app), profiled("notifier", profile):
        yield {}


def processes(
    tag: str, where: dict[str, Any], count: int
) -> contextlib.AbstractAsyncContextManager[dict[str, int]]:
    """`count` notifiers, one process each (tests/perf/notifier_replica.py); their pids."""
    sinks_json = json.dumps({k: v for k, v in where.items() if k != "pid"})
    return replica_processes("tests.perf.notifier_replica", [tag, str(REDIS_DB), sinks_json], count)
