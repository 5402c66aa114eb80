"""The AsyncAPI 3 document (contracts/asyncapi.yaml): fresh, valid, and complete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema
from jsonschema import Draft202012Validator

from contracts import EVENT_TYPES, INBOUND_TYPES, OUTBOUND_TYPES
from contracts.topics import DEFAULT_TOPICS
from tools import export_asyncapi
from tools.export_asyncapi import DEAD_LETTER, build_document, merge_contract, render_document

EXAMPLES_DIR = Path(export_asyncapi.EXAMPLES_DIR)


def sent_on(topics: list[str]) -> list[str]:
    """Topics as test parameters."""
    return list(topics)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document as the apps and contracts say it should be (built once)."""
    with pytest.MonkeyPatch.context() as patch:  # as the autouse fixture does, module-wide
        for name in list(os.environ):
            if name.startswith("DUBAN_") and not name.startswith("DUBAN_STACK_"):
                patch.delenv(name)
        return build_document()


def operations(document: dict[str, Any], action: str) -> dict[str, set[str]]:
    """Topic -> names of the messages duban `action`s ("send" or "receive") on it."""
    found: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        channel = resolve(document, operation["channel"]["$ref"])
        names = {ref["$ref"].rsplit("/", 1)[-1] for ref in operation["messages"]}
        found.setdefault(channel["address"], set()).update(names)
    return found


def resolve(document: dict[str, Any], ref: str) -> Any:
    """The value a local `#/...` JSON pointer names."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def test_document_is_fresh(document: dict[str, Any]) -> None:
    path = export_asyncapi.DEFAULT_OUT
    assert path.is_file(), "contracts/asyncapi.yaml is missing; run `make asyncapi`"
    assert path.read_text(encoding="utf-8") == render_document(document), (
        "contracts/asyncapi.yaml is stale; run `make asyncapi` (python tools/export_asyncapi.py)"
    )


def test_check_exits_1_while_the_file_is_missing_or_stale(
    document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_asyncapi, "build_document", lambda: document)
    out = tmp_path / "asyncapi.yaml"
    assert export_asyncapi.main(["--check", "--out", str(out)]) == 1
    out.write_text(render_document(document).replace("3.0.0", "2.6.0"), encoding="utf-8")
    assert export_asyncapi.main(["--check", "--out", str(out)]) == 1
    assert export_asyncapi.main(["--out", str(out)]) == 0
    assert export_asyncapi.main(["--check", "--out", str(out)]) == 0


def test_rendering_is_deterministic(document: dict[str, Any]) -> None:
    assert render_document(document) == render_document(json.loads(json.dumps(document)))


def test_is_an_asyncapi_3_document_faststream_reads(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    committed = yaml.safe_load(export_asyncapi.DEFAULT_OUT.read_text(encoding="utf-8"))
    parsed = ApplicationSchema.model_validate(committed)
    assert set(parsed.channels) == set(document["channels"])


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in references(document):
        assert resolve(document, ref) is not None, ref


@pytest.mark.parametrize("event_type", sorted(INBOUND_TYPES))
def test_inbound_type_is_received_on_its_topic(document: dict[str, Any], event_type: str) -> None:
    received = operations(document, "receive")
    assert event_type in received.get(DEFAULT_TOPICS.for_type(event_type), set())


@pytest.mark.parametrize(
    "topic", sent_on(sorted({DEFAULT_TOPICS.for_type(t) for t in OUTBOUND_TYPES}))
)
def test_outbound_types_are_sent_on_their_topic(document: dict[str, Any], topic: str) -> None:
    expected = {t for t in OUTBOUND_TYPES if DEFAULT_TOPICS.for_type(t) == topic}
    assert operations(document, "send").get(topic, set()) == expected


@pytest.mark.parametrize("topic", sent_on([DEFAULT_TOPICS.dlq_events, DEFAULT_TOPICS.dlq_notices]))
def test_dead_letters_are_sent_on_their_topic(document: dict[str, Any], topic: str) -> None:
    assert DEAD_LETTER in operations(document, "send").get(topic, set())


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_example_matches_its_message_payload(document: dict[str, Any], event_type: str) -> None:
    message = document["components"]["messages"][event_type]
    payload_ref = message["payload"]["$ref"]
    # The payload's pointers are the document's: validate with the document as the root.
    validator = Draft202012Validator({"$ref": payload_ref, **document})
    example = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    validator.validate(example)
    assert message["examples"][0]["payload"] == example
    wrong = {**example, "type": "hazard.unknown"}
    assert not validator.is_valid(wrong)


def test_no_pointer_into_a_json_schema_file_remains(document: dict[str, Any]) -> None:
    assert not [ref for ref in references(document) if "$defs" in ref]
    schemas = document["components"]["schemas"].values()
    assert not [s for s in schemas if "$id" in s or "$schema" in s]


def test_a_topic_outside_the_contract_is_refused() -> None:
    raw = {
        "channels": {"renamed:OnEvents": {"address": "renamed", "messages": {}}},
        "operations": {},
    }
    with pytest.raises(ValueError, match="'renamed'"):
        merge_contract(raw, {"messages": {}, "schemas": {}})
