"""Contract v1: examples, schemas (freshness and validity), round trips and helpers."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import contracts
from contracts import (
    EVENT_TYPES,
    INBOUND_TYPES,
    OUTBOUND_TYPES,
    ChannelPlan,
    DataModel,
    Event,
    HazardProgress,
    HazardReported,
    HazardUpdated,
    InvalidEvent,
    NoticeRequested,
    Recipient,
    make_event,
    parse_event,
)
from contracts.schema import SCHEMA_DIALECT, build_all_schemas, render_schema, schema_filename
from contracts.topics import DEFAULT_TOPICS, Topics

CONTRACTS_DIR = Path(contracts.__file__).resolve().parent
EXAMPLES_DIR = CONTRACTS_DIR / "examples"
SCHEMAS_DIR = CONTRACTS_DIR / "schemas"
ALL_TYPES = sorted(EVENT_TYPES)
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=CST)


def example(event_type: str) -> dict[str, Any]:
    text = (EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8")
    return copy.deepcopy(json.loads(text))


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# --- registry -------------------------------------------------------------------------------


def test_registry_covers_the_spec_types() -> None:
    inbound = {
        "hazard.reported",
        "hazard.updated",
        "hazard.progress",
        "hazard.rectified",
        "hazard.closed",
        "hazard.reopened",
        "hazard.cancelled",
        "hazard.supervision_listed",
        "task.assigned",
        "task.updated",
        "task.progress",
        "task.completed",
        "task.cancelled",
        "unit.upserted",
        "person.upserted",
        "duty.fulfilled",
        "notice.acknowledged",
    }
    outbound = {"notice.requested", "notice.delivered", "notice.reached", "notice.failed"}
    assert inbound == INBOUND_TYPES
    assert outbound == OUTBOUND_TYPES
    assert set(EVENT_TYPES) == inbound | outbound
    for event_type, model in EVENT_TYPES.items():
        assert event_type == model.EVENT_TYPE
        assert model.SUBJECT_FIELD in model.model_fields


@pytest.mark.parametrize("model", [*EVENT_TYPES.values(), contracts.CloudEvent])
def test_every_field_has_a_description_and_every_model_a_docstring(model: type[Any]) -> None:
    seen: set[type[Any]] = set()

    def check(cls: type[Any]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name} has no description"
            for arg in _model_types(field.annotation):
                check(arg)

    check(model)


def _model_types(annotation: Any) -> list[type[Any]]:
    from typing import get_args

    from pydantic import BaseModel

    found: list[type[Any]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in get_args(annotation):
        found.extend(_model_types(arg))
    return found


def test_default_topics_for_every_type() -> None:
    assert DEFAULT_TOPICS.for_type("hazard.closed") == "hazard.events"
    assert DEFAULT_TOPICS.for_type("unit.upserted") == "duty.events"
    assert DEFAULT_TOPICS.for_type("person.upserted") == "duty.events"
    assert DEFAULT_TOPICS.for_type("duty.fulfilled") == "duty.events"
    assert DEFAULT_TOPICS.for_type("notice.acknowledged") == "notice.acks"
    assert DEFAULT_TOPICS.for_type("notice.requested") == "notice.requested"
    assert DEFAULT_TOPICS.for_type("notice.delivered") == "notice.receipts"
    assert DEFAULT_TOPICS.for_type("notice.failed") == "notice.receipts"
    assert DEFAULT_TOPICS.dlq_events == "duban.dlq.events"
    assert DEFAULT_TOPICS.dlq_notices == "duban.dlq.notices"
    renamed = Topics(hazard_events="t.hazards")
    for event_type in ALL_TYPES:
        assert renamed.for_type(event_type)
    assert renamed.for_type("hazard.reported") == "t.hazards"
    assert DEFAULT_TOPICS.for_type("task.assigned") == "task.events"
    assert set(DEFAULT_TOPICS.inbound()) == {
        "hazard.events",
        "task.events",
        "duty.events",
        "notice.acks",
    }


# --- examples ---------------------------------------------------------------------------------


def test_one_example_and_one_schema_per_type() -> None:
    assert sorted(p.stem for p in EXAMPLES_DIR.glob("*.json")) == ALL_TYPES
    assert sorted(p.stem for p in SCHEMAS_DIR.glob("*.json")) == ALL_TYPES


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_example_parses(event_type: str) -> None:
    raw = (EXAMPLES_DIR / f"{event_type}.json").read_bytes()
    event = parse_event(raw)
    assert event.type == event_type
    assert isinstance(event.data, EVENT_TYPES[event_type])
    assert event.subject == event.data.subject_value()
    assert event.key == event.subject.encode()
    assert event.dedup_key == (event.source, event.id)
    assert event.time.utcoffset() is not None


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_example_round_trips(event_type: str) -> None:
    event = parse_event((EXAMPLES_DIR / f"{event_type}.json").read_bytes())
    again = parse_event(event.to_json())
    assert again.envelope == event.envelope
    assert again.data == event.data


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_example_matches_its_json_schema(event_type: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [e.message for e in validator.iter_errors(example(event_type))]
    assert errors == []


# --- schemas ----------------------------------------------------------------------------------


def test_schema_files_are_fresh() -> None:
    stale = []
    for event_type, built in build_all_schemas().items():
        path = SCHEMAS_DIR / schema_filename(event_type)
        on_disk = path.read_text(encoding="utf-8") if path.exists() else None
        if on_disk != render_schema(built):
            stale.append(path.name)
    assert not stale, (
        f"schema files out of date: {stale}; run `python tools/export_schemas.py` "
        "(or `make schemas`) and commit contracts/schemas/"
    )


def test_schema_rendering_is_deterministic() -> None:
    first = {t: render_schema(s) for t, s in build_all_schemas().items()}
    second = {t: render_schema(s) for t, s in build_all_schemas().items()}
    assert first == second
    assert all(text.endswith("}\n") for text in first.values())


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_schema_is_a_whole_envelope(event_type: str) -> None:
    schema = build_all_schemas()[event_type]
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["$id"] == f"https://duban.example/schemas/v1/{event_type}.json"
    assert event_type in schema["title"]
    assert schema["description"]
    assert schema["properties"]["type"]["const"] == event_type
    assert schema["properties"]["specversion"]["const"] == "1.0"
    assert set(schema["required"]) == {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "data",
    }
    assert schema["additionalProperties"] is False
    data_ref = schema["properties"]["data"]["$ref"]
    assert data_ref == f"#/$defs/{EVENT_TYPES[event_type].__name__}"


def _string_schemas(node: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        kinds = node.get("type")
        if kinds == "string" or (isinstance(kinds, list) and "string" in kinds):
            found.append((path, node))
        for key, value in node.items():
            found += _string_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _string_schemas(value, f"{path}/{index}")
    return found


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_every_string_in_a_schema_is_constrained(event_type: str) -> None:
    """A publisher validating against the schema learns that control characters are refused."""
    strings = _string_schemas(build_all_schemas()[event_type], "#")
    assert strings
    loose = [path for path, node in strings if not {"pattern", "const", "enum"} & set(node)]
    assert loose == []


def test_a_data_model_with_a_plain_str_field_cannot_be_defined() -> None:
    from contracts.common import FreeText, Text

    class Fine(DataModel):
        """Checked text only."""

        title: Text
        note: FreeText | None = None
        tags: tuple[Text, ...] = ()

    assert Fine(title="x").title == "x"
    for annotation in (str, str | None, tuple[str, ...], dict[str, int], Any):
        with pytest.raises(TypeError, match="plain str would accept control characters"):
            type("Loose", (DataModel,), {"__annotations__": {"field": annotation}})


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("HZ-1", "HZ-1"),
        ("甲类 储罐", "甲类 储罐"),
        ("a\x00b", "a\\x00b"),
        ("co\nlour\r", "co\\nlour\\r"),
        ("\u2028\x85\x7f\t", "\\u2028\\x85\\x7f\\t"),
    ],
)
def test_escape_controls_keeps_quoted_input_on_one_printable_line(text: str, escaped: str) -> None:
    from contracts.common import escape_controls

    assert escape_controls(text) == escaped
    assert escape_controls(text).isprintable()


# --- CloudEvents extensions, deadlines --------------------------------------------------------


def test_extension_attributes_are_allowed_and_kept() -> None:
    doc = example("hazard.progress")
    doc.update(traceparent="00-abc-def-01", partitionkey="baitu", sequence=7, replay=False)
    event = parse_event(encode(doc))
    assert event.envelope.extensions == {
        "traceparent": "00-abc-def-01",
        "partitionkey": "baitu",
        "sequence": 7,
        "replay": False,
    }
    assert json.loads(event.to_json())["sequence"] == 7


def test_datacontenttype_defaults_to_json() -> None:
    doc = example("hazard.cancelled")
    del doc["datacontenttype"]
    assert parse_event(encode(doc)).envelope.datacontenttype == "application/json"


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        ("2026-04-30", date(2026, 4, 30)),
        ("2026-04-30T18:00:00+08:00", datetime(2026, 4, 30, 18, tzinfo=CST)),
        ("2026-04-30T10:00:00Z", datetime(2026, 4, 30, 10, tzinfo=UTC)),
        ("2026-04-30t10:00:00.5z", datetime(2026, 4, 30, 10, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_deadline_is_a_date_or_an_aware_datetime(deadline: str, expected: date) -> None:
    doc = example("hazard.reported")
    doc["data"]["deadline"] = deadline
    data = parse_event(encode(doc)).data
    assert isinstance(data, HazardReported)
    assert data.deadline == expected
    assert type(data.deadline) is type(expected)


def test_optional_fields_may_be_absent_or_null() -> None:
    doc = example("hazard.reported")
    for name in ("description", "deadline", "supervising_department"):
        doc["data"][name] = None
    del doc["data"]["responsible"]
    del doc["data"]["unit"]["name"]
    data = parse_event(encode(doc)).data
    assert isinstance(data, HazardReported)
    assert data.deadline is None
    assert data.responsible == ()
    assert data.unit.name is None


def test_hazard_updated_changes() -> None:
    data = parse_event(encode(example("hazard.updated"))).data
    assert isinstance(data, HazardUpdated)
    assert set(data.changes()) == {"deadline", "responsible"}


# --- make_event -------------------------------------------------------------------------------


def _notice() -> NoticeRequested:
    return NoticeRequested(
        notice_id="ntc-1",
        occurrence=2,
        kind="reminder",
        subject="HZ-1",
        due_at=NOW,
        recipient=Recipient(person_id="P-1", role="responsible", mobile="13800000001"),
        channels=(ChannelPlan(channel="sms"), ChannelPlan(channel="email")),
        facts={"hazard_id": "HZ-1", "days_overdue": 0},
    )


def test_make_event_builds_a_parseable_outbound_event() -> None:
    notice = _notice()
    event = make_event("notice.requested", "urn:duban:rules", "ntc-1", notice, time=NOW)
    assert event.data is notice
    assert event.type == "notice.requested"
    assert len(event.id) == 36  # uuid4
    assert event.key == b"ntc-1"
    back = parse_event(event.to_json())
    assert back.envelope == event.envelope
    assert notice.delivery_key("sms") == "ntc-1:2:P-1:sms"


def test_make_event_accepts_a_mapping_and_an_explicit_id() -> None:
    event = make_event(
        "hazard.progress",
        "urn:test",
        "HZ-1",
        {"hazard_id": "HZ-1", "percent": 40},
        time=NOW,
        id="evt-1",
        extensions={"traceparent": "00-x"},
    )
    assert isinstance(event, Event)
    assert event.id == "evt-1"
    assert event.data == HazardProgress(hazard_id="HZ-1", percent=40)
    assert json.loads(event.to_json())["traceparent"] == "00-x"


@pytest.mark.parametrize(
    ("kwargs", "reason_part"),
    [
        ({"type": "hazard.nope"}, "unknown type 'hazard.nope'"),
        ({"subject": "HZ-1"}, "subject: 'HZ-1' does not match data.notice_id 'ntc-1'"),
        ({"time": datetime(2026, 5, 1, 9, 0)}, "time: "),
        ({"extensions": {"Bad_Name": "x"}}, "unknown attribute 'Bad_Name'"),
        ({"extensions": {"subject": "x"}}, "extensions: 'subject' is a core attribute"),
        (
            {"data": HazardProgress(hazard_id="HZ-1", percent=1)},
            "data: Input should be a valid dictionary or instance of NoticeRequested",
        ),
        ({"data": {"notice_id": "n"}}, "data.occurrence: Field required"),
    ],
)
def test_make_event_rejects(kwargs: dict[str, Any], reason_part: str) -> None:
    args: dict[str, Any] = {
        "type": "notice.requested",
        "source": "urn:duban:rules",
        "subject": "ntc-1",
        "data": _notice(),
        "time": NOW,
    }
    args.update(kwargs)
    with pytest.raises(InvalidEvent) as info:
        make_event(**args)
    assert reason_part in info.value.reason


def test_receipt_delivery_keys() -> None:
    delivered = parse_event(encode(example("notice.delivered"))).data
    failed = parse_event(encode(example("notice.failed"))).data
    assert isinstance(delivered, contracts.NoticeDelivered)
    assert isinstance(failed, contracts.NoticeFailed)
    assert delivered.delivery_key() == "ntc-HZ-2026-0317-letter:0:P-EM-007:wecom"
    assert failed.delivery_key() == "ntc-HZ-2026-0317-letter:1:P-EM-007:wecom"
    requested = parse_event(encode(example("notice.requested"))).data
    assert isinstance(requested, NoticeRequested)
    assert requested.delivery_key("wecom") == delivered.delivery_key()


def test_models_are_frozen() -> None:
    data = parse_event(encode(example("hazard.progress"))).data
    assert isinstance(data, DataModel)
    with pytest.raises(ValueError, match="frozen"):
        data.percent = 5  # type: ignore[attr-defined]
