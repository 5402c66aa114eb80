"""Supervised tasks (督办事项) in the digests: open and overdue tasks counted by owner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from services.core.digest import OwnerTasks
from services.core.facts import owner_name
from services.core.state import OPEN_STATUSES, HazardState, UnitInfo

if TYPE_CHECKING:
    from services.core.evaluate import Rules


def tasks_by_owner(
    tasks: Iterable[HazardState],
    units: Mapping[str, UnitInfo],
    rules: Rules,
    now: datetime,
) -> list[OwnerTasks]:
    """One row per owner with open tasks: how many are open, and how many of those are
    past their deadline at `now`; most overdue first, then most open, then by name.
    `units` (by id) name the units that own tasks."""
    rows: dict[tuple[str, str], list[HazardState]] = {}
    for task in tasks:
        if task.kind != "task" or not task.known or task.status not in OPEN_STATUSES:
            continue
        if task.owner_kind is None or task.owner_id is None:
            continue
        rows.setdefault((task.owner_kind, task.owner_id), []).append(task)
    counted = [
        OwnerTasks(
            owner_kind=kind,
            owner_id=owner,
            owner_name=owner_name(mine[0], units.get(owner), rules),
            open=len(mine),
            overdue=sum(1 for t in mine if t.deadline is not None and t.deadline < now),
        )
        for (kind, owner), mine in rows.items()
    ]
    return sorted(counted, key=lambda r: (-r.overdue, -r.open, r.owner_name, r.owner_id))
