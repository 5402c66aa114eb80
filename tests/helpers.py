"""Small builders shared by tests: v1 events as a publisher would send them."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))
_ids = itertools.count(1)


def at(text: str) -> datetime:
    """A Beijing-time moment from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=CST)


def event(
    type_: str,
    subject: str,
    time: datetime,
    data: dict[str, Any],
    source: str = "urn:test:publisher",
    id: str | None = None,
) -> dict[str, Any]:
    """A CloudEvents 1.0 envelope (plain dict, as another language would build it)."""
    return {
        "specversion": "1.0",
        "id": id or f"evt-{next(_ids)}",
        "source": source,
        "type": type_,
        "time": time.isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }


def reported(
    hazard_id: str,
    time: datetime,
    deadline: date | datetime | None,
    level: str = "major",
    industry: str = "hazardous_chemicals",
    unit_id: str = "U1",
    region: str = "baitu",
    responsible: tuple[str, ...] = ("R1",),
    **extra: Any,
) -> dict[str, Any]:
    """hazard.reported."""
    data = {
        "hazard_id": hazard_id,
        "title": "储罐区可燃气体报警器失效",
        "level": level,
        "found_by": "inspection",
        "unit": {"id": unit_id, "name": "鑫源化工", "industry": industry, "region": region},
        "found_at": time.isoformat(),
        "responsible": list(responsible),
        **extra,
    }
    if deadline is not None:
        data["deadline"] = deadline.isoformat()
    return event("hazard.reported", hazard_id, time, data)


def hazard_event(type_: str, hazard_id: str, time: datetime, **data: Any) -> dict[str, Any]:
    """Any other hazard.* event; datetimes and dates in `data` become ISO text."""
    body = {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in data.items()}
    return event(type_, hazard_id, time, {"hazard_id": hazard_id, **body})


def unit_upserted(
    unit_id: str,
    time: datetime,
    industry: str = "hazardous_chemicals",
    five_package: int = 0,
    email_domain: str = "unit.example",
) -> dict[str, Any]:
    """unit.upserted with a principal (R1), controller (C1) and safety officer (S1)."""

    def person(pid: str, name: str, n: int) -> dict[str, Any]:
        return {
            "id": pid,
            "name": name,
            "mobile": f"1390000{n:04d}",
            "email": f"{pid.lower()}@{email_domain}",
        }

    contacts = {
        "principal": person("R1", "王建国", 1),
        "controller": person("C1", "李海峰", 2),
        "safety_officer": person("S1", "赵敏", 3),
        "five_package": [person(f"F{i}", f"包保{i}", 10 + i) for i in range(five_package)],
    }
    data = {
        "unit_id": unit_id,
        "name": "鑫源化工",
        "industry": industry,
        "region": "baitu",
        "contacts": contacts,
    }
    return event("unit.upserted", unit_id, time, data)


def jsonl(events: list[dict[str, Any]]) -> str:
    """Events as JSON Lines."""
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
