"""A small HTTP/1.1 client for the one request the HTTP adapters make.

Every adapter POSTs a small body and reads a small answer, thousands of times a minute
to the same few hosts. This client does exactly that and nothing else: it keeps
connections open per origin (scheme, host, port), writes the request in one piece and
parses the answer with httptools (llhttp, the parser of Node.js), so framing —
Content-Length, chunked, or read-until-close — is handled by a proven parser rather
than by hand. What it does not do, the adapters do not need: redirects (a 3xx is the
answer), cookies, compression (none is asked for), proxies (``HttpPoster`` sends
proxied requests through aiohttp), HTTP/2.

A connection goes back to its origin's idle list only after a complete answer the
server did not mark ``Connection: close``; any failure, timeout or cancellation closes
it. Idle connections are dropped when the server closed them or after ``idle_s``.
TLS uses the system's trust store with hostname checking.

Errors: ``ValueError`` for a URL or header that cannot be sent, ``OSError`` (TLS errors
included) for connection failures, :class:`AnswerError` for a malformed, cut-off or
oversized answer.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, cast
from urllib.parse import SplitResult, quote

import httptools
from multidict import CIMultiDict

MAX_ANSWER_BYTES: Final = 1 << 20  # providers answer a few hundred bytes
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_TARGET_SAFE: Final = "/?&=%:@!$'()*+,;~-._"
_FORBIDDEN_IN_HEADERS: Final = ("\r", "\n", "\0")
_OWN_HEADERS: Final = frozenset(("host", "content-length", "transfer-encoding", "connection"))


class AnswerError(Exception):
    """The server's answer was malformed, cut off or too large."""


@dataclass(frozen=True)
class Answer:
    """A complete answer: status, body and headers."""

    status: int
    body: bytes
    headers: CIMultiDict[str]  # looked up in any case


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, answer parsed as it arrives."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._reset()
        self.closed = False
        self.keep_alive = False
        self.idle_since = 0.0

    def _reset(self) -> None:
        self._status = 0
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: list[bytes] = []
        self._size = 0

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            cause = e.__context__  # an error raised in a callback below (too large)
            self._fail(cause if isinstance(cause, AnswerError) else AnswerError("malformed answer"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._status and not self._framed():  # body delimited by the close
            waiter.set_result(Answer(self._status, b"".join(self._body), self._headers))
            return
        when = "in the middle of the answer" if self._status else "before an answer"
        waiter.set_exception(AnswerError(f"connection closed {when}"))

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_bytes:
            raise AnswerError(f"answer larger than {self._max_bytes} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:  # 1xx: an interim answer, the real one follows
            self._reset()
            return
        self.keep_alive = self._parser.should_keep_alive()
        waiter, answer = self._waiter, Answer(self._status, b"".join(self._body), self._headers)
        self._waiter = None
        self._reset()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # -- use

    async def exchange(self, request: bytes) -> Answer:
        """Write one request and wait for its complete answer."""
        assert self._transport is not None and self._waiter is None
        if self.closed:  # the server hung up since: never wait on a dead connection
            raise AnswerError("connection closed before an answer")
        self._waiter = asyncio.get_running_loop().create_future()
        self.keep_alive = False
        self._transport.write(request)
        return await self._waiter

    def usable(self, now: float, idle_s: float) -> bool:
        transport = self._transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < idle_s
        )

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _framed(self) -> bool:
        return "content-length" in self._headers or "transfer-encoding" in self._headers

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self.close()


@dataclass
class _Origin:
    scheme: str
    host: str
    port: int
    host_header: str
    slots: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)


class H1Client:
    """Keep-alive POSTs, at most ``per_origin`` connections to each origin."""

    def __init__(
        self,
        *,
        per_origin: int,
        idle_s: float = 15.0,
        tls: ssl.SSLContext | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self._per_origin = per_origin
        self._idle_s = idle_s
        self._tls = tls
        self._max_bytes = max_answer_bytes
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._closed = False

    async def post(self, url: SplitResult, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST ``body`` to ``url`` (as ``urlsplit`` gives it) and return the complete
        answer (any status)."""
        origin, target = self._origin_and_target(url)
        request = _request(origin.host_header, target, body, headers)
        async with origin.slots:
            connection = self._idle_connection(origin) or await self._connect(origin)
            try:
                answer = await connection.exchange(request)
            except BaseException:
                connection.close()  # failed, timed out or cancelled mid-exchange
                raise
            if connection.keep_alive and not connection.closed and not self._closed:
                connection.idle_since = time.monotonic()
                origin.idle.append(connection)
            else:
                connection.close()
            return answer

    def close(self) -> None:
        """Close every idle connection (ones in use close when their exchange ends)."""
        self._closed = True
        for origin in self._origins.values():
            for connection in origin.idle:
                connection.close()
            origin.idle.clear()

    def _origin_and_target(self, parts: SplitResult) -> tuple[_Origin, str]:
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in _DEFAULT_PORTS or not host:
            raise ValueError("not an http(s) URL")
        port = parts.port or _DEFAULT_PORTS[scheme]  # ValueError for a bad port
        key = (scheme, host, port)
        origin = self._origins.get(key)
        if origin is None:
            name = f"[{host}]" if ":" in host else host
            host_header = name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
            origin = _Origin(scheme, host, port, host_header, asyncio.Semaphore(self._per_origin))
            self._origins[key] = origin
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not target.isascii() or not target.isprintable() or " " in target:
            target = quote(target, safe=_TARGET_SAFE)
        return origin, target

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        now = time.monotonic()
        while origin.idle:
            connection = origin.idle.pop()  # most recently used first
            if connection.usable(now, self._idle_s):
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if origin.scheme == "https":
            tls = self._tls or _default_tls()
        _, connection = await loop.create_connection(
            lambda: _Connection(self._max_bytes),
            origin.host,
            origin.port,
            ssl=tls,
            server_hostname=origin.host if tls is not None else None,
        )
        return connection


def _request(host: str, target: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if name.lower() in _OWN_HEADERS:
            continue
        if any(c in name or c in value for c in _FORBIDDEN_IN_HEADERS) or ":" in name:
            raise ValueError("a header name or value cannot be sent")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8") + body


_TLS: ssl.SSLContext | None = None


def _default_tls() -> ssl.SSLContext:
    """The system trust store with hostname checking, built once (it reads the store)."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS
