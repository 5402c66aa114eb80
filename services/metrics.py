"""Metrics and health for ops: Prometheus text on /metrics, liveness on /healthz."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

log = logging.getLogger("duban.metrics")

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Counters and gauges, process-wide; gauges may be computed when scraped."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[Labels, Callable[[], float]]] = defaultdict(dict)
        self.help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1, help: str = "", **labels: str) -> None:
        """Add to a counter."""
        self.counters[name][tuple(sorted(labels.items()))] += amount
        if help:
            self.help.setdefault(name, help)

    def gauge(self, name: str, read: Callable[[], float], help: str = "", **labels: str) -> None:
        """Register a gauge (one series per label set) read at scrape time."""
        self.gauges[name][tuple(sorted(labels.items()))] = read
        if help:
            self.help.setdefault(name, help)

    def render(self) -> str:
        """The Prometheus text exposition."""
        lines = []
        for name, series in sorted(self.counters.items()):
            lines += _header(name, "counter", self.help.get(name))
            lines += [f"{name}{_labels(labels)} {value:g}" for labels, value in series.items()]
        for name, reads in sorted(self.gauges.items()):
            lines += _header(name, "gauge", self.help.get(name))
            lines += [f"{name}{_labels(labels)} {read():g}" for labels, read in reads.items()]
        return "\n".join(lines) + "\n"


METRICS = Metrics()


Ready = Callable[[], Awaitable[Sequence[str]]]


async def serve_metrics(
    port: int,
    host: str = "127.0.0.1",
    metrics: Metrics = METRICS,
    ready: Ready | None = None,
) -> web.AppRunner:
    """Serve /metrics, /healthz (liveness) and /readyz (readiness: `ready()` finds no
    problem) on `host`:`port`. OSError when the port cannot be bound."""

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    async def readyz(_: web.Request) -> web.Response:
        problems = list(await ready()) if ready is not None else []
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ready\n")

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", lambda _: web.Response(text="ok"))
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("metrics on http://%s:%d/metrics", host, port)
    return runner


def _header(name: str, kind: str, help: str | None) -> list[str]:
    return ([f"# HELP {name} {help}"] if help else []) + [f"# TYPE {name} {kind}"]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"
