"""Stand-ins at the TCP level, for what the HTTP fakes cannot see: connections.

* :class:`ConnectionRelay` forwards every connection made to its port on to a fake
  provider and counts them: how many a client opened and how many have ended (so a test
  sees keep-alive, and a client closing its connections);
* :class:`RecordingProxy` is a forward HTTP proxy recording the first request line of
  each connection made to it: ``CONNECT host:port HTTP/1.1`` for an HTTPS target (the
  tunnel is then relayed), or the absolute-form ``POST http://host:port/path HTTP/1.1``
  for a plain HTTP one (relayed as is to that origin, and every later request on the
  connection with it: the tests use one origin).

Both listen on 127.0.0.1 with a random free port and are ``async with`` context managers.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from ._base import Serving

_MAX_HEAD = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until end of file, then close ``writer``."""
    try:
        while data := await reader.read(_MAX_HEAD):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class _TcpServer(Serving):
    """A server on 127.0.0.1 whose connections are closed when it stops."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def relay(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        """Copy both ways until both directions ended."""
        self._writers.add(upstream[1])
        try:
            await asyncio.gather(_pipe(client[0], upstream[1]), _pipe(upstream[0], client[1]))
        finally:
            self._writers.discard(upstream[1])


class ConnectionRelay(_TcpServer):
    """Forwards connections to ``target_port`` on 127.0.0.1, counting them."""

    def __init__(self, target_port: int) -> None:
        super().__init__()
        self.target_port = target_port
        self.opened = 0
        """Connections a client opened."""
        self.ended = 0
        """Connections that have ended (both directions closed)."""
        self._changed = asyncio.Condition()

    def via(self, url: str) -> str:
        """``url`` (to the target) with the relay's port instead."""
        return url.replace(f":{self.target_port}/", f":{self.port}/", 1)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        await self._count(opened=1)
        try:
            await self.relay((reader, writer), upstream)
        finally:
            await self._count(ended=1)

    async def wait_ended(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until ``count`` connections have ended."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: self.ended >= count)

    async def _count(self, *, opened: int = 0, ended: int = 0) -> None:
        async with self._changed:
            self.opened += opened
            self.ended += ended
            self._changed.notify_all()


class RecordingProxy(_TcpServer):
    """A forward HTTP proxy recording each connection's first request line."""

    def __init__(self) -> None:
        super().__init__()
        self.request_lines: list[str] = []

    @property
    def url(self) -> str:
        """What ``HTTP_PROXY`` / ``HTTPS_PROXY`` name to use this proxy."""
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.request_lines.append(line)
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = await asyncio.open_connection(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            origin = urlsplit(target)
            upstream = await asyncio.open_connection(origin.hostname, origin.port or 80)
            upstream[1].write(head)  # absolute form: the fakes' aiohttp servers accept it
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        await self.relay((reader, writer), upstream)
