"""notice.requested events for the notifier benchmark, as the engine would publish them.

A few real notices are decided by the rules core for one major hazard (its report,
a reminder before the deadline, an escalation after it), then copied onto `count`
hazards, each copy planned on one channel, round robin over the channels given, and
encoded with `services.core.noticeevent.notice_event` exactly as the engine encodes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from contracts.registry import parse_event
from services.config.load import load_config
from services.core.advance import advance
from services.core.evaluate import PlannedNotice
from services.core.noticeevent import notice_event
from services.core.routing import PlannedChannel
from services.inbound import route
from tests.helpers import at, reported, unit_upserted
from tests.perf.common import EXAMPLE_CONFIG
from tests.perf.events import Produced

DEADLINE = date(2026, 10, 30)


def sample_notices() -> list[PlannedNotice]:
    """The notices the example policy sends for one major hazard at three moments."""
    rules = load_config(EXAMPLE_CONFIG).rules()
    unit = route(parse_event(json.dumps(unit_upserted("U1", at("2026-08-01 08:00"))))).unit
    fact = route(parse_event(json.dumps(reported("H0", at("2026-09-01 09:00"), DEADLINE)))).fact
    assert fact is not None
    moments = [at("2026-09-01 09:05"), at("2026-10-23 09:05"), at("2026-11-02 09:05")]
    state, found = None, []
    for i, now in enumerate(moments):
        result = advance(state, "H0", [fact] if i == 0 else [], [], unit, rules, now)
        state, found = result.state, found + result.notices
    return found


def notice_events(count: int, channels: Sequence[str], needs_email: set[str]) -> list[Produced]:
    """`count` notices for hazards H0…, each on one channel (round robin)."""
    samples = sample_notices()
    with_email = [n for n in samples if n.recipient.person.email]
    out = []
    for i in range(count):
        channel = channels[i % len(channels)]
        pool = with_email if channel in needs_email else samples
        notice = _for_hazard(pool[(i // len(channels)) % len(pool)], f"H{i}", channel)
        out.append(Produced(notice.notice_id.encode(), notice_event(notice)))
    return out


def _for_hazard(notice: PlannedNotice, hazard_id: str, channel: str) -> PlannedNotice:
    return replace(
        notice,
        notice_id=notice.notice_id.replace(":H0:", f":{hazard_id}:", 1),
        subject=hazard_id,
        facts={**notice.facts, "hazard_id": hazard_id},
        channels=(PlannedChannel(channel, None),),
    )
