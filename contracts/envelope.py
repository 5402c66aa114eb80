"""CloudEvents 1.0 envelope (JSON structured mode) used by every duban event, contract v1."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts.common import (
    LINE_PATTERN,
    SOURCE_PATTERN,
    Id,
    Timestamp,
    describe_character,
    forbidden_character,
)

#: CloudEvents extension attribute names: lowercase ASCII letters and digits, at most 20.
EXTENSION_NAME_PATTERN = r"^[a-z0-9]{1,20}$"
#: Attributes the envelope defines itself (never extensions).
CORE_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"}
)
SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"

_EXTENSION_NAME = re.compile(EXTENSION_NAME_PATTERN)


def _check_extension_value(value: Any) -> Any:
    if isinstance(value, str) and (char := forbidden_character(value)) is not None:
        raise PydanticCustomError("control_character", describe_character(char))
    if isinstance(value, str | bool | int):
        return value
    raise ValueError("CloudEvents extension attribute values must be a string, integer or boolean")


ExtensionValue = Annotated[str | bool | int, BeforeValidator(_check_extension_value)]
"""Value of a CloudEvents extension attribute (JSON string, integer or boolean)."""


def _envelope_schema_extra(schema: dict[str, Any]) -> None:
    """Describe extension attributes in JSON Schema: only [a-z0-9]{1,20} names, scalar values."""
    others = "|".join(sorted(CORE_ATTRIBUTES))
    schema["additionalProperties"] = False
    schema["patternProperties"] = {
        f"^(?!(?:{others})$)[a-z0-9]{{1,20}}$": {
            "description": "CloudEvents extension attribute (ignored by duban).",
            "type": ["string", "integer", "boolean"],
            "pattern": LINE_PATTERN,
        }
    }


DataT = TypeVar("DataT")


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event in JSON structured mode; `data` depends on `type`."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        hide_input_in_errors=True,  # errors must not print mobiles or e-mails
        json_schema_extra=_envelope_schema_extra,
    )
    __pydantic_extra__: dict[str, ExtensionValue] = Field(init=False)

    specversion: Literal["1.0"] = Field(description="CloudEvents specification version: '1.0'.")
    id: Id = Field(
        description=(
            "Event id, unique per `source`. (source, id) is the idempotency key: a repeated "
            "pair is a duplicate and is ignored."
        )
    )
    source: Annotated[str, StringConstraints(min_length=1, pattern=SOURCE_PATTERN)] = Field(
        description=(
            "URI-reference identifying the publishing system, e.g. "
            "'urn:baitu:inspection-app' or 'https://inspect.example.gov.cn'."
        ),
        json_schema_extra={"format": "uri-reference"},
    )
    type: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Event type, e.g. 'hazard.reported'; selects the model of `data`."
    )
    time: Timestamp = Field(
        description=(
            "When the change happened at the source: RFC 3339 with offset "
            "(e.g. 2026-05-01T10:00:00+08:00). Naive times are rejected."
        )
    )
    subject: Id = Field(
        description=(
            "Id of the entity the event is about (hazard, unit, department or notice id); "
            "must equal the id field of `data`. Also the Kafka message key."
        )
    )
    datacontenttype: Literal["application/json"] = Field(
        default="application/json",
        description="Media type of `data`; always 'application/json' (the default).",
    )
    data: DataT = Field(description="Event payload; its schema is selected by `type`.")

    @model_validator(mode="after")
    def _check_extension_names(self) -> Self:
        """Raise ValueError if an extension attribute name breaks the CloudEvents naming rule."""
        for name in self.__pydantic_extra__ or {}:
            if not _EXTENSION_NAME.fullmatch(name):
                raise ValueError(
                    f"unknown attribute {name!r}: CloudEvents extension attribute names must be "
                    "1-20 lowercase ASCII letters or digits"
                )
        return self

    @property
    def extensions(self) -> dict[str, str | bool | int]:
        """Extension attributes carried by this event (a copy)."""
        return dict(self.__pydantic_extra__ or {})
