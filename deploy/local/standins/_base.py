"""Common machinery of the fake HTTP providers.

A fake is an aiohttp application on 127.0.0.1 with a random free port (HTTPS when given
a certificate: ``tls=``), used as an async context manager::

    async with FakeDingTalk(access_token="t", secret="SEC...") as fake:
        ... fake.webhook_url ...
        assert fake.accepted[0]["markdown"]["text"] == ...

Every request goes through the same steps:

1. it is recorded in ``requests`` (method, path, query, headers, raw body);
2. if a delay is queued (:meth:`delay_next`), the handler waits that long — or until
   the fake is closed — before answering (for client-timeout tests);
3. the subclass *verifies* it as the provider documents (path, method, content type,
   parameters, signature, timestamp freshness ...) and answers exactly like the
   provider on a violation; the reason is appended to ``rejections``;
4. if a failure is queued (:meth:`fail_next`), the provider's error answer for that
   code / HTTP status is returned;
5. otherwise the message is appended to ``accepted`` and the success answer returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from aiohttp import web

from .tls import CertFiles, server_context


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class InjectedFailure:
    code: str | int | None = None
    status: int | None = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Rejected(Exception):
    """Raised by ``verify`` with the provider's answer to an invalid request."""

    def __init__(self, response: web.StreamResponse, reason: str) -> None:
        super().__init__(reason)
        self.response = response
        self.reason = reason


def json_response(data: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.json_response(dict(data), status=status)


def free_socket(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A socket bound on `host`: to `port`, or to a free one when it is 0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class Serving:
    """``async with`` for a fake server: started on entry, stopped on exit."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class FakeHttpProvider(Serving):
    """Base class; subclasses implement ``routes``, ``verify``, ``success`` and
    ``failure``."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, tls: CertFiles | None = None
    ) -> None:
        self.clock = clock
        self.tls = tls
        """Serve HTTPS with this certificate (HTTP when ``None``)."""
        self.requests: list[RecordedRequest] = []
        self.accepted: list[dict[str, Any]] = []
        self.rejections: list[str] = []
        self._failures: deque[InjectedFailure] = deque()
        self._delays: deque[float] = deque()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.bind_host = "127.0.0.1"  # 0.0.0.0 in a container (compose.yaml's standins)

    # -- configuration --------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        code: str | int | None = None,
        status: int | None = None,
        message: str | None = None,
        **extra: Any,
    ) -> None:
        """Answer the next ``n`` valid requests with this provider error code and/or
        HTTP status instead of accepting them."""
        for _ in range(n):
            self._failures.append(InjectedFailure(code, status, message, dict(extra)))

    def delay_next(self, n: int = 1, *, seconds: float = 30.0) -> None:
        """Hold the next ``n`` requests for ``seconds`` (or until the fake closes)."""
        self._delays.extend([seconds] * n)

    # -- lifecycle --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        for method, path in self.routes():
            app.router.add_route(method, path, self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = free_socket(self.port, self.bind_host)  # port 0 unless set (...standins runner)
        self.port = sock.getsockname()[1]
        tls = server_context(self.tls) if self.tls else None
        site = web.SockSite(self._runner, sock, ssl_context=tls)
        await site.start()

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- request handling ---------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        if self._delays:
            seconds = self._delays.popleft()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), seconds)
        try:
            record = await self.verify(request, body)
        except Rejected as r:
            self.rejections.append(r.reason)
            return r.response
        if self._failures:
            return self.failure(self._failures.popleft())
        self.accepted.append(record)
        return self.success(record)

    # -- provider specific ----------------------------------------------------------

    def routes(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    async def verify(self, request: web.Request, body: bytes) -> dict[str, Any]:
        raise NotImplementedError

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        raise NotImplementedError

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------

    @staticmethod
    def http_error(status: int) -> web.Response:
        """What a load balancer in front of a provider answers on overload."""
        return web.Response(
            status=status,
            text=f"<html><body><h1>{status}</h1>upstream error</body></html>",
            content_type="text/html",
        )


class FakeErrcodeRobot(FakeHttpProvider):
    """A chat robot answering HTTP 200 ``{"errcode": ..., "errmsg": ...}`` (DingTalk,
    WeCom); subclasses set ``default_failure_code`` and implement ``answer``."""

    default_failure_code: ClassVar[int]
    """The code ``fail_next()`` answers when given none: the robot's rate limit."""

    def answer(self, code: int, text: str | None = None) -> web.Response:
        raise NotImplementedError

    def success(self, record: dict[str, Any]) -> web.StreamResponse:
        return self.answer(0)

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        # A non-200 status comes from the load balancer, before the robot answers.
        if failure.status is not None and failure.status != 200:
            return self.http_error(failure.status)
        code = failure.code if failure.code is not None else self.default_failure_code
        return self.answer(int(code), failure.message)


class FakeJsonEndpoint(FakeHttpProvider):
    """A plain JSON endpoint at ``path`` (SMS gateway, webhook receiver) answering
    errors as HTTP status + ``{"error": reason}``."""

    path: ClassVar[str]

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    def routes(self) -> list[tuple[str, str]]:
        return [("POST", self.path)]

    @staticmethod
    def _bad(reason: str, status: int = 400) -> Rejected:
        return Rejected(json_response({"error": reason}, status=status), reason)

    def failure(self, failure: InjectedFailure) -> web.StreamResponse:
        status = failure.status or 503
        headers = {}
        if "retry_after" in failure.extra:
            headers["Retry-After"] = str(failure.extra["retry_after"])
        return web.json_response(
            {"error": failure.message or f"failure {status}"}, status=status, headers=headers
        )
