"""How fast this machine runs plain Python right now: a fixed reference workload, timed
before and after each bench section.

The bench shares a virtual machine whose speed drifts: the same commit has measured
2,300 and 3,300 notifier deliveries/s on different days. The workload touches nothing
of duban's (its speed must not move when duban's code does): string formatting, dict
and list work, integer arithmetic, as a service's per-message work does. Its time, in
milliseconds, makes figures from different runs and days comparable: a run whose
reference took 30 % longer ran on a 30 % slower machine.
"""

from __future__ import annotations

import time

ROUNDS = 5
ITERATIONS = 20_000


def _workload() -> int:
    total = 0
    seen: dict[str, int] = {}
    for i in range(ITERATIONS):
        key = f"hazard:{i % 997}:{i & 15}"
        seen[key] = seen.get(key, 0) + i
        parts = key.split(":")
        total += len(parts[1]) * (i % 7) + sum(range(i % 13))
    return total + len(seen)


def reference_ms() -> float:
    """Milliseconds the reference workload takes: the best of ROUNDS (least disturbed)."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        _workload()
        best = min(best, time.process_time() - started)
    return round(best * 1000, 2)
