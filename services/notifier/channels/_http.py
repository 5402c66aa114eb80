"""Shared HTTP plumbing for the HTTP-based adapters.

Every adapter posts through one :class:`HttpPoster`, on aiohttp: one ``ClientSession``
per channel, opened on the first send (inside the running loop) and closed by the
channel's ``aclose()``; a session passed in is shared and stays open. The connector
keeps connections alive (aiohttp closes them after 15 s unused or when the provider
says ``Connection: close``), opens at most :data:`CONNECTIONS_PER_HOST` to one host, and
checks certificates and host names against the system's trust store (aiohttp's default
SSL context). Every request carries the adapter's own timeout. Redirects are not
followed: a provider that answers 3xx has moved and ops must see it. Cookies are not
kept: each request stands alone.

Proxies come from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), read
once per endpoint host and passed to each request. aiohttp's ``trust_env`` would read
them, and ``~/.netrc``, on a worker thread for every request: about four times the CPU
of the request itself.

Transport failures become :class:`DeliveryError`; how an answer is judged stays with
each adapter (the pieces those judgements share are in :mod:`._answers`).
"""

from __future__ import annotations

import math
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypedDict, TypeVar

import aiohttp
import orjson
from yarl import URL

from services.masking import redact

from .base import DeliveryError, Family

USER_AGENT = "duban-notifier/0.1"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CONNECTIONS_PER_HOST = 32
"""Open connections to one provider host; more concurrent sends wait for one."""
CONNECTIONS_PER_CHANNEL = 64
"""Open connections of one channel in all (a channel posts to one or two hosts)."""


@dataclass(frozen=True)
class HttpAnswer:
    """A provider's answer, read in full: status, body and (case-insensitive) headers."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]


class HttpPoster:
    """POSTs of one channel, on one aiohttp session (see the module docstring)."""

    def __init__(
        self,
        *,
        channel: str,
        timeout_s: float,
        client: aiohttp.ClientSession | None = None,
    ) -> None:
        if timeout_s <= 0 or not math.isfinite(timeout_s):
            raise ValueError("timeout_s must be a positive number")
        self.channel = channel
        self.timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._owns_client = client is None
        self._client = client
        self._closed = False
        self._proxies: dict[tuple[str, str], URL | None] = {}

    async def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str],
    ) -> HttpAnswer:
        """POST and return the answer (any status); raise DeliveryError on transport
        failures.  The URL is never part of an error message (it may hold a key)."""
        return await self.request("POST", url, content=content, headers=headers)

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> HttpAnswer:
        """GET, like :meth:`post` (e.g. a provider's access-token endpoint)."""
        return await self.request("GET", url, content=None, headers=headers or {})

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        headers: Mapping[str, str],
    ) -> HttpAnswer:
        """Send one request and return the answer (any status), as :meth:`post` says."""
        all_headers = {"User-Agent": USER_AGENT, **headers}
        try:
            target = URL(url)
            async with self._session().request(
                method,
                target,
                data=content,
                headers=all_headers,
                timeout=self._timeout,
                allow_redirects=False,
                proxy=self._proxy_for(target.scheme, target.host or ""),
            ) as response:
                body = await response.read()
                return HttpAnswer(response.status, body, response.headers)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            raise self._error(e) from e

    async def post_json(
        self,
        url: str,
        payload: object,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """POST ``payload`` as compact UTF-8 JSON (:func:`json_bytes`), like :meth:`post`."""
        body = json_bytes(payload)
        all_headers = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
        return await self.post(url, content=body, headers=all_headers)

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"channel {self.channel} is closed")
        if self._client is None:
            connector = aiohttp.TCPConnector(
                limit=CONNECTIONS_PER_CHANNEL, limit_per_host=CONNECTIONS_PER_HOST
            )
            self._client = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._client

    def _proxy_for(self, scheme: str, host: str) -> URL | None:
        """The proxy the environment names for this scheme and host, if any."""
        where = (scheme, host)
        if where not in self._proxies:
            proxy = urllib.request.getproxies().get(scheme)
            bypass = not host or urllib.request.proxy_bypass(host)
            self._proxies[where] = URL(proxy) if proxy and not bypass else None
        return self._proxies[where]

    def _error(self, e: Exception) -> DeliveryError:
        """The DeliveryError for a failed request; it says when nothing was sent."""
        reason, retryable = self._describe(e)
        # Refused, unresolved, TLS handshake failed, or no connection in time (a pool
        # slot included): the request was never written.
        unsent = isinstance(e, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
        return DeliveryError(
            reason,
            retryable=retryable,
            channel=self.channel,
            reached_provider=False if unsent else None,
        )

    def _describe(self, e: Exception) -> tuple[str, bool]:
        """(reason, retryable) for a failed request; a bad endpoint is permanent."""
        name = type(e).__name__
        if isinstance(e, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
            return f"timed out after {self.timeout_s:g}s ({name})", True
        if isinstance(e, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | ValueError):
            return f"bad endpoint configuration ({name})", False
        if isinstance(e, aiohttp.ClientConnectionError | OSError):  # TLS errors too
            return f"connection failed ({name}: {redact(str(e), limit=120)})", True
        return f"HTTP error ({name})", True  # e.g. a malformed answer while reading it

    async def aclose(self) -> None:
        """Close the session this poster owns (a shared one stays open and usable)."""
        if self._owns_client:
            self._closed = True
            if self._client is not None:
                await self._client.close()


class _HasTimeout(Protocol):
    @property
    def timeout_s(self) -> float: ...


SettingsT = TypeVar("SettingsT", bound=_HasTimeout)


class HttpOptions(TypedDict, total=False):
    """The keyword arguments of :class:`HttpChannel`, for adapters that add their own."""

    client: aiohttp.ClientSession | None
    name: str | None
    clock: Callable[[], float]


class HttpChannel(Generic[SettingsT]):
    """What every HTTP adapter holds: name, settings, clock and its :class:`HttpPoster`."""

    family: Family
    default_name: ClassVar[str]
    """``name`` when none is given: the adapter's kind."""

    def __init__(
        self,
        settings: SettingsT,
        *,
        client: aiohttp.ClientSession | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = self.default_name if name is None else name
        self.settings = settings
        self._clock = clock
        self._http = HttpPoster(channel=self.name, timeout_s=settings.timeout_s, client=client)

    async def aclose(self) -> None:
        await self._http.aclose()


def json_bytes(payload: object) -> bytes:
    """Compact UTF-8 JSON, non-ASCII text kept as is (what ``json.dumps(payload,
    ensure_ascii=False, separators=(",", ":"))`` writes, several times faster)."""
    return orjson.dumps(payload)
