"""Metrics and health for ops: Prometheus text on /metrics, liveness on /healthz."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger("duban.metrics")

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Counters and gauges, process-wide; gauges may be computed when scraped."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, Callable[[], float]] = {}
        self.help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1, help: str = "", **labels: str) -> None:
        """Add to a counter."""
        self.counters[name][tuple(sorted(labels.items()))] += amount
        if help:
            self.help.setdefault(name, help)

    def gauge(self, name: str, read: Callable[[], float], help: str = "") -> None:
        """Register a gauge read at scrape time."""
        self.gauges[name] = read
        if help:
            self.help.setdefault(name, help)

    def render(self) -> str:
        """The Prometheus text exposition."""
        lines = []
        for name, series in sorted(self.counters.items()):
            lines += _header(name, "counter", self.help.get(name))
            lines += [f"{name}{_labels(labels)} {value:g}" for labels, value in series.items()]
        for name, read in sorted(self.gauges.items()):
            lines += _header(name, "gauge", self.help.get(name))
            lines.append(f"{name} {read():g}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()


async def serve_metrics(
    port: int, host: str = "127.0.0.1", metrics: Metrics = METRICS
) -> web.AppRunner:
    """Serve /metrics and /healthz on `host`:`port`."""

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", lambda _: web.Response(text="ok"))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics on http://%s:%d/metrics", host, port)
    return runner


def _header(name: str, kind: str, help: str | None) -> list[str]:
    return ([f"# HELP {name} {help}"] if help else []) + [f"# TYPE {name} {kind}"]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"
