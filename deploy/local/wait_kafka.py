"""Wait until a Kafka broker really answers client requests.

An open TCP port only says the JVM has bound its socket; the broker may still be
replaying its metadata log, and clients then get errors or empty metadata. This
script instead talks to the broker the way the duban services do (aiokafka), and
succeeds only once the cluster metadata lists at least one broker and a
controller, and the topic listing works.

Used by deploy/local/stack.sh (`up` waits with it, `status` probes once with it).
Run with the project venv:

    .venv/bin/python deploy/local/wait_kafka.py --bootstrap 127.0.0.1:9092 --timeout 90

Exit status: 0 healthy, 1 not healthy before the timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]


async def probe(bootstrap: str, request_timeout_s: float) -> dict[str, Any]:
    """One health probe; raises on any failure, returns a short summary."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(request_timeout_s * 1000),
        client_id="duban-stack-wait",
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        brokers = cluster.get("brokers") or []
        if not brokers:
            raise RuntimeError("metadata lists no broker yet")
        if cluster.get("controller_id", -1) < 0:
            raise RuntimeError("no active controller yet")
        topics = await admin.list_topics()
    finally:
        # close() on a client that never connected may itself raise; the probe's
        # own error is the interesting one.
        with contextlib.suppress(Exception):
            await admin.close()
    return {
        "cluster_id": cluster.get("cluster_id"),
        "brokers": len(brokers),
        "controller_id": cluster.get("controller_id"),
        "topics": len(topics),
    }


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    # An exited process that its parent has not reaped yet is a zombie ("Z").
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


async def wait(
    bootstrap: str, timeout_s: float, interval_s: float, pid: int | None, verbose: bool
) -> int:
    started = time.monotonic()
    deadline = started + timeout_s
    last_error = "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        # Each attempt gets a bounded slice of the remaining time so that one hung
        # connection cannot eat the whole budget.
        attempt_budget = max(3.0, min(10.0, remaining))
        try:
            info = await asyncio.wait_for(probe(bootstrap, attempt_budget), attempt_budget + 1)
        except Exception as exc:  # any failure just means "not ready yet"
            name, text = type(exc).__name__, str(exc)
            last_error = text if text.startswith(name) else f"{name}: {text}".rstrip(": ")
            if verbose:
                elapsed = time.monotonic() - started
                print(f"  not yet ({elapsed:.1f}s): {last_error}", file=sys.stderr)
        else:
            print(
                f"kafka at {bootstrap} is healthy: cluster {info['cluster_id']}, "
                f"{info['brokers']} broker(s), controller {info['controller_id']}, "
                f"{info['topics']} topic(s)"
            )
            return 0
        if not _alive(pid):
            print(f"kafka process {pid} exited before becoming healthy", file=sys.stderr)
            return 1
        if time.monotonic() + interval_s >= deadline:
            print(
                f"kafka at {bootstrap} not healthy after {timeout_s:.0f}s: {last_error}",
                file=sys.stderr,
            )
            return 1
        await asyncio.sleep(interval_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to keep trying (0 = one attempt)"
    )
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between attempts")
    parser.add_argument(
        "--pid", type=int, default=None, help="give up early if this (broker) process exits"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="report each failed attempt")
    args = parser.parse_args()
    # aiokafka logs every refused connection at ERROR while the broker boots;
    # the final verdict printed above is all the caller needs.
    logging.basicConfig(level=logging.CRITICAL)
    return asyncio.run(wait(args.bootstrap, args.timeout, args.interval, args.pid, args.verbose))


if __name__ == "__main__":
    sys.exit(main())
