"""The peer for notifications: Prometheus Alertmanager (Debian's prometheus-alertmanager).

Alertmanager is the usual "deliver notifications once, with retries" component. It runs
here on 127.0.0.1 (free port, clustering off, storage in a temporary folder) with one
webhook receiver pointing at the sink process's plain HTTP sink. `group_by: ['...']`
makes every distinct label set its own group and every alert carries a unique
`hazard_id`, so each alert becomes exactly one webhook notification; `group_wait: 0s`
sends a new group at once. `count` alerts are posted to /api/v2/alerts (500 per
request, 4 requests in flight) and the sink counts the notifications as they arrive:
the rate runs from the first notification to the last.

If the binary is missing, the bench installs the package with apt-get (updating the
package lists first if needed); if that fails the result records why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.perf.common import CpuMeter
from tests.stack import wait_until_async

BINARY = "prometheus-alertmanager"
PACKAGE = "prometheus-alertmanager"
POST_BATCH = 500
IN_FLIGHT = 4

CONFIG = """\
route:
  receiver: sink
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: sink
    webhook_configs:
      - url: {url}
        send_resolved: false
"""


def ensure_installed() -> tuple[str | None, str]:
    """The Alertmanager binary's path (installing the Debian package if needed), or why not."""
    if found := shutil.which(BINARY):
        return found, "already installed"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE]
    tried = []
    for steps in ([install], [["apt-get", "update"], install]):
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
            tried.append(f"`{' '.join(step)}` exit {result.returncode}")
        if found := shutil.which(BINARY):
            return found, "installed with apt-get: " + "; ".join(tried)
    return None, "could not install it: " + "; ".join(tried)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def alertmanager(binary: str, webhook_url: str) -> AsyncIterator[tuple[str, int]]:
    """A private Alertmanager on 127.0.0.1; yields its base URL and pid."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-am-") as folder:
        config = Path(folder) / "alertmanager.yml"
        config.write_text(CONFIG.format(url=webhook_url))
        proc = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.path={folder}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await _ready(base)
            yield base, proc.pid
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _ready(base: str, timeout_s: float = 30) -> None:
    async with httpx.AsyncClient() as client:

        async def ready() -> bool:  # a refused connection is retried by the wait
            return (await client.get(f"{base}/-/ready")).status_code == 200

        await wait_until_async(ready, timeout_s, 0.1, what=f"Alertmanager at {base} ready")


def alerts(count: int) -> list[dict[str, Any]]:
    """`count` firing alerts, one per hazard, labelled like duban's notices."""
    now = datetime.now(UTC)
    ends = (now + timedelta(hours=1)).isoformat()
    return [
        {
            "labels": {
                "alertname": "HazardReminder",
                "hazard_id": f"H{i}",
                "kind": "reminder",
                "severity": "major" if i % 3 == 0 else "general",
            },
            "annotations": {"summary": f"隐患 H{i} 整改期限将至", "unit": "鑫源化工"},
            "startsAt": now.isoformat(),
            "endsAt": ends,
        }
        for i in range(count)
    ]


async def post_alerts(base: str, items: list[dict[str, Any]]) -> None:
    """POST the alerts in batches, a few requests in flight."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(timeout=60) as client:

        async def post(batch: list[dict[str, Any]]) -> None:
            async with gate:
                answer = await client.post(f"{base}/api/v2/alerts", json=batch)
                answer.raise_for_status()

        batches = [items[i : i + POST_BATCH] for i in range(0, len(items), POST_BATCH)]
        await asyncio.gather(*(post(b) for b in batches))


async def run(
    webhook_url: str,
    stats: Any,
    count: int,
    timeout_s: float = 120,
    others: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Post `count` alerts and time their notifications at the sink.

    `stats()` answers the sink's counters (tests/perf/sinks.py /stats); `others` (name →
    pid) are metered for CPU alongside Alertmanager.
    """
    binary, how = ensure_installed()
    if binary is None:
        return {"installed": False, "install": how}
    items = alerts(count)
    async with alertmanager(binary, webhook_url) as (base, pid):
        before = (await stats())["alertmanager"]["notifications"]
        started = time.time()
        meter = CpuMeter({"alertmanager": pid, **(others or {})})
        await post_alerts(base, items)
        posted = time.time() - started
        sink = await _wait_for(stats, before + count, timeout_s)
        cores = meter.cores()
    received = sink["notifications"] - before
    spread = (sink["last"] or 0) - (sink["first"] or 0)
    return {
        "installed": True,
        "install": how,
        "version": _version(binary),
        "alerts_posted": count,
        "post_seconds": round(posted, 2),
        "notifications": received,
        "alerts_in_notifications": sink["alerts"],
        "notifications_per_s": round((received - 1) / spread, 1) if spread > 0 else None,
        "seconds_first_post_to_last_notification": round((sink["last"] or started) - started, 2),
        "cores_busy_while_delivering": cores,
    }


async def _wait_for(stats: Any, target: int, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        sink: dict[str, Any] = (await stats())["alertmanager"]
        if sink["notifications"] >= target or time.monotonic() > deadline:
            return sink
        await asyncio.sleep(0.1)


def _version(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).splitlines()[0] if result.returncode == 0 else "?"
