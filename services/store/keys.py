"""Every Redis key duban uses, in one place: what each service keeps, and under which name.

Documents are hashes {v: version, s: JSON} (services.store.entities); timers and
deferrals are sorted sets scored by due time in milliseconds; the ledger keeps one
string per delivery; the rate limiter one sorted set per channel and window.
"""

from __future__ import annotations

PREFIX = "duban"

# The engine: versioned documents, and one timer per entity in one sorted set.
TIMERS_KEY = f"{PREFIX}:timers"

# The notifier: quiet-hours deferrals (due times, and the held payloads by member).
DEFERRED_KEY = f"{PREFIX}:deferred"
DEFERRED_PAYLOAD_KEY = f"{PREFIX}:deferred:payload"

# The notifier: the delivery ledger, one key per delivery key (contracts.delivery_key).
DELIVERY_PREFIX = f"{PREFIX}:delivery:"

# The notifier: send-rate windows.
RATE_PREFIX = f"{PREFIX}:rate:"


def document_prefix(kind: str) -> str:
    """The common start of every document key of a kind ("hazard", "unit", "duty", "digest")."""
    return f"{PREFIX}:{kind}:"


def hazard_key(hazard_id: str) -> str:
    """A hazard's state."""
    return document_prefix("hazard") + hazard_id


def unit_key(unit_id: str) -> str:
    """A unit's registry data."""
    return document_prefix("unit") + unit_id


def duty_key(duty_id: str, subject_id: str) -> str:
    """A duty's state for one unit or department."""
    return f"{document_prefix('duty')}{duty_id}:{subject_id}"


def digest_key(digest_id: str) -> str:
    """A digest's state."""
    return document_prefix("digest") + digest_id


def rate_window_key(channel: str, window_ms: int) -> str:
    """A channel's send log for one window; the braces put a channel's windows in one
    hash slot, since the rate limiter's scripts touch them all."""
    return f"{RATE_PREFIX}{{{channel}}}:{window_ms}"
