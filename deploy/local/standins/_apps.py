"""Common machinery of the work-chat *app* stand-ins (WeCom app messages, DingTalk work
notifications, Feishu app messages): access tokens on top of :class:`FakeHttpProvider`.

A token request (``token_method`` ``token_path``) is recorded in ``requests`` and in
``token_requests``, its credentials checked (:meth:`check_credentials`), and answered with
a token that lives ``token_ttl_s`` on the fake's clock — or with the failure queued by
:meth:`fail_token_next`. How a repeated request is answered is the platform's own
(:meth:`grant`). Sends go through the usual steps of :mod:`._base`; each platform checks
the token they carry with :meth:`token_state`, and :meth:`expire_tokens` makes every
token issued so far expired (as if two hours had passed, or the platform revoked them).

``accepted`` holds every send the platform answered with success; ``delivered`` the
messages a person would see (a send the platform de-duplicates is accepted, not delivered
again; one to an unknown person reaches no one). ``users`` (``None``: anyone) are the
people the app may reach.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from collections import deque
from collections.abc import Collection
from typing import Any, ClassVar, Literal, TypeGuard

from aiohttp import web

from ._base import FakeHttpProvider, InjectedFailure, RecordedRequest, Rejected

TokenState = Literal["missing", "unknown", "expired", "live"]


class FakeWorkApp(FakeHttpProvider):
    """Base class; subclasses set the token route and implement the hooks below."""

    token_method: ClassVar[str]
    token_path: ClassVar[str]
    token_prefix: ClassVar[str] = ""

    def __init__(
        self,
        *,
        token_ttl_s: float = 7200.0,
        users: Collection[str] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.token_ttl_s = token_ttl_s
        self.users = set(users) if users is not None else None
        self.tokens: dict[str, float] = {}
        """Every token issued: value → when it expires (the fake's clock)."""
        self.token_requests: list[RecordedRequest] = []
        self.delivered: list[dict[str, Any]] = []
        self._token_failures: deque[InjectedFailure] = deque()
        self._ids = itertools.count(1)

    # -- configuration --------------------------------------------------------------

    def fail_token_next(
        self, n: int = 1, *, code: str | int | None = None, status: int | None = None
    ) -> None:
        """Answer the next ``n`` valid token requests with this error code / HTTP status."""
        for _ in range(n):
            self._token_failures.append(InjectedFailure(code, status))

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on."""
        for value in self.tokens:
            self.tokens[value] = -math.inf

    def token_state(self, value: str | None) -> TokenState:
        if not value:
            return "missing"
        expires = self.tokens.get(value)
        if expires is None:
            return "unknown"
        return "live" if expires > self.clock() else "expired"

    def knows(self, user: str) -> bool:
        return self.users is None or user in self.users

    # -- the token endpoint -----------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.method == self.token_method and request.path == self.token_path:
            return await self._token(request)
        return await super()._dispatch(request)

    async def _token(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = RecordedRequest(
            request.method, request.path, dict(request.query), dict(request.headers), body
        )
        self.requests.append(recorded)
        self.token_requests.append(recorded)
        try:
            await self.check_credentials(request, body)
        except Rejected as r:
            self.rejections.append(r.reason)
            return r.response
        if self._token_failures:
            return self.failure(self._token_failures.popleft())
        value, lasts = self.grant(self.clock())
        return self.token_answer(value, lasts)

    def live_token(self, now: float) -> tuple[str, float] | None:
        """The newest token still valid at ``now``, and its expiry."""
        live = [(value, expires) for value, expires in self.tokens.items() if expires > now]
        return max(live, key=lambda item: item[1]) if live else None

    def new_token(self, now: float) -> tuple[str, float]:
        value = f"{self.token_prefix}{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"
        self.tokens[value] = now + self.token_ttl_s
        return value, self.token_ttl_s

    def next_id(self) -> int:
        return next(self._ids)

    # -- provider specific ------------------------------------------------------------

    async def check_credentials(self, request: web.Request, body: bytes) -> None:
        """Raise :class:`Rejected` with the platform's answer to bad credentials."""
        raise NotImplementedError

    def grant(self, now: float) -> tuple[str, float]:
        """The token a valid request gets, and the lifetime the answer states."""
        raise NotImplementedError

    def token_answer(self, value: str, lasts: float) -> web.StreamResponse:
        raise NotImplementedError


def json_object_of(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or ``None``."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def canonical(data: dict[str, Any]) -> str:
    """One text per JSON object, whatever its key order (for duplicate checks)."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
