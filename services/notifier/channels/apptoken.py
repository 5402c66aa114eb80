"""Access tokens of the work-chat apps (WeCom, DingTalk, Feishu), shared by every replica.

Each platform hands an app a token for about two hours (``expires_in`` / ``expire``) and
throttles apps that ask too often, so a token is fetched by one replica at a time and kept
in a :class:`TokenStore` every notifier replica reads (Redis in production:
:mod:`services.notifier.tokens`; :class:`MemoryTokenStore` in one process).

* A token is used until its *refresh time*, ``max(expires_in - margin, expires_in / 2)``
  after it was issued; from then on the next send fetches a new one. WeCom and DingTalk
  answer a repeated request with the same token while it lasts, so the halving keeps a
  short-lived answer from being asked for again on every send.
* When a send says the token is expired or invalid, :meth:`AccessTokens.renewed` drops it
  from the store (only if it is still the stored one: another replica may have replaced
  it already) and fetches a new one; the adapter sends once more.
* One fetch at a time: the fetching replica holds a short lock (``SET NX`` with a TTL in
  Redis); the others poll the store until the new token is there, or take the lock once
  its holder let it go or died.
* A fetch that fails while the stored token is still valid (only past its refresh time)
  leaves that token in use.

Tokens are secrets: each one seen is registered with :mod:`services.masking` (and the one
from two tokens before is unregistered, so the masked set stays small). Nothing here logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from services.masking import register_secrets, unregister_secrets

from .base import DeliveryError

REFRESH_MARGIN_S = 300.0
"""Fetch a new token this long before the old one expires."""
POLL_S = 0.05
"""How often a replica waiting for another's fetch looks at the store again."""
KEEP_MASKED = 3
"""Token values kept registered as secrets per app (the current one and two before)."""


@dataclass(frozen=True)
class Issued:
    """A token as the platform issued it."""

    value: str
    expires_in_s: float


@dataclass(frozen=True)
class CachedToken:
    """A token in the store; times are Unix seconds."""

    value: str
    expires_at: float
    """The platform stops taking it here."""
    refresh_at: float
    """From here on, fetch a new one."""

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at

    def usable(self, now: float) -> bool:
        return now < self.expires_at


class TokenStore(Protocol):
    """Where the apps' tokens are kept, shared by the replicas that use the store."""

    async def read(self, app: str) -> CachedToken | None:
        """The stored token of ``app``, if any."""

    async def write(self, app: str, token: CachedToken, now: float) -> None:
        """Store ``token`` (gone by itself once it expired)."""

    async def discard(self, app: str, value: str) -> None:
        """Drop the stored token of ``app`` if it is still ``value``."""

    async def try_lock(self, app: str, owner: str, ttl_s: float, now: float) -> bool:
        """Take the fetch lock of ``app`` for ``ttl_s`` unless someone else holds it."""

    async def unlock(self, app: str, owner: str) -> None:
        """Let the fetch lock go, if ``owner`` still holds it."""


class MemoryTokenStore:
    """A :class:`TokenStore` in this process (tests, one-off commands)."""

    def __init__(self) -> None:
        self.tokens: dict[str, CachedToken] = {}
        self.locks: dict[str, tuple[str, float]] = {}

    async def read(self, app: str) -> CachedToken | None:
        return self.tokens.get(app)

    async def write(self, app: str, token: CachedToken, now: float) -> None:
        self.tokens[app] = token

    async def discard(self, app: str, value: str) -> None:
        found = self.tokens.get(app)
        if found is not None and found.value == value:
            del self.tokens[app]

    async def try_lock(self, app: str, owner: str, ttl_s: float, now: float) -> bool:
        held = self.locks.get(app)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self.locks[app] = (owner, now + ttl_s)
        return True

    async def unlock(self, app: str, owner: str) -> None:
        held = self.locks.get(app)
        if held is not None and held[0] == owner:
            del self.locks[app]


def app_id(kind: str, *parts: str) -> str:
    """The store's name for one app: its kind and a digest of what identifies it (API base,
    app or corp id, secret), so two apps never share a token and no secret is in a key."""
    digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:20]
    return f"{kind}:{digest}"


def refresh_after(expires_in_s: float, margin_s: float) -> float:
    """Seconds after issue from which a token is fetched again."""
    lasts = max(0.0, expires_in_s)
    return max(lasts - margin_s, lasts / 2)


class AccessTokens:
    """The access token of one app, as :class:`TokenStore` shares it (module docstring)."""

    def __init__(
        self,
        store: TokenStore,
        app: str,
        fetch: Callable[[], Awaitable[Issued]],
        *,
        channel: str,
        clock: Callable[[], float] = time.time,
        lock_ttl_s: float = 15.0,
        margin_s: float = REFRESH_MARGIN_S,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.app = app
        self.channel = channel
        self._fetch = fetch
        self._clock = clock
        self._lock_ttl_s = lock_ttl_s
        self._margin_s = margin_s
        self._sleep = sleep
        self._owner = secrets.token_hex(8)
        self._masked: deque[str] = deque()

    async def current(self) -> str:
        """A token to send with: the stored one while fresh, else a new one."""
        cached = await self.store.read(self.app)
        if cached is not None and cached.fresh(self._clock()):
            return self._mask(cached.value)
        try:
            return await self._refresh()
        except DeliveryError:
            if cached is not None and cached.usable(self._clock()):
                return self._mask(cached.value)  # still valid: try fetching next time
            raise

    async def renewed(self, rejected: str) -> str:
        """A new token after the platform refused ``rejected`` (expired or invalid)."""
        await self.store.discard(self.app, rejected)
        return await self._refresh()

    async def _refresh(self) -> str:
        """Fetch under the lock, or wait for the replica that holds it to store its token."""
        polls = math.ceil(2 * self._lock_ttl_s / POLL_S)
        for _ in range(polls):
            if await self.store.try_lock(self.app, self._owner, self._lock_ttl_s, self._clock()):
                try:
                    return await self._fetch_and_store()
                finally:
                    await self.store.unlock(self.app, self._owner)
            await self._sleep(POLL_S)
            cached = await self.store.read(self.app)
            if cached is not None and cached.fresh(self._clock()):
                return self._mask(cached.value)
        raise DeliveryError(
            "no access token: another replica's fetch did not finish in time",
            retryable=True,
            channel=self.channel,
        )

    async def _fetch_and_store(self) -> str:
        cached = await self.store.read(self.app)  # another replica may have just stored one
        if cached is not None and cached.fresh(self._clock()):
            return self._mask(cached.value)
        issued = await self._fetch()
        now = self._clock()
        token = CachedToken(
            issued.value,
            expires_at=now + max(0.0, issued.expires_in_s),
            refresh_at=now + refresh_after(issued.expires_in_s, self._margin_s),
        )
        await self.store.write(self.app, token, now)
        return self._mask(token.value)

    def _mask(self, value: str) -> str:
        """Register ``value`` as a secret the first time it is seen here; forget old ones."""
        if value not in self._masked:
            register_secrets([value])
            self._masked.append(value)
            if len(self._masked) > KEEP_MASKED:
                unregister_secrets([self._masked.popleft()])
        return value
