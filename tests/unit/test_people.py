"""People (person.upserted): the contract, precedence between the sources of a person's
addresses, stale upserts, named warnings, and a person reached only through the event.

The person store contract below is also run against Redis (tests/integration/test_people.py).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.registry import InvalidEvent, parse_event
from services.config.load import load_config
from services.core.directory import Person
from services.core.evaluate import Rules
from services.core.people import PersonRecord, merged
from services.core.recipients import Subject, person_of, resolve
from services.core.state import UnitInfo
from services.inbound import route
from services.simulate import notice_line, simulate
from services.store.keys import person_key
from services.store.memory import MemoryEntityStore
from services.store.people import PersonBook
from services.store.ports import EntityStore
from tests.helpers import at, event, reported, unit_upserted

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "config" / "example"
EXAMPLES_DIR = ROOT / "contracts" / "examples"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def person_upserted(person_id: str, time: datetime, **fields: Any) -> dict[str, Any]:
    """person.upserted as a publisher would send it (name defaults to 钱卫东)."""
    data = {"person_id": person_id, "name": "钱卫东", **fields}
    return event("person.upserted", person_id, time, data)


def record(person_id: str, time: datetime, **fields: Any) -> PersonRecord:
    return PersonRecord(
        person_id=person_id, name=fields.pop("name", "钱卫东"), as_of=time, **fields
    )


# --- contract ---------------------------------------------------------------------------------


def test_the_example_parses_and_routes_to_the_person() -> None:
    parsed = parse_event((EXAMPLES_DIR / "person.upserted.json").read_bytes())
    routed = route(parsed)
    assert routed.entity == "person:P-BT-0042-07"
    assert routed.person is not None
    assert (routed.person.name, routed.person.title) == ("钱卫东", "储运车间主任")
    assert routed.person.as_of == parsed.time


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"subject": "P-2"}, "does not match data.person_id"),
        ({"data": {"person_id": "P-1"}}, "data.name: Field required"),
        ({"data": {"person_id": "P-1", "name": "王", "mobile": "call me"}}, "data.mobile"),
        ({"data": {"person_id": "P-1", "name": "王", "email": "a@b\nBcc: x@y"}}, "data.email"),
        ({"data": {"person_id": "P-1", "name": "王", "role": "head"}}, "data.role: Extra"),
    ],
)
def test_invalid_person_upserts_are_refused_with_the_field(
    change: dict[str, Any], reason: str
) -> None:
    doc = {**person_upserted("P-1", at("2026-09-01 08:00")), **change}
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(doc).encode())
    assert reason in caught.value.reason
    assert "call me" not in caught.value.reason  # values are never quoted


# --- precedence -------------------------------------------------------------------------------


def test_each_field_comes_from_the_most_specific_source_that_has_it() -> None:
    upserted = Person(id="P1", name="新名", mobile="13900000001")
    contact = Person(id="P1", name="旧名", mobile="13800000001", email="unit@x.example")
    directory = Person(
        id="P1",
        name="目录名",
        email="dir@x.example",
        wecom_userid="WeCom1",
        channels=("email", "wecom"),
    )
    person = merged([upserted, contact, directory])
    assert person is not None
    assert (person.name, person.mobile, person.email) == ("新名", "13900000001", "unit@x.example")
    assert (person.wecom_userid, person.channels) == ("WeCom1", ("email", "wecom"))
    assert merged([None, contact, None]) is contact
    assert merged([None, None]) is None


def test_resolution_applies_person_upserted_over_unit_contacts_and_directory(
    rules: Rules,
) -> None:
    unit = UnitInfo(
        unit_id="U1",
        principal=Person(id="R1", name="王建国", mobile="13800000001", email="r1@unit.example"),
    )
    known = {
        "R1": record("R1", at("2026-09-01 08:00"), email="wang@new.example").contact,
        "WS1": record("WS1", at("2026-09-01 08:00"), mobile="13900009999").contact,
        # A directory person (the department's duty officer) with a newer mobile.
        "emergency-duty": record(
            "emergency-duty", at("2026-09-01 08:00"), mobile="13711112222"
        ).contact,
    }
    index = rules.index.with_people(known)
    subject = Subject(id="H1", industry="hazardous_chemicals", region="baitu", responsible=("WS1",))
    found = resolve(["responsible", "principal", "department"], subject, unit, index)
    by_id = {r.person.id: r for r in found.recipients}
    assert found.warnings == []
    assert by_id["WS1"].role == "responsible" and by_id["WS1"].person.mobile == "13900009999"
    principal = by_id["R1"].person
    assert (principal.name, principal.mobile, principal.email) == (
        "钱卫东",
        "13800000001",
        "wang@new.example",
    )
    officer = by_id["emergency-duty"].person
    assert (officer.mobile, officer.email) == ("13711112222", "emergency@duban.example")
    # Without the events, the unit's and the directory's addresses stand as they were.
    assert person_of("R1", unit, rules.index) == unit.principal
    assert rules.index.known == {}


def test_a_person_known_to_no_source_is_a_named_warning_with_its_fallback(rules: Rules) -> None:
    unit = UnitInfo(unit_id="U1", principal=Person(id="R1", email="r1@unit.example"))
    alone = Subject(id="H1", industry="hazardous_chemicals", region="baitu", responsible=("X9",))
    found = resolve(["responsible"], alone, None, rules.index)
    assert [r.role for r in found.recipients] == ["committee_office"]
    named = [w for w in found.warnings if "'X9'" in w]
    assert len(named) == 1
    assert named[0].startswith("H1")
    assert "person 'X9' (responsible) is known to no person.upserted" in named[0]
    assert "sent to the committee office instead" in named[0]
    shared = Subject(id="H2", region="baitu", responsible=("X9", "R1"))
    found = resolve(["responsible"], shared, unit, rules.index)
    assert [(r.person.id, r.role) for r in found.recipients] == [("R1", "responsible")]
    assert len(found.warnings) == 1
    assert "person 'X9' (responsible)" in found.warnings[0]
    assert "the role's 1 other recipient(s) are notified" in found.warnings[0]


# --- the store: stale upserts never win ---------------------------------------------------------


async def check_person_book(store: EntityStore) -> None:
    """Newest record wins by event time, in one batch or across batches; absent ids are
    left out of reads."""
    book = PersonBook(store)
    t0 = at("2026-09-01 08:00")
    newer = record("P1", t0 + timedelta(hours=1), mobile="13900000002")
    older = record("P1", t0, mobile="13900000001")
    # Out of order in one batch: the newer one is written, once.
    assert await book.upsert([newer, older]) == [newer]
    # A stale upsert arriving later never overwrites the newer record.
    assert await book.upsert([older]) == []
    assert (await book.read(["P1", "nobody"])) == {"P1": newer}
    # The same time again: the later arrival wins (a duplicate changes nothing).
    again = record("P1", t0 + timedelta(hours=1), mobile="13900000003")
    assert await book.upsert([again]) == [again]
    latest = record("P1", t0 + timedelta(days=1), name="钱卫东（新）")
    assert await book.upsert([latest]) == [latest]
    assert (await book.read(["P1"]))["P1"].mobile is None  # a full record replaces the last
    stored = (await store.read([person_key("P1")]))[0]
    assert stored.version == 3
    assert await book.read([]) == {}


async def test_the_memory_store_keeps_the_person_contract() -> None:
    await check_person_book(MemoryEntityStore())


class RacedStore(MemoryEntityStore):
    """Another replica commits `winner` just before this replica's next commit."""

    def __init__(self, winner: PersonRecord) -> None:
        super().__init__()
        self.winner: PersonRecord | None = winner

    async def commit(self, writes):  # type: ignore[no-untyped-def]
        if self.winner is not None:
            key = person_key(self.winner.person_id)
            version = self.docs[key][0] if key in self.docs else 0
            self.docs[key] = (version + 1, self.winner.model_dump_json())
            self.winner = None
        return await super().commit(writes)


async def test_a_lost_race_is_decided_again_against_the_winner() -> None:
    winner = record("P1", at("2026-09-03 08:00"), mobile="13900000009")
    store = RacedStore(winner)
    late = record("P1", at("2026-09-02 08:00"), mobile="13900000005")
    assert await PersonBook(store).upsert([late]) == []  # the winner is newer: nothing written
    assert (await PersonBook(store).read(["P1"]))["P1"] == winner
    store.winner = record("P1", at("2026-09-01 08:00"))  # an older winner: ours goes on top
    newest = record("P1", at("2026-09-04 08:00"), mobile="13900000010")
    assert await PersonBook(store).upsert([newest]) == [newest]
    assert (await PersonBook(store).read(["P1"]))["P1"] == newest


# --- the engine and simulate --------------------------------------------------------------------


def _hazard_rows(events: list[dict[str, Any]], rules: Rules, until: datetime) -> list[dict]:
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    return [
        row
        for row in (notice_line(n) for n in simulate(parsed, rules, until))
        if row["subject"] == "H1"
    ]


def test_simulate_a_person_known_only_through_person_upserted_gets_the_reminders(
    rules: Rules,
) -> None:
    events = [
        unit_upserted("U1", at("2026-09-01 08:00")),
        person_upserted("WS1", at("2026-09-01 08:30"), email="ws1@people.example"),
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("WS1",)),
    ]
    rows = _hazard_rows(events, rules, at("2026-10-02 00:00"))
    reminders = [(r["at"][:10], r["recipient"], r["role"]) for r in rows if r["kind"] == "reminder"]
    assert reminders == [
        ("2026-09-23", "WS1", "responsible"),
        ("2026-09-28", "WS1", "responsible"),
        ("2026-09-29", "WS1", "responsible"),
        ("2026-09-29", "R1", "principal"),
    ]
    ws1 = [r for r in rows if r["recipient"] == "WS1"]
    assert all(r["channels"] == ["email", "webhook"] for r in ws1)  # e-mail: the one address
    # Without the event the same hazard's reminders go to the committee office instead.
    rows = _hazard_rows([events[0], events[2]], rules, at("2026-10-02 00:00"))
    recipients = {(r["recipient"], r["role"]) for r in rows if r["kind"] == "reminder"}
    assert ("aqb-duty", "committee_office") in recipients
    assert "WS1" not in {r for r, _ in recipients}


def test_simulate_uses_the_newest_addresses_at_each_reminder(rules: Rules) -> None:
    events = [
        unit_upserted("U1", at("2026-09-01 08:00")),
        person_upserted("WS1", at("2026-09-01 08:30"), email="ws1@people.example"),
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("WS1",)),
        # After the first reminder: a mobile is added; then a stale record arrives late.
        person_upserted("WS1", at("2026-09-24 08:00"), mobile="13900009999"),
        person_upserted("WS1", at("2026-09-24 09:00"), email="old@people.example")
        | {"time": at("2026-08-01 08:00").isoformat()},
    ]
    rows = _hazard_rows(events, rules, at("2026-10-02 00:00"))
    firsts = [r["channels"][0] for r in rows if r["recipient"] == "WS1"]
    assert firsts[0] == "email"
    assert all(c == "aliyun_sms" for c in firsts[1:]) and len(firsts) == 3
