"""Serving the acknowledgement endpoint: port first, then Kafka, then requests."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from faststream.kafka import KafkaBroker

from services.ack.accesslog import TokenlessAccessLogger, server_logger
from services.ack.app import create_ack_app
from services.settings import Settings
from services.store.client import redis_client


def bind_listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) sockets for every address of `host`; a clear error naming
    the setting when the port is taken or the address is not this machine's."""
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in _addresses(host, port):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            # As asyncio's create_server does: restart while old connections linger in
            # TIME_WAIT, and let an IPv6 socket leave the IPv4 port to its own socket.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as e:
        for sock in bound:
            sock.close()
        if e.errno == errno.EADDRINUSE:
            raise RuntimeError(f"port {port} on {host} is in use (DUBAN_ACK_HTTP_PORT)") from e
        raise RuntimeError(
            f"cannot listen on {host}:{port}: {e.strerror or e} (DUBAN_HTTP_HOST)"
        ) from e
    return bound


def _addresses(
    host: str, port: int
) -> list[tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    unique = {info[4]: info for info in infos}  # getaddrinfo may repeat an address
    return list(unique.values())


@contextlib.asynccontextmanager
async def running_ack(settings: Settings) -> AsyncIterator[web.AppRunner]:
    """Serve the acknowledgement endpoint (127.0.0.1 unless DUBAN_HTTP_HOST; put a reverse
    proxy with TLS in front of it). The port is bound before Kafka is contacted, so a port
    in use is the first thing reported; connections are accepted only once the broker is
    up (a bound socket that is not listening refuses them)."""
    broker = KafkaBroker(
        settings.kafka_bootstrap, client_id="duban-ack", logger=logging.getLogger("duban.ack")
    )
    # Redis connects lazily: the page works without it (it cannot tell a repeat, then).
    redis = redis_client(settings, socket_timeout=2.0)
    app = create_ack_app(settings, broker, redis=redis)  # a missing secret: reported first
    sockets = bind_listening_sockets(settings.http_host, settings.ack_http_port)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(_close_all, sockets)
        stack.push_async_callback(redis.aclose)
        stack.push_async_callback(broker.stop)  # after a failed start too
        await broker.start()
        runner = ack_runner(app)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        yield runner


def ack_runner(app: web.Application) -> web.AppRunner:
    """An AppRunner whose logs carry no tokens (see services.ack.accesslog)."""
    return web.AppRunner(app, access_log_class=TokenlessAccessLogger, logger=server_logger())


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()
