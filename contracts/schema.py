"""JSON Schema (draft 2020-12) of every v1 event type: pure functions returning dicts/text."""

from __future__ import annotations

import json
from typing import Any

from contracts.registry import ENVELOPE_MODELS, EVENT_TYPES, INBOUND_TYPES

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URL = "https://duban.example/schemas/v1/"


def schema_filename(event_type: str) -> str:
    """File name of the schema of `event_type`, e.g. 'hazard.reported.json'."""
    return f"{event_type}.json"


def build_schema(event_type: str) -> dict[str, Any]:
    """Return the JSON Schema of a whole CloudEvent of `event_type` (envelope + typed data)."""
    model = ENVELOPE_MODELS[event_type]
    subject_field = EVENT_TYPES[event_type].SUBJECT_FIELD
    data_doc = (EVENT_TYPES[event_type].__doc__ or "").strip()
    direction = "published to duban" if event_type in INBOUND_TYPES else "published by duban"
    schema = model.model_json_schema(mode="validation")
    schema.update(
        {
            "$schema": SCHEMA_DIALECT,
            "$id": SCHEMA_BASE_URL + schema_filename(event_type),
            "title": f"duban contract v1: {event_type}",
            "description": (
                f"A complete CloudEvents 1.0 message (JSON structured mode) of type "
                f"'{event_type}', {direction}. {data_doc} The Kafka message key is `subject`."
            ),
        }
    )
    schema["properties"]["subject"]["description"] = (
        f"Must equal data.{subject_field}. Also the Kafka message key."
    )
    return schema


def build_all_schemas() -> dict[str, dict[str, Any]]:
    """Return the schema of every event type, by type, sorted by type."""
    return {event_type: build_schema(event_type) for event_type in sorted(EVENT_TYPES)}


def render_schema(schema: dict[str, Any]) -> str:
    """Deterministic text of a schema file: 2-space indent, sorted keys, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
