"""Running services: one or all in one process, stopped cleanly by SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web
from faststream import FastStream

from services.ack.server import running_ack
from services.health import Health
from services.logs import setup_logging
from services.metrics import Metrics, serve_metrics
from services.settings import Settings

log = logging.getLogger("duban")
SERVICES = ("engine", "notifier", "ack", "audit")
# Young-generation collections every GC_GEN0 allocations instead of Python's 700.
GC_GEN0 = 20_000


@contextlib.asynccontextmanager
async def running(app: FastStream) -> AsyncIterator[FastStream]:
    """Start a FastStream app (lifespan, then broker) and stop it on exit."""
    async with app.lifespan_context():
        await app.start()
        settle_garbage_collector()
        try:
            yield app
        finally:
            await app.stop()


def settle_garbage_collector() -> None:
    """Freeze what startup built (templates, config, clients: alive for good) out of the
    cyclic collector's scans and collect the young generation less often. With hundreds
    of deliveries in flight, Python's defaults had the notifier spend about 15 % of its
    CPU in the collector (perf during `make bench`); this leaves about 3 %."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0, *gc.get_threshold()[1:])


async def serve(names: list[str], settings: Settings) -> None:
    """Run the named services until a stop signal. The health and metrics port is bound
    first: a port in use stops the start before any consumer group is joined."""
    from services.engine.app import EngineParts, create_engine
    from services.notifier.app import NotifierParts, create_notifier

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    apps: list[EngineParts | NotifierParts] = []
    if "engine" in names:
        apps.append(create_engine(settings))
    if "notifier" in names:
        apps.append(create_notifier(settings))
    async with contextlib.AsyncExitStack() as stack:
        if apps:
            metrics = await _health_server(
                settings, names, [a.health for a in apps], [a.metrics for a in apps]
            )
            stack.push_async_callback(metrics.cleanup)
        if "ack" in names:  # binds its port first, and joins no consumer group
            try:
                await stack.enter_async_context(running_ack(settings))
            except RuntimeError as e:  # its port or address, named
                raise PortInUse(str(e)) from None
        if "audit" in names:  # binds its console port first (services/audit/service.py)
            from services.audit.service import running_audit

            try:
                await stack.enter_async_context(running_audit(settings))
            except RuntimeError as e:
                raise PortInUse(str(e)) from None
        for parts in apps:
            await stack.enter_async_context(running(parts.app))
        log.info("duban %s running; Ctrl+C stops", ", ".join(names))
        await stop.wait()
        log.info("stopping")


async def _health_server(
    settings: Settings, names: list[str], healths: list[Health], registries: list[Metrics]
) -> web.AppRunner:
    """/metrics, /healthz and /readyz of the services in this process, on their own port:
    /metrics serves every service's registry (the ack service serves its own on its port)."""
    port, variable = (
        (settings.metrics_port, "DUBAN_METRICS_PORT")
        if "engine" in names
        else (settings.notifier_metrics_port, "DUBAN_NOTIFIER_METRICS_PORT")
    )

    async def ready() -> list[str]:
        found = await asyncio.gather(*(h.problems() for h in healths))
        return [p for problems in found for p in problems]

    try:
        return await serve_metrics(port, settings.http_host, registries, ready)
    except OSError as e:
        raise PortInUse(
            f"端口 {settings.http_host}:{port} 无法使用（{e.strerror}）：请设置 {variable} "
            f"换一个端口 (port {port} on {settings.http_host} cannot be bound; set {variable})"
        ) from None


class PortInUse(SystemExit):
    """A service's port is taken: reported before the service joins anything."""


def run_services(service: str, settings: Settings) -> None:
    """Entry point of `duban run SERVICE`, with the settings the command read at start."""
    names = list(SERVICES) if service == "all" else [service]
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise SystemExit(f"unknown service {unknown[0]!r}; choose {', '.join(SERVICES)} or all")
    setup_logging(settings.environment())
    if service == "all" and settings.ack_secret is None:
        names.remove("ack")
        log.warning("DUBAN_ACK_SECRET is unset: the acknowledgement endpoint is not started")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(names, settings))
