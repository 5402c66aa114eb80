"""Hostile records, as a careless or hostile publisher sends them.

Each entry is (name, bytes, whether a valid consumer may accept it). Built from the
contract's own examples, so the records stay close to what publishers really send.
`tests/integration/test_hostile.py` publishes each to the real consumers, followed by a
valid canary with the same key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
#: Personal data and a secret planted in hostile records: none may reach a log line, a
#: receipt or a dead-letter header in clear.
MOBILE = "13912345678"
EMAIL = "leak.check@hostile.example"
SECRET = "s3cret-Hostile-Value-42"


def example(event_type: str) -> dict[str, Any]:
    """A fresh copy of the contract's example of `event_type`."""
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"{event_type}.json").read_text())
    return loaded


def _with_data(event: dict[str, Any], **data: Any) -> bytes:
    changed = deepcopy(event)
    changed["data"].update(data)
    return json.dumps(changed, ensure_ascii=False).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def hazard_records(valid: dict[str, Any]) -> list[tuple[str, bytes, bool]]:
    """Hostile records for a consumer of hazard events; `valid` is a good hazard.reported."""
    subject = valid["subject"]
    raw_nul = json.dumps(valid, ensure_ascii=False).replace("储罐", "储\x00罐", 1)
    wrong_subject = deepcopy(valid)
    wrong_subject["subject"] = subject + "-other"
    unknown = deepcopy(valid)
    unknown["type"] = "hazard.exploded"
    missing = deepcopy(valid)
    del missing["data"]["level"]
    records: list[tuple[str, bytes, bool]] = [
        ("nested 1,000 levels (2 KB)", _nested(1000), False),
        ("nested 10,000 levels, unclosed", b"[" * 10_000, False),
        ("invalid UTF-8", b'{"specversion":"1.0","id":"\xff\xfe"}', False),
        ("not JSON", b"\x00\x01hello", False),
        ("empty", b"", False),
        ("JSON but not an object", b"[1,2,3]", False),
        ("wrong types", _with_data(valid, level=3, responsible=MOBILE), False),
        (
            "personal data in a wrong-typed field",
            _with_data(valid, found_at=f"{EMAIL} {MOBILE}"),
            False,
        ),
        ("a secret in a wrong-typed field", _with_data(valid, deadline=SECRET), False),
        ("unknown type", json.dumps(unknown).encode(), False),
        ("missing field", json.dumps(missing).encode(), False),
        ("subject differs from id", json.dumps(wrong_subject).encode(), False),
        ("NUL raw", raw_nul.encode(), False),
        ("NUL escaped", _with_data(valid, title="储罐\u0000区 " + MOBILE), False),
        ("deadline 1900-01-01", _with_data(valid, deadline="1900-01-01"), False),
        ("deadline 9999-12-31", _with_data(valid, deadline="9999-12-31"), False),
        ("found in year 1", _with_data(valid, found_at="0001-01-01T00:00:00+08:00"), False),
        ("2 MB junk", b"x" * 2_000_000, False),
        ("2 MB valid", _with_data(valid, description="说明" * 350_000), False),
    ]
    return records


def notice_records(valid: dict[str, Any]) -> list[tuple[str, bytes, bool]]:
    """Hostile records for the notifier; `valid` is a good notice.requested."""
    recipient = deepcopy(valid["data"]["recipient"])
    recipient["mobile"] = SECRET
    return [
        ("nested 1,000 levels (2 KB)", _nested(1000), False),
        ("nested 10,000 levels, unclosed", b"[" * 10_000, False),
        ("invalid UTF-8", b"\xff" * 64, False),
        (
            "a hazard event on the notice topic",
            json.dumps(example("hazard.reported")).encode(),
            False,
        ),
        ("wrong types", _with_data(valid, occurrence="first"), False),
        (
            "a secret as a mobile (a valid line: delivered by email)",
            _with_data(valid, recipient=recipient),
            True,
        ),
        (
            "NUL escaped",
            _with_data(valid, facts={**valid["data"]["facts"], "title": "a\u0000b"}),
            False,
        ),
        ("2 MB junk", b"{" * 10 + b"x" * 2_000_000, False),
    ]


Corpus = Callable[[dict[str, Any]], list[tuple[str, bytes, bool]]]
