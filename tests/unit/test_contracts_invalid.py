"""Contract v1: invalid messages raise InvalidEvent with a reason naming the field."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import contracts
from contracts import (
    ENVELOPE_MODELS,
    EVENT_TYPES,
    INBOUND_TYPES,
    OUTBOUND_TYPES,
    InvalidEvent,
    Person,
    parse_event,
)
from contracts.common import ID_PATTERN, PATTERN_MESSAGES, pattern_message

CONTRACTS_DIR = Path(contracts.__file__).resolve().parent
ALL_TYPES = sorted(EVENT_TYPES)
DELETE = object()
ENVELOPE_REQUIRED = ("specversion", "id", "source", "type", "time", "subject", "data")
NAIVE = "2026-05-01T10:00:00"
PERSON = {"id": "P-9", "name": "某人"}


def example(event_type: str) -> dict[str, Any]:
    text = (CONTRACTS_DIR / "examples" / f"{event_type}.json").read_text(encoding="utf-8")
    return copy.deepcopy(json.loads(text))


def mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set, or with DELETE remove, the value at dotted `path` (list items by number)."""
    parts = path.split(".")
    target: Any = doc
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last: Any = int(parts[-1]) if isinstance(target, list) else parts[-1]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


@dataclass(frozen=True)
class Case:
    event_type: str
    changes: tuple[tuple[str, Any], ...]
    reason: str
    schema_rejects: bool = True  # False: a rule JSON Schema cannot express

    @property
    def id(self) -> str:
        what = ",".join(
            f"{p}={'DEL' if v is DELETE else json.dumps(v)[:20]}" for p, v in self.changes
        )
        return f"{self.event_type}:{what}"

    def document(self) -> dict[str, Any]:
        doc = example(self.event_type)
        for path, value in self.changes:
            mutate(doc, path, value)
        return doc


def case(event_type: str, path: str, value: Any, reason: str, schema: bool = True) -> Case:
    return Case(event_type, ((path, value),), reason, schema)


def _generated_cases() -> list[Case]:
    cases: list[Case] = []
    for event_type, model in sorted(EVENT_TYPES.items()):
        for name, field in model.model_fields.items():
            if field.is_required():
                cases.append(
                    case(event_type, f"data.{name}", DELETE, f"data.{name}: Field required")
                )
        for attr in ENVELOPE_REQUIRED:
            cases.append(case(event_type, attr, DELETE, f"{attr}: Field required"))
        cases += [
            case(event_type, "data.colour", "red", "data.colour: Extra inputs are not permitted"),
            case(event_type, "data", [1], "data: Input should be an object"),
            case(event_type, "data", "x", "data: Input should be an object"),
            case(event_type, "time", NAIVE, "time: Input should be an RFC 3339 date-time"),
            case(event_type, "time", 1777600000, "time: Input should be an RFC 3339 date-time"),
            case(
                event_type,
                "subject",
                "WRONG",
                f"subject: 'WRONG' does not match data.{model.SUBJECT_FIELD}",
                schema=False,
            ),
        ]
        doc = example(event_type)
        for name, value in doc["data"].items():
            if name.endswith("_at") and isinstance(value, str):
                reason = f"data.{name}: Input should be an RFC 3339 date-time with offset"
                cases.append(case(event_type, f"data.{name}", NAIVE, reason))
    return cases


HAND_WRITTEN = [
    # envelope
    case("hazard.closed", "specversion", "0.3", "specversion: Input should be '1.0'"),
    case("hazard.closed", "datacontenttype", "text/xml", "datacontenttype: Input should be"),
    case("hazard.closed", "source", "urn:has space", "source: String should match pattern"),
    case("hazard.closed", "id", "", "id: String should have at least 1 character"),
    case("hazard.closed", "id", " e1", "id: Input should be a non-empty id"),
    case("hazard.closed", "subject", 42, "subject: Input should be a valid string"),
    case("hazard.closed", "Foo", "x", "unknown attribute 'Foo'"),
    case("hazard.closed", "data_base64", "eyJ9", "unknown attribute 'data_base64'"),
    case("hazard.closed", "waytoolongextensionname", "x", "unknown attribute"),
    case("hazard.closed", "myext", {"a": 1}, "myext: CloudEvents extension attribute values"),
    case("hazard.closed", "myext", None, "myext: CloudEvents extension attribute values"),
    case("hazard.closed", "myext", 1.5, "myext: CloudEvents extension attribute values"),
    case("hazard.closed", "type", "hazard.foo", "unknown type 'hazard.foo'"),
    case("hazard.closed", "type", "", "unknown type ''"),
    case("hazard.closed", "time", "2026-05-01T10:00Z", "time: Input should be an RFC 3339"),
    case(
        "hazard.closed", "time", "2026-05-01T25:00:00Z", "time: Input should be an RFC 3339", False
    ),
    # hazard.reported
    case(
        "hazard.reported", "data.level", "big", "data.level: Input should be 'major' or 'general'"
    ),
    case(
        "hazard.reported", "data.found_by", "phone", "data.found_by: Input should be 'self_check'"
    ),
    case("hazard.reported", "data.unit.industry", DELETE, "data.unit.industry: Field required"),
    case("hazard.reported", "data.unit.id", DELETE, "data.unit.id: Field required"),
    case("hazard.reported", "data.unit.region", DELETE, "data.unit.region: Field required"),
    case("hazard.reported", "data.unit.size", 3, "data.unit.size: Extra inputs are not permitted"),
    case("hazard.reported", "data.unit", "U-1", "data.unit: Input should be an object"),
    case("hazard.reported", "data.title", "   ", "data.title: Input should not be blank"),
    case("hazard.reported", "data.title", 7, "data.title: Input should be a valid string"),
    case("hazard.reported", "data.responsible", "P1", "data.responsible: Input should be a valid"),
    case("hazard.reported", "data.responsible", [""], "data.responsible[0]: String should have"),
    case("hazard.reported", "data.responsible", ["P1", 2], "data.responsible[1]: Input should be"),
    case("hazard.reported", "data.deadline", NAIVE, "data.deadline: Input should be an RFC 3339"),
    case(
        "hazard.reported",
        "data.deadline",
        "2026-02-30",
        "data.deadline: Input should be a valid date",
        False,
    ),
    case(
        "hazard.reported",
        "data.deadline",
        "30/04/2026",
        "data.deadline: Input should be an RFC 3339",
    ),
    case(
        "hazard.reported", "data.deadline", 20260430, "data.deadline: Input should be an RFC 3339"
    ),
    case(
        "hazard.reported",
        "data.found_at",
        "2026-03-02",
        "data.found_at: Input should be an RFC 3339",
    ),
    # hazard.updated
    case(
        "hazard.updated",
        "data",
        {"hazard_id": "HZ-2026-0317", "reason": "nothing"},
        "data: at least one of title, level, deadline, responsible, supervising_department",
    ),
    case(
        "hazard.updated",
        "data",
        {"hazard_id": "HZ-2026-0317", "title": None, "level": None},
        "data: at least one of title",
    ),
    case(
        "hazard.updated", "data.level", "minor", "data.level: Input should be 'major' or 'general'"
    ),
    # hazard.progress
    case(
        "hazard.progress",
        "data.percent",
        101,
        "data.percent: Input should be less than or equal to 100",
    ),
    case(
        "hazard.progress",
        "data.percent",
        -1,
        "data.percent: Input should be greater than or equal to 0",
    ),
    case("hazard.progress", "data.percent", 50.5, "data.percent: Input should be a valid integer"),
    case("hazard.progress", "data.percent", "50", "data.percent: Input should be a valid integer"),
    case("hazard.progress", "data.percent", True, "data.percent: Input should be a valid integer"),
    # other hazard types
    case(
        "hazard.rectified", "data.rectified_at", "soon", "data.rectified_at: Input should be an RFC"
    ),
    case("hazard.closed", "data.closed_by", "", "data.closed_by: String should have at least 1"),
    case("hazard.reopened", "data.reason", "", "data.reason: String should have at least 1"),
    case("hazard.reopened", "data.deadline", "2026-5-31", "data.deadline: Input should be an RFC"),
    case(
        "hazard.cancelled", "data.hazard_id", None, "data.hazard_id: Input should be a valid string"
    ),
    case(
        "hazard.supervision_listed",
        "data.authority",
        "village",
        "data.authority: Input should be 'town', 'county', 'city' or 'province'",
    ),
    # unit.upserted
    case(
        "unit.upserted",
        "data.contacts.five_package",
        [PERSON] * 6,
        "data.contacts.five_package: Tuple should have at most 5 items",
    ),
    case(
        "unit.upserted",
        "data.contacts.principal.id",
        DELETE,
        "data.contacts.principal.id: Field required",
    ),
    case(
        "unit.upserted",
        "data.contacts.five_package.2.id",
        DELETE,
        "data.contacts.five_package[2].id",
    ),
    case(
        "unit.upserted",
        "data.contacts.principal.email",
        "wang at x",
        "data.contacts.principal.email",
    ),
    case(
        "unit.upserted",
        "data.contacts.controller.mobile",
        "call me",
        "data.contacts.controller.mobile",
    ),
    case("unit.upserted", "data.contacts.deputy", PERSON, "data.contacts.deputy: Extra inputs"),
    case(
        "unit.upserted", "data.high_risk", "yes", "data.high_risk: Input should be a valid boolean"
    ),
    case("unit.upserted", "data.name", "", "data.name: String should have at least 1 character"),
    # duty.fulfilled
    case("duty.fulfilled", "data.duty", "", "data.duty: String should have at least 1 character"),
    case("duty.fulfilled", "data.fulfilled_at", NAIVE, "data.fulfilled_at: Input should be an RFC"),
    # notice.acknowledged
    case(
        "notice.acknowledged", "data.person_id", 7, "data.person_id: Input should be a valid string"
    ),
    # notice.requested
    case("notice.requested", "data.kind", "sms", "data.kind: Input should be 'report', 'reminder'"),
    case("notice.requested", "data.action", "fine", "data.action: Input should be 'letter'"),
    case("notice.requested", "data.occurrence", -1, "data.occurrence: Input should be greater"),
    case(
        "notice.requested", "data.channels", [], "data.channels: Tuple should have at least 1 item"
    ),
    case(
        "notice.requested",
        "data.channels.0.channel",
        DELETE,
        "data.channels[0].channel: Field required",
    ),
    case(
        "notice.requested",
        "data.channels.1.not_before",
        NAIVE,
        "data.channels[1].not_before: Input",
    ),
    case("notice.requested", "data.recipient.role", DELETE, "data.recipient.role: Field required"),
    case("notice.requested", "data.facts", [1], "data.facts: Input should be an object"),
    case(
        "notice.requested",
        "data.action",
        None,
        "data: action is required for kind 'escalation'",
        False,
    ),
    case(
        "notice.requested",
        "data.kind",
        "reminder",
        "data: action must be null for kind 'reminder'",
        False,
    ),
    case(
        "notice.requested",
        "data.channels.1.channel",
        "wecom",
        "data: channels: each channel may be listed only once",
        False,
    ),
    # receipts
    case(
        "notice.delivered",
        "data.attempts",
        0,
        "data.attempts: Input should be greater than or equal to 1",
    ),
    case(
        "notice.failed", "data.retryable", "no", "data.retryable: Input should be a valid boolean"
    ),
    case("notice.failed", "data.final", 1, "data.final: Input should be a valid boolean"),
]

CASES = _generated_cases() + HAND_WRITTEN


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_invalid_event_is_rejected_with_a_reason(bad: Case) -> None:
    raw = json.dumps(bad.document(), ensure_ascii=False).encode()
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    reason = info.value.reason
    assert bad.reason in reason
    assert str(info.value) == reason
    assert "\n" not in reason
    assert len(reason) < 400


@pytest.mark.parametrize("bad", [c for c in CASES if c.schema_rejects], ids=lambda c: c.id)
def test_json_schema_rejects_it_too(bad: Case) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    path = CONTRACTS_DIR / "schemas" / f"{bad.event_type}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad.document())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON: "),
        (b"", "not JSON: "),
        (b"\xff\xfe{}", "not JSON: "),
        (b'{"a": 1', "not JSON: "),
        (b"[]", "Input should be a JSON object"),
        (b"null", "Input should be a JSON object"),
        (b'"hazard.reported"', "Input should be a JSON object"),
        (b"{}", "type: Field required"),
        (b'{"type": "hazard.foo"}', "unknown type 'hazard.foo'"),
        (b'{"type": "notice.requested"}', "specversion: Field required"),
    ],
)
def test_unparseable_messages(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason.startswith(reason)


def test_invalid_event_carries_readable_envelope_attributes() -> None:
    doc = mutate(example("hazard.progress"), "data.percent", 101)
    with pytest.raises(InvalidEvent) as info:
        parse_event(json.dumps(doc).encode())
    err = info.value
    assert (err.event_type, err.event_id, err.source, err.subject) == (
        "hazard.progress",
        doc["id"],
        doc["source"],
        "HZ-2026-0317",
    )
    with pytest.raises(InvalidEvent) as info:
        parse_event(b"garbage")
    assert info.value.event_type is None and info.value.subject is None


def test_many_errors_are_summarised() -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(b'{"type": "hazard.reported"}')
    assert info.value.reason.endswith("more errors)")
    assert info.value.reason.count(";") == 2


def test_types_limits_the_accepted_types() -> None:
    raw = json.dumps(example("notice.requested"), ensure_ascii=False).encode()
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw, types=INBOUND_TYPES)
    assert info.value.reason == "type 'notice.requested' is not accepted here"
    assert info.value.event_type == "notice.requested"
    assert parse_event(raw, types=OUTBOUND_TYPES).type == "notice.requested"


def test_invalid_event_is_a_value_error() -> None:
    assert issubclass(InvalidEvent, ValueError)


# --- control characters -----------------------------------------------------------------------

NUL = "\u0000"
#: (event type, dotted path, a value with a forbidden character). Each is refused.
CONTROL_CASES = [
    ("hazard.reported", "data.title", f"储罐{NUL}区"),
    ("hazard.reported", "data.title", "储罐区\n报警器失效"),
    ("hazard.reported", "data.title", "储罐区\u2028报警器失效"),
    ("hazard.reported", "data.title", "储罐区\t报警器失效"),
    ("hazard.reported", "data.unit.name", f"白土镇{NUL}"),
    ("hazard.reported", "data.unit.name", "白土镇\r\n鑫源化工"),
    ("hazard.reported", "data.hazard_id", f"HZ{NUL}1"),
    ("hazard.reported", "data.unit.id", f"U{NUL}"),
    ("hazard.reported", "data.responsible.0", f"P{NUL}1"),
    ("hazard.reported", "data.supervising_department", "dept\u0085x"),
    ("hazard.reported", "data.description", f"三台{NUL}报警器"),
    ("hazard.reported", "data.description", "三台\x1b[31m报警器"),
    ("hazard.reported", "data.description", "三台\x7f报警器"),
    ("hazard.reported", "data.description", "三台\x9b报警器"),
    ("hazard.progress", "data.note", f"已更换{NUL}"),
    ("hazard.rectified", "data.note", "已整改\x0c"),
    ("hazard.updated", "data.reason", f"改{NUL}"),
    ("hazard.cancelled", "data.reason", f"误报{NUL}"),
    ("hazard.closed", "id", f"e{NUL}1"),
    ("hazard.closed", "subject", f"HZ-2026-0317{NUL}"),
    ("hazard.closed", "source", f"urn:baitu{NUL}"),
    ("hazard.closed", "traceparent", f"00-{NUL}"),
    ("unit.upserted", "data.name", f"鑫源{NUL}化工"),
    ("unit.upserted", "data.contacts.principal.name", "王\n建国"),
    ("unit.upserted", "data.contacts.principal.email", "wang@x.example\r\nBcc: all@x.example"),
    ("unit.upserted", "data.contacts.principal.mobile", f"13800138000{NUL}"),
    ("notice.requested", "data.recipient.name", "张\n磊"),
    ("notice.requested", "data.recipient.email", f"zhanglei@x.example{NUL}"),
    ("notice.requested", "data.facts.title", f"甲类{NUL}储罐区"),
    ("notice.requested", "data.facts.department", "应急\x07管理办公室"),
    ("notice.failed", "data.reason", f"550 {NUL}"),
    # not a trailing line break: Python's jsonschema lets `$` match before one
    ("notice.delivered", "data.provider_message_id", "m-1\nm-2"),
]


def _control_id(item: tuple[str, str, str]) -> str:
    event_type, path, value = item
    return f"{event_type}:{path}={value.encode('unicode_escape').decode()}"


def _readable_path(path: str) -> str:
    return re.sub(r"\.(\d+)", r"[\1]", path)


@pytest.mark.parametrize("item", CONTROL_CASES, ids=_control_id)
def test_a_control_character_is_refused_with_a_clear_reason(item: tuple[str, str, str]) -> None:
    event_type, path, value = item
    raw = json.dumps(mutate(example(event_type), path, value)).encode()  # escaped: \u0000
    assert b"\\u" in raw or b"\\n" in raw or b"\\t" in raw or b"\\r" in raw or b"\\f" in raw
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    reason = info.value.reason
    where = _readable_path(path).replace("data.facts.", "data.facts: ")
    assert reason.startswith(f"{where}: ")
    assert re.search("control character|line break|控制字符|换行符", reason)
    assert reason.isprintable()  # nothing of the input's control characters leaks into it


@pytest.mark.parametrize("item", [c for c in CONTROL_CASES if "facts" not in c[1]], ids=_control_id)
def test_json_schema_refuses_control_characters_too(item: tuple[str, str, str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    event_type, path, value = item
    schema = json.loads((CONTRACTS_DIR / "schemas" / f"{event_type}.json").read_text())
    doc = mutate(example(event_type), path, value)
    assert not jsonschema.Draft202012Validator(schema).is_valid(doc)


@pytest.mark.parametrize(
    ("event_type", "path", "value"),
    [
        ("hazard.reported", "data.description", "第一行\n第二行\r\n\t缩进"),
        ("hazard.progress", "data.note", "已更换2台\n剩余1台"),
        ("hazard.cancelled", "data.reason", "重复上报\n见 HZ-2026-0316"),
        ("hazard.reported", "data.title", "甲类储罐区　报警器失效"),  # ideographic space
        ("notice.requested", "data.facts.title", "多行\n说明"),
    ],
)
def test_line_breaks_are_fine_in_free_text(event_type: str, path: str, value: str) -> None:
    parse_event(json.dumps(mutate(example(event_type), path, value)).encode())


def test_a_raw_control_character_is_not_json() -> None:
    raw = json.dumps(example("hazard.reported"), ensure_ascii=False).encode()
    raw = raw.replace("甲类".encode(), "甲\x00类".encode())
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason.startswith("not JSON: control character")
    assert info.value.reason.isprintable()


def test_the_wording_names_the_character_by_code_point() -> None:
    """What contracts.registry shows once it passes the input to `pattern_message`."""
    doc = mutate(example("hazard.reported"), "data.title", f"储罐{NUL}区")
    doc = mutate(doc, "data.description", "三台\x7f报警器")
    doc = mutate(doc, "data.unit.name", "白土镇\n鑫源")
    with pytest.raises(ValidationError) as info:
        ENVELOPE_MODELS["hazard.reported"].model_validate_json(json.dumps(doc), strict=True)
    wording = {
        ".".join(map(str, e["loc"])): pattern_message(e["ctx"]["pattern"], e["input"])
        for e in info.value.errors()
    }
    assert wording == {
        "data.title": "含有控制字符 U+0000，不允许 (control character U+0000 is not allowed)",
        "data.description": "含有控制字符 U+007F，不允许 (control character U+007F is not allowed)",
        "data.unit.name": "含有换行符 U+000A，此处不允许 (line break U+000A is not allowed here)",
    }
    assert pattern_message(ID_PATTERN, " HZ-1") == PATTERN_MESSAGES[ID_PATTERN]


# --- no input in errors -----------------------------------------------------------------------

MOBILE = "13800138000"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.contacts.principal.mobile", f"{MOBILE}x"),
        ("data.contacts.principal.email", f"{MOBILE} at qq.com"),
        ("data.contacts.principal.id", f" {MOBILE}"),
        ("data.contacts.principal.name", f"{MOBILE}\n"),
        ("data.contacts.principal.wecom_userid", [MOBILE]),
    ],
)
def test_errors_never_print_the_input(path: str, value: Any) -> None:
    doc = mutate(example("unit.upserted"), path, value)
    with pytest.raises(ValidationError) as info:
        ENVELOPE_MODELS["unit.upserted"].model_validate_json(json.dumps(doc), strict=True)
    assert MOBILE not in str(info.value)
    assert MOBILE not in repr(info.value)
    with pytest.raises(ValidationError) as direct:
        Person.model_validate(mutate({"id": "P-1"}, path.rsplit(".", 1)[1], value))
    assert MOBILE not in str(direct.value)
    with pytest.raises(InvalidEvent) as invalid:
        parse_event(json.dumps(doc).encode())
    assert MOBILE not in invalid.value.reason
