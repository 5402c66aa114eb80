"""`duban run audit`: the consumer that keeps the trail, and the console beside it."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from psycopg.conninfo import conninfo_to_dict

from services.audit.app import AuditParts, create_audit
from services.audit.console import Console, console_app
from services.audit.naming import naming
from services.audit.writer import Connector
from services.clock import Clock, SystemClock
from services.config.positions import ConfigError
from services.masking import register_secrets
from services.metrics import Metrics
from services.settings import Settings
from services.store.client import redis_client

log = logging.getLogger("duban.audit")


def loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def console_token(settings: Settings) -> str | None:
    """The console's token; RuntimeError when it binds beyond loopback without one."""
    token = settings.console_token.get_secret_value() if settings.console_token else None
    if token is None and not loopback(settings.console_host):
        raise RuntimeError(
            f"运维台绑定在 {settings.console_host}，必须设置 DUBAN_CONSOLE_TOKEN "
            f"(the console on {settings.console_host} needs DUBAN_CONSOLE_TOKEN)"
        )
    return token


def register_dsn_password(dsn: str) -> None:
    """Mask DUBAN_AUDIT_DSN's password wherever it might appear."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except Exception:  # a malformed DSN fails at connect, with its own message
        return
    if password:
        register_secrets([str(password)])


@contextlib.asynccontextmanager
async def running_audit(
    settings: Settings, clock: Clock | None = None, metrics: Metrics | None = None
) -> AsyncIterator[AuditParts]:
    """Bind the console, then run the consumer; stop both on exit. RuntimeError (with
    the variable to set) when the console cannot bind or the config is broken."""
    clock = clock or SystemClock()
    token = console_token(settings)
    dsn = settings.audit_dsn.get_secret_value()
    register_dsn_password(dsn)
    try:
        names = naming(settings.config_dir)
    except ConfigError as e:
        raise RuntimeError(str(e)) from None
    parts = create_audit(settings, clock, metrics)
    redis = redis_client(settings)
    console = Console(Connector(dsn), redis, names, clock, token)
    runner = web.AppRunner(console_app(console, parts.metrics, parts.problems), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.console_host, settings.console_port).start()
    except OSError as e:
        await runner.cleanup()
        await redis.aclose()
        raise RuntimeError(
            f"运维台端口 {settings.console_host}:{settings.console_port} 无法使用（{e.strerror}）："
            "请设置 DUBAN_CONSOLE_PORT 换一个端口 (set DUBAN_CONSOLE_PORT)"
        ) from None
    log.info("audit console on http://%s:%d/", settings.console_host, settings.console_port)
    try:
        async with _started(parts):
            yield parts
    finally:
        await runner.cleanup()
        await console.connector.aclose()
        await redis.aclose()


@contextlib.asynccontextmanager
async def _started(parts: AuditParts) -> AsyncIterator[None]:
    """The consumer's lifespan (topics, schema) and broker; PostgreSQL unreachable at
    start is a RuntimeError naming the variable, not a traceback."""
    try:
        lifespan = parts.app.lifespan_context()
        await lifespan.__aenter__()
    except ConnectionError as e:
        raise RuntimeError(
            f"无法连接审计库，请检查 DUBAN_AUDIT_DSN 和 PostgreSQL 是否在运行 "
            f"(PostgreSQL unreachable: {e})"
        ) from None
    try:
        await parts.app.start()
        try:
            yield
        finally:
            await parts.app.stop()
    finally:
        await lifespan.__aexit__(None, None, None)
