"""The ops console: read-only pages in Chinese (aiohttp + Jinja2) served by the audit
service, plus its /metrics, /healthz and /readyz.

Pages need the token (DUBAN_CONSOLE_TOKEN) when one is set: `?token=` once, then a
cookie, or `Authorization: Bearer`. Without a token the console binds loopback only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import quote

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler
from redis.asyncio import Redis

from services.audit.html import Page, render, subject_page
from services.audit.naming import Naming
from services.audit.overview import channel_rates, dead_letters, hazard_groups
from services.audit.tracing import trace
from services.audit.writer import Connector
from services.clock import Clock
from services.metrics import Metrics, served

COOKIE = "duban_console"
OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
RATE_WINDOW = timedelta(days=7)
Problems = Callable[[], Awaitable[list[str]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    """The console's handlers over the trail (PostgreSQL) and the engine's state (Redis)."""

    def __init__(
        self,
        connector: Connector,
        redis: Redis,
        names: Naming,
        clock: Clock,
        token: str | None,
    ) -> None:
        self.connector = connector
        self.redis = redis
        self.names = names
        self.clock = clock
        self.token = token

    def page(self) -> Page:
        timing = self.names.rules.timing
        return Page(self.names.office, timing.zone, timing.calendar, self.clock.now())

    def link(self, path: str) -> str:
        return path

    async def overview(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        groups, overdue = await hazard_groups(self.redis, self.names, now)
        async with self.connector.using() as conn:
            letters = await dead_letters(conn, self.page())
            channels = await channel_rates(conn, now - RATE_WINDOW)
        html = render(
            "console.html",
            groups=groups,
            overdue=overdue,
            dead_letters=letters,
            channels=channels,
            window_days=RATE_WINDOW.days,
            link=self.link,
            token="",
            **self.page().helpers(),
        )
        return web.Response(text=html, content_type="text/html")

    async def find(self, request: web.Request) -> web.Response:
        subject = request.query.get("id", "").strip()
        if not subject:
            raise web.HTTPFound("/")
        raise web.HTTPFound("/subject/" + quote(subject, safe=""))

    async def subject(self, request: web.Request) -> web.Response:
        subject = request.match_info["id"]
        async with self.connector.using() as conn:
            story, plan = await trace(conn, self.redis, self.names, subject, self.clock.now())
        state, deadline = "", ""
        if plan.state is not None:
            state = self.names.label("statuses", plan.state.status)
            if plan.state.deadline is not None:
                deadline = self.page().when(plan.state.deadline)
        html = subject_page(story, self.page(), self.link, state=state, deadline=deadline)
        return web.Response(text=html, content_type="text/html")

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Pages need the token when one is set; health and metrics never do."""
        if self.token is None or request.path in OPEN_PATHS:
            return await handler(request)
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ")
        kept = cookie_of(self.token)
        allowed = hmac.compare_digest(given.encode(), self.token.encode()) or (
            hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), kept.encode())
        )
        if not allowed:
            return web.Response(status=401, text="需要访问令牌 (token required)\n")
        response = await handler(request)
        response.set_cookie(COOKIE, kept, httponly=True, samesite="Strict")
        return response


def cookie_of(token: str) -> str:
    """What the console's cookie holds: a digest of the token, never the token."""
    return hashlib.sha256(b"duban-console:" + token.encode()).hexdigest()


def console_app(console: Console, registry: Metrics, problems: Problems) -> web.Application:
    """The console's aiohttp application."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        found = await problems()
        if found:
            return web.Response(status=503, text="\n".join(found) + "\n")
        return web.Response(text="ready\n")

    app = web.Application(middlewares=[console.guard])
    app.router.add_get("/", console.overview)
    app.router.add_get("/subject", console.find)
    app.router.add_get("/subject/{id}", console.subject)
    app.router.add_get("/metrics", make_aiohttp_handler(served([registry])))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
