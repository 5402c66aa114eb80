"""Steps decided as timers on time would have decided them: one due time after another.

`evaluate` at a moment decides every step due by then at once, and steps due together
are caught up without a burst: a reminder for a deadline already passed is dropped, and
of a step's repeats due together only the newest goes. That is right after a gap (the
engine down for hours), but not when a timer merely fired a minute late (it waited for
its hazard's events, or Redis failed over) or an event is applied after steps came due
that no timer fired yet: on time, each of those steps would have gone at its own due
time, as `duban simulate` (which fires every timer at its due time) sends them.

So within CATCH_UP_AFTER of their due time, steps are decided at their own due times in
turn; anything older is a gap, caught up without a burst as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.core.catchup import CATCH_UP_AFTER
from services.core.evaluate import Evaluation, Rules, evaluate, mark_decided
from services.core.state import HazardState, UnitInfo

ON_TIME = timedelta(seconds=2)  # a timer fired this soon after its due time is on time
REPLAY_MAX = 32  # due times decided one by one; beyond, the rest together


def timer_late(due_at: datetime, now: datetime) -> bool:
    """Whether a timer due at `due_at` and fired at `now` is late but no gap."""
    return ON_TIME < now - due_at <= CATCH_UP_AFTER


def decided_on_time(
    state: HazardState, unit: UnitInfo | None, rules: Rules, start: datetime, end: datetime
) -> Evaluation | None:
    """The steps due from `start` to `end` not decided yet, each decided at its own due
    time in turn (the first look at `start`); None when there were none."""
    total = Evaluation()
    at = start
    for _ in range(REPLAY_MAX):
        step = evaluate(state, unit, rules, at)
        if step.decided:
            state = mark_decided(state, step)
            total.notices += step.notices
            total.decided += step.decided
            total.warnings += step.warnings
        if step.next_at is None or step.next_at > end:
            break
        at = step.next_at
    return total if total.decided else None


def no_gap(moment: datetime, now: datetime) -> bool:
    """Whether steps due at `moment` are still decided on time at `now`."""
    return now - moment <= CATCH_UP_AFTER
