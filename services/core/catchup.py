"""Which of the occurrences due now go out: no burst after a gap, no step sent twice when
the deadline moves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.core.timeline import Occurrence

# Due longer ago than this means a gap (a late event, downtime): catch up without a burst.
CATCH_UP_AFTER = timedelta(hours=1)


def first_sendings(sent: Sequence[str]) -> dict[tuple[str, str], set[str]]:
    """(rule id, step label) → anchor stamps whose first sending is recorded in `sent`."""
    firsts: dict[tuple[str, str], set[str]] = {}
    for key in sent:
        head, _, repeat = key.rpartition("#")
        parts = head.split(":")
        if repeat == "0" and len(parts) == 3:
            firsts.setdefault((parts[0], parts[1]), set()).add(parts[2])
    return firsts


def sent_for_an_earlier_anchor(occ: Occurrence, firsts: dict[tuple[str, str], set[str]]) -> bool:
    """An escalation step already sent for an earlier deadline is not sent again when the
    deadline changes; the steps of the new deadline still ahead go as planned."""
    if occ.rule.kind != "escalation":
        return False
    stamps = firsts.get((occ.rule.id, occ.label), set())
    return bool(stamps) and occ.stamp not in stamps


def catch_up(due: list[Occurrence], now: datetime) -> list[Occurrence]:
    """What to send of the occurrences due now, without a burst.

    A reminder whose anchor has passed is dropped, and of a rule's reminders due together
    only the last goes. After a gap (an event applied late, downtime: something due more
    than CATCH_UP_AFTER ago) only the rule's highest step (or newest period) goes, once —
    as its first sending if that was never sent."""
    by_rule: dict[str, list[Occurrence]] = {}
    for occ in due:
        if occ.step.offset.amount < 0 and occ.anchor_at <= now:
            continue  # a reminder for a deadline already passed
        by_rule.setdefault(occ.rule.id, []).append(occ)
    chosen: list[Occurrence] = []
    for occs in by_rule.values():
        missed = any(o.due_at < now - CATCH_UP_AFTER for o in occs)
        reminders = all(o.step.offset.amount < 0 for o in occs)
        chosen += [_highest(occs)] if missed or reminders else _newest_per_label(occs)
    return sorted(chosen, key=lambda o: o.due_at)


def _newest_per_label(occs: list[Occurrence]) -> list[Occurrence]:
    newest: dict[str, Occurrence] = {}
    for occ in occs:
        if occ.label not in newest or occ.due_at >= newest[occ.label].due_at:
            newest[occ.label] = occ
    return list(newest.values())


def _highest(occs: list[Occurrence]) -> Occurrence:
    """The newest period of the rule's last step due, as its first sending if unsent."""
    steps = occs[0].rule.steps
    firsts = {o.label: o.due_at for o in occs if o.repeat == 0}
    top = max(occs, key=lambda o: (steps.index(o.step), firsts.get(o.label, o.due_at)))
    same = [o for o in occs if o.label == top.label]
    first = [o for o in same if o.repeat == 0]
    return first[0] if first else max(same, key=lambda o: o.repeat)
