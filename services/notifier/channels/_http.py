"""Shared HTTP plumbing for the HTTP-based adapters.

One :class:`HttpPoster` per adapter: it either uses an ``httpx.AsyncClient`` passed in
(shared, not closed by the adapter) or owns one.  Every request carries the adapter's
own timeout, so a shared client with a different default does not change it.

Transport failures become :class:`DeliveryError`; HTTP status handling is left to the
adapter because several providers answer errors with HTTP 200 and a code in the body.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx

from .base import DeliveryError
from .masking import redact

USER_AGENT = "duban-notifier/0.1"


class HttpPoster:
    def __init__(
        self,
        *,
        channel: str,
        timeout_s: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if timeout_s <= 0 or not math.isfinite(timeout_s):
            raise ValueError("timeout_s must be a positive number")
        self.channel = channel
        self.timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=self.timeout)

    async def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        """POST and return the response (any status); raise DeliveryError on transport
        failures.  The URL is never part of an error message (it may hold a key)."""
        all_headers = {"User-Agent": USER_AGENT, **headers}
        try:
            return await self._client.post(
                url, content=content, headers=all_headers, timeout=self.timeout
            )
        except httpx.TimeoutException as e:
            raise DeliveryError(
                f"timed out after {self.timeout.read:g}s ({type(e).__name__})",
                retryable=True,
                channel=self.channel,
            ) from e
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise DeliveryError(
                f"bad endpoint configuration ({type(e).__name__})",
                retryable=False,
                channel=self.channel,
            ) from e
        except httpx.TransportError as e:
            raise DeliveryError(
                f"connection failed ({type(e).__name__}: {redact(str(e), limit=120)})",
                retryable=True,
                channel=self.channel,
            ) from e
        except httpx.HTTPError as e:  # e.g. DecodingError while reading the body
            raise DeliveryError(
                f"HTTP error ({type(e).__name__})",
                retryable=True,
                channel=self.channel,
            ) from e

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or ``None`` if it is not one."""
    try:
        data = json.loads(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def retry_after_seconds(response: httpx.Response, *, now_s: float | None = None) -> float | None:
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
    response: httpx.Response,
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


def body_snippet(response: httpx.Response, limit: int = 120) -> str:
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
