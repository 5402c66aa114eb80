"""Running services: one or all in one process, stopped cleanly by SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import uvloop
from aiohttp import web
from faststream import FastStream
from faststream.kafka import KafkaBroker

from services.logs import setup_logging
from services.metrics import serve_metrics
from services.settings import Settings

log = logging.getLogger("duban")
SERVICES = ("engine", "notifier", "ack")
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


@contextlib.asynccontextmanager
async def running_ack(settings: Settings) -> AsyncIterator[web.AppRunner]:
    """Serve the acknowledgement endpoint (127.0.0.1 unless DUBAN_HTTP_HOST; put a reverse
    proxy with TLS in front of it)."""
    broker = KafkaBroker(settings.kafka_bootstrap, client_id="duban-ack")
    from services.ack.app import create_ack_app

    await broker.start()
    runner = web.AppRunner(create_ack_app(settings, broker))
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.ack_http_port)
    await site.start()
    try:
        yield runner
    finally:
        await runner.cleanup()
        await broker.stop()


async def serve(names: list[str], settings: Settings) -> None:
    """Run the named services until a stop signal."""
    from services.engine.app import create_engine
    from services.notifier.app import create_notifier

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if "engine" in names:
            await stack.enter_async_context(running(create_engine(settings).app))
        if "notifier" in names:
            await stack.enter_async_context(running(create_notifier(settings).app))
        if "ack" in names:
            await stack.enter_async_context(running_ack(settings))
        metrics = await serve_metrics(settings.metrics_port, settings.http_host)
        stack.push_async_callback(metrics.cleanup)
        log.info("duban %s running; Ctrl+C stops", ", ".join(names))
        await stop.wait()
        log.info("stopping")


def run_services(service: str, config_dir: Path) -> None:
    """Entry point of `duban run SERVICE`."""
    names = list(SERVICES) if service == "all" else [service]
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise SystemExit(f"unknown service {unknown[0]!r}; choose {', '.join(SERVICES)} or all")
    setup_logging()
    settings = Settings.from_env(config_dir)
    if service == "all" and not _has_ack_secret():
        names.remove("ack")
        log.warning("DUBAN_ACK_SECRET is unset: the acknowledgement endpoint is not started")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(names, settings))


def _has_ack_secret() -> bool:
    import os

    return bool(os.environ.get("DUBAN_ACK_SECRET"))
