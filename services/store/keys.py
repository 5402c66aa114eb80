"""Every Redis key duban uses, in one place: what each service keeps, and under which name.

Documents are hashes {v: version, s: JSON} (services.store.entities); timers and
deferrals are sorted sets scored by due time in milliseconds; the ledger keeps one
string per delivery; the rate limiter one sorted set per channel and window.
"""

from __future__ import annotations

PREFIX = "duban"

# The engine: versioned documents, and one timer per entity in one sorted set.
TIMERS_KEY = f"{PREFIX}:timers"
# ... and its outbox: the notice.requested events each commit decided, by event id, kept
# until published (a hash of the bytes and a sorted set of when each was kept).
OUTBOX_KEY = f"{PREFIX}:outbox"
OUTBOX_AT_KEY = f"{PREFIX}:outbox:at"

# The notifier: quiet-hours deferrals (due times, and the held payloads by member).
DEFERRED_KEY = f"{PREFIX}:deferred"
DEFERRED_PAYLOAD_KEY = f"{PREFIX}:deferred:payload"

# The notifier: the delivery ledger, one key per delivery key (contracts.delivery_key).
DELIVERY_PREFIX = f"{PREFIX}:delivery:"
# ... and a note, per delivery key, that its provider call began (kept until it ended):
# found after the lease expired, it says the delivery is in doubt (services.notifier.ledger).
DELIVERY_TRY_PREFIX = f"{PREFIX}:delivery-try:"

# The notifier: send-rate windows.
RATE_PREFIX = f"{PREFIX}:rate:"

# The notifier: work-chat apps' access tokens, shared by every replica (and their locks).
APP_TOKEN_PREFIX = f"{PREFIX}:apptoken:"

# The ack service: acknowledgements already taken, by acknowledgement id (its time as value).
ACKED_PREFIX = f"{PREFIX}:acked:"

# SMS after the send (services.sms): the deliveries awaiting a delivery report (a sorted set
# by when to give up waiting; a hash per delivery key), the providers' message ids pointing
# to their delivery key, and the reply codes (per mobile, in braces: one hash slot each).
SMS_AWAITING_KEY = f"{PREFIX}:sms:awaiting"
SMS_DELIVERY_PREFIX = f"{PREFIX}:sms:delivery:"
SMS_REF_PREFIX = f"{PREFIX}:sms:ref:"
SMS_CODE_PREFIX = f"{PREFIX}:sms:code:"
SMS_CODE_OF_PREFIX = f"{PREFIX}:sms:codeof:"


def document_prefix(kind: str) -> str:
    """The common start of every document key of a kind ("hazard", "task", "unit", "person",
    "duty", "digest")."""
    return f"{PREFIX}:{kind}:"


def hazard_key(hazard_id: str) -> str:
    """A hazard's state."""
    return document_prefix("hazard") + hazard_id


def task_key(task_id: str) -> str:
    """A supervised task's state (kept in the hazard's shape, services.core.state)."""
    return document_prefix("task") + task_id


def unit_key(unit_id: str) -> str:
    """A unit's registry data."""
    return document_prefix("unit") + unit_id


def person_key(person_id: str) -> str:
    """A person's record from person.upserted (services.store.people)."""
    return document_prefix("person") + person_id


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


def acked_key(acknowledgement_id: str) -> str:
    """A person's acknowledgement of a notice, once taken (services.ack.app.acknowledgement_id)."""
    return ACKED_PREFIX + acknowledgement_id


def app_token_key(app: str) -> str:
    """One work-chat app's cached access token (a hash: token, expiry, refresh time)."""
    return f"{APP_TOKEN_PREFIX}{app}"


def app_token_lock_key(app: str) -> str:
    """The lock one replica holds while it fetches the app's new access token."""
    return f"{APP_TOKEN_PREFIX}{app}:lock"
