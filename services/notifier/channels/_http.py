"""Shared HTTP plumbing for the HTTP-based adapters.

One :class:`HttpPoster` per adapter. Direct requests go through :mod:`.h1`, a small
keep-alive HTTP/1.1 client for exactly the adapters' request (POST, read the whole
answer); requests through a proxy (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``, read
once per endpoint host), or on an ``aiohttp.ClientSession`` passed in (shared, not
closed by the adapter), go through aiohttp. Every request carries the adapter's own
timeout. Redirects are not followed: a provider that answers 3xx has moved and ops must
see it.

Transport failures become :class:`DeliveryError`. How an answer is judged stays with
each adapter, because several providers answer errors with HTTP 200 and a code in the
body; the helpers below are the pieces those judgements share.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypedDict, TypeVar
from urllib.parse import SplitResult, urlsplit

import aiohttp
import orjson
from yarl import URL

from services.masking import redact

from .base import DeliveryError, Family, SendResult
from .h1 import AnswerError, H1Client

USER_AGENT = "duban-notifier/0.1"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CONNECTIONS_PER_CHANNEL = 100


@dataclass(frozen=True)
class HttpAnswer:
    """A provider's answer, read in full: status, body and (case-insensitive) headers."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]


class HttpPoster:
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
        self._h1: H1Client | None = None

    async def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str],
    ) -> HttpAnswer:
        """POST and return the answer (any status); raise DeliveryError on transport
        failures.  The URL is never part of an error message (it may hold a key)."""
        all_headers = {"User-Agent": USER_AGENT, **headers}
        try:
            proxy = None
            if self._client is None:  # no shared session: direct unless a proxy applies
                parts = urlsplit(url)
                proxy = self._proxy_for(parts.scheme, parts.hostname or "")
                if proxy is None:
                    return await self._direct(parts, content, all_headers)
            return await self._via_aiohttp(url, content, all_headers, proxy)
        except (aiohttp.ClientError, AnswerError, OSError, TimeoutError, ValueError) as e:
            reason, retryable = self._describe(e)
            raise DeliveryError(reason, retryable=retryable, channel=self.channel) from e

    async def _direct(
        self, url: SplitResult, content: bytes, headers: Mapping[str, str]
    ) -> HttpAnswer:
        async with asyncio.timeout(self.timeout_s):
            answer = await self._h1_client().post(url, content, headers)
        return HttpAnswer(answer.status, answer.body, answer.headers)

    async def _via_aiohttp(
        self, url: str, content: bytes, headers: Mapping[str, str], proxy: URL | None
    ) -> HttpAnswer:
        async with self._session().post(
            URL(url),
            data=content,
            headers=headers,
            timeout=self._timeout,
            allow_redirects=False,
            proxy=proxy,
        ) as response:
            body = await response.read()
            return HttpAnswer(response.status, body, response.headers)

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

    def _h1_client(self) -> H1Client:
        if self._closed:
            raise RuntimeError(f"channel {self.channel} is closed")
        if self._h1 is None:
            self._h1 = H1Client(per_origin=CONNECTIONS_PER_CHANNEL)
        return self._h1

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"channel {self.channel} is closed")
        if self._client is None:
            connector = aiohttp.TCPConnector(limit=CONNECTIONS_PER_CHANNEL)
            self._client = aiohttp.ClientSession(connector=connector)
        return self._client

    def _proxy_for(self, scheme: str, host: str) -> URL | None:
        """The proxy the environment names for this scheme and host, if any."""
        where = (scheme, host)
        if where not in self._proxies:
            proxy = urllib.request.getproxies().get(scheme)
            bypass = not host or urllib.request.proxy_bypass(host)
            self._proxies[where] = URL(proxy) if proxy and not bypass else None
        return self._proxies[where]

    def _describe(self, e: Exception) -> tuple[str, bool]:
        """(reason, retryable) for a failed request; a bad endpoint is permanent."""
        name = type(e).__name__
        if isinstance(e, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
            return f"timed out after {self.timeout_s:g}s ({name})", True
        if isinstance(e, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | ValueError):
            return f"bad endpoint configuration ({name})", False
        if isinstance(e, aiohttp.ClientConnectionError | OSError):  # TLS errors too
            return f"connection failed ({name}: {redact(str(e), limit=120)})", True
        if isinstance(e, AnswerError):
            return f"HTTP error ({redact(str(e), limit=120)})", True
        return f"HTTP error ({name})", True  # e.g. a malformed answer while reading it

    async def aclose(self) -> None:
        """Close the session this poster owns (a shared one stays open and usable)."""
        if self._owns_client:
            self._closed = True
            if self._h1 is not None:
                self._h1.close()
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


def json_object(response: HttpAnswer) -> dict[str, Any] | None:
    """The response body as a JSON object, or ``None`` if it is not one."""
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def retry_after_seconds(response: HttpAnswer, *, now_s: float | None = None) -> float | None:
    """Parse ``Retry-After`` (delta-seconds or HTTP-date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        now = time.time() if now_s is None else now_s
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def status_is_retryable(status: int) -> bool:
    """Generic HTTP classification: 408, 425, 429 and 5xx may succeed later."""
    return status in (408, 425, 429) or status >= 500


def http_status_error(
    response: HttpAnswer,
    *,
    channel: str,
    what: str = "",
    detail: str | None = None,
) -> DeliveryError:
    """A DeliveryError for a response whose HTTP status is the whole story."""
    status = response.status_code
    retryable = status_is_retryable(status)
    reason = f"HTTP {status}"
    if what:
        reason = f"{what}: {reason}"
    if detail:
        reason = f"{reason} {redact(detail, limit=200)}"
    return DeliveryError(
        reason,
        retryable=retryable,
        provider_code=f"HTTP {status}",
        retry_after_s=retry_after_seconds(response) if retryable else None,
        channel=channel,
    )


def raise_unless_2xx(response: HttpAnswer, *, channel: str) -> None:
    """Raise the HTTP status error (with a piece of the body) for a non-2xx answer."""
    if not 200 <= response.status_code < 300:
        raise http_status_error(response, channel=channel, detail=body_snippet(response))


def unexpected_answer(response: HttpAnswer, *, channel: str) -> DeliveryError:
    """The error for an answer without the provider's code: its HTTP status if not 200,
    else retryable (a proxy or an outage page may stand where the provider should)."""
    if response.status_code != 200:
        return http_status_error(response, channel=channel, detail=body_snippet(response))
    return DeliveryError(
        f"unexpected answer: {body_snippet(response)}",
        retryable=True,
        channel=channel,
    )


def provider_error(
    label: str,
    code: object,
    message: str,
    *,
    retryable: bool,
    retry_after_s: float | None,
    channel: str,
    request_id: str | None = None,
) -> DeliveryError:
    """The error for a provider's own failure code: ``"<label> <code>: <message>"``."""
    reason = f"{label} {code}: {redact(message, limit=200)}"
    if request_id is not None:
        reason += f" (RequestId {request_id})"
    return DeliveryError(
        reason,
        retryable=retryable,
        provider_code=str(code),
        retry_after_s=retry_after_s if retryable else None,
        channel=channel,
    )


def errcode_result(
    response: HttpAnswer,
    *,
    channel: str,
    provider: str,
    retryable_codes: Collection[int],
    retry_after_s: Mapping[int, float],
) -> SendResult:
    """Judge a robot's HTTP 200 ``{"errcode": 0, "errmsg": ...}`` answer (DingTalk, WeCom);
    any other errcode raises, retryable if in ``retryable_codes``."""
    data = json_object(response)
    if response.status_code != 200 or data is None or "errcode" not in data:
        raise unexpected_answer(response, channel=channel)
    errcode = data.get("errcode")
    errmsg = str(data.get("errmsg", ""))
    if errcode == 0:
        return SendResult(provider_message_id=None, provider_answer=f"errcode=0 {errmsg}")
    code = errcode if isinstance(errcode, int) else None
    raise provider_error(
        f"{provider} errcode",
        errcode,
        errmsg,
        retryable=code in retryable_codes,
        retry_after_s=retry_after_s.get(code) if code is not None else None,
        channel=channel,
    )


def body_snippet(response: HttpAnswer, limit: int = 120) -> str:
    """A short, redacted piece of a response body for error messages."""
    try:
        text = response.content.decode("utf-8", errors="replace")
    except Exception:  # pragma: no cover - bytes.decode with "replace" does not raise
        return ""
    return redact(text, limit=limit)


def utf8_truncate(text: str, max_bytes: int, *, ellipsis: str = "…") -> str:
    """Cut ``text`` so its UTF-8 encoding fits in ``max_bytes`` (adding ``ellipsis``)."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    budget = max_bytes - len(ellipsis.encode("utf-8"))
    cut = raw[: max(0, budget)].decode("utf-8", errors="ignore")
    return cut + ellipsis
