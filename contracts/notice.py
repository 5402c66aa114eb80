"""Notice events (contract v1): inbound `notice.acknowledged`; outbound `notice.requested`,
`notice.delivered`, `notice.reached` and `notice.failed`, which duban publishes for audit
and delivery."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from contracts.common import (
    FREE_TEXT_PATTERN,
    LINE_PATTERN,
    REFUSES_CONTROLS,
    DataModel,
    FreeText,
    Id,
    Line,
    Timestamp,
    describe_character,
    forbidden_character,
)

NOTICE_ACKNOWLEDGED = "notice.acknowledged"
NOTICE_REQUESTED = "notice.requested"
NOTICE_DELIVERED = "notice.delivered"
NOTICE_FAILED = "notice.failed"
NOTICE_REACHED = "notice.reached"

NoticeKind = Literal[
    "report",
    "reminder",
    "escalation",
    "verification",
    "supervision",
    "closure",
    "duty",
    "digest",
    "reopened",
    "deadline_changed",
    "incomplete",
]
"""What a notice is for (see the product spec's notice table): also `reopened` (the hazard
came back after a failed acceptance), `deadline_changed` (a new deadline, to everyone
already notified) and `incomplete` (a major hazard still without a deadline or a
responsible person)."""

EscalationAction = Literal["letter", "circular", "interview", "exposure"]
"""Escalation step: 函告 letter, 通报 circular, 约谈 interview, 曝光 exposure."""

#: Kinds that may carry an `action`; `escalation` must.
KINDS_WITH_ACTION: frozenset[str] = frozenset({"escalation", "duty"})

#: Template variables (`facts` keys) that notices about a hazard carry.
HAZARD_FACT_KEYS: tuple[str, ...] = (
    "hazard_id",
    "title",
    "level",
    "unit_id",
    "unit_name",
    "industry",
    "region",
    "deadline",
    "department",
    "authority",
    "days_left",
    "days_overdue",
    "status",
    "percent",
    "description",
    "found_by",
    "responsible_names",
    "rectified_at",
    "closed_at",
    "next_steps",
)

#: Template variables that notices about a supervised task (督办事项, `task.*`) carry.
TASK_FACT_KEYS: tuple[str, ...] = (
    "subject_kind",
    "task_id",
    "title",
    "description",
    "owner_kind",
    "owner_id",
    "owner",
    "deadline",
    "days_left",
    "days_overdue",
    "assigned_by",
    "reference",
    "authority",
    "status",
    "percent",
    "completed_at",
    "next_steps",
)

#: Further facts of `reopened`, `deadline_changed` and `incomplete` notices.
CHANGE_FACT_KEYS: tuple[str, ...] = ("old_deadline", "reason", "missing")

Occurrence = Annotated[int, Field(ge=0)]
Attempts = Annotated[int, Field(ge=1)]

_NOTICE_ID = "Id of the notice (one decision to notify, shared by all its recipients)."
_OCCURRENCE = "0 for the first sending of the notice, n for its n-th repeat."
_PERSON_ID = "Recipient's person id."
_CHANNEL = "Configured channel name, e.g. 'sms', 'email', 'wecom'."
_ATTEMPTS = "Delivery attempts made on this channel so far (>= 1)."

_SCALARS = (int, float, bool, type(None))


def _first_forbidden(value: Any, path: str) -> tuple[str, str] | None:
    """(path, character) of the first forbidden character in a JSON-like value, else None."""
    if value.__class__ is str:
        char = forbidden_character(value, multi_line=True)
        return None if char is None else (path, char)
    if isinstance(value, dict):
        for key, item in value.items():
            if (char := forbidden_character(str(key))) is not None:
                return (path, char)
            if isinstance(item, _SCALARS) or (item.__class__ is str and item.isprintable()):
                continue  # the common cases, without a call
            sub_path = f"{path}.{key}" if path else str(key)
            if (found := _first_forbidden(item, sub_path)) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := _first_forbidden(item, f"{path}[{index}]")) is not None:
                return found
    return None


def _refuse_controls_in_facts(facts: dict[str, Any]) -> dict[str, Any]:
    found = _first_forbidden(facts, "")
    if found is not None:
        path, char = found
        prefix = f"{path[:60]}: " if path else ""
        raise PydanticCustomError("control_character", prefix + describe_character(char))
    return facts


Facts = Annotated[dict[str, Any], AfterValidator(_refuse_controls_in_facts), REFUSES_CONTROLS]
"""Template variables: keys single-line, string values free text (no control characters)."""

#: What JSON Schema can say about `facts`: single-line keys, free-text string values (nested
#: values are checked by the model only).
_FACTS_SCHEMA: dict[str, Any] = {
    "propertyNames": {"pattern": LINE_PATTERN},
    "additionalProperties": {"pattern": FREE_TEXT_PATTERN},
}


def delivery_key(notice_id: str, occurrence: int, person_id: str, channel: str) -> str:
    """Return the idempotency key of one delivery: notice, occurrence, recipient and channel."""
    return f"{notice_id}:{occurrence}:{person_id}:{channel}"


class NoticeAcknowledged(DataModel):
    """`notice.acknowledged`: a recipient confirmed a notice; stops its repeats to that person."""

    EVENT_TYPE: ClassVar[str] = NOTICE_ACKNOWLEDGED
    SUBJECT_FIELD: ClassVar[str] = "notice_id"

    notice_id: Id = Field(description="Acknowledged notice id; equals the envelope `subject`.")
    person_id: Id = Field(description="Person id of who acknowledged.")
    acknowledged_at: Timestamp = Field(description="When the person acknowledged.")
    channel: Id | None = Field(
        default=None,
        description=(
            "How the acknowledgement came: 'link' (the acknowledgement page), 'sms_reply' (an "
            "SMS reply carrying the notice's code), or another publisher's name; null: not said."
        ),
    )


class Recipient(DataModel):
    """One recipient of a notice, with the addresses known from the directory."""

    person_id: Id = Field(description=_PERSON_ID)
    name: Line | None = Field(default=None, description="Recipient's name, for templates.")
    role: Id = Field(
        description=(
            "Why this person receives the notice: principal, controller, responsible, "
            "department, committee_office, leader, authority, five_package, safety_officer; "
            "`group` for a group robot's post."
        )
    )
    mobile: Line | None = Field(default=None, description="Mobile number for SMS.")
    email: Line | None = Field(default=None, description="E-mail address.")
    wecom_userid: Line | None = Field(default=None, description="WeCom (企业微信) userid.")
    dingtalk_userid: Line | None = Field(default=None, description="DingTalk (钉钉) userid.")
    feishu_open_id: Line | None = Field(default=None, description="Feishu/Lark (飞书) open_id.")


class ChannelPlan(DataModel):
    """One channel to try for a recipient, and the earliest time to use it."""

    channel: Id = Field(description=_CHANNEL)
    not_before: Timestamp | None = Field(
        default=None,
        description="Do not send before this instant (deferred out of quiet hours); null: at once.",
    )


class NoticeRequested(DataModel):
    """`notice.requested`: duban decided to send this notice to this recipient (outbound)."""

    EVENT_TYPE: ClassVar[str] = NOTICE_REQUESTED
    SUBJECT_FIELD: ClassVar[str] = "notice_id"

    notice_id: Id = Field(description=_NOTICE_ID + " Equals the envelope `subject`.")
    occurrence: Occurrence = Field(description=_OCCURRENCE)
    kind: NoticeKind = Field(
        description=(
            "report, reminder, escalation, verification, supervision, closure, duty, digest, "
            "reopened, deadline_changed or incomplete."
        )
    )
    action: EscalationAction | None = Field(
        default=None,
        description=(
            "Escalation step (letter, circular, interview, exposure): required for kind "
            "escalation, optional for duty, null otherwise."
        ),
    )
    subject: Id = Field(description="Hazard, task, unit or department id the notice is about.")
    due_at: Timestamp = Field(description="When the rule wanted the notice sent.")
    recipient: Recipient = Field(description="Who receives it.")
    channels: Annotated[tuple[ChannelPlan, ...], Field(min_length=1)] = Field(
        description="Channels in the order to try (first that delivers wins); at least one."
    )
    facts: Facts = Field(
        default_factory=dict,
        description=(
            "Template variables. Hazard notices carry: "
            + ", ".join(HAZARD_FACT_KEYS)
            + "; task notices (subject_kind 'task') carry: "
            + ", ".join(TASK_FACT_KEYS)
            + "; reopened, deadline_changed and incomplete notices also "
            + ", ".join(CHANGE_FACT_KEYS)
            + "; a group robot's post (recipient role `group`) also `mentions`."
        ),
        json_schema_extra=_FACTS_SCHEMA,
    )

    @model_validator(mode="after")
    def _check_action_and_channels(self) -> Self:
        if self.kind == "escalation" and self.action is None:
            raise ValueError("action is required for kind 'escalation'")
        if self.action is not None and self.kind not in KINDS_WITH_ACTION:
            raise ValueError(f"action must be null for kind {self.kind!r}")
        names = [plan.channel for plan in self.channels]
        if len(set(names)) != len(names):
            raise ValueError("channels: each channel may be listed only once")
        return self

    def delivery_key(self, channel: str) -> str:
        """Return the idempotency key of delivering this notice occurrence on `channel`."""
        return delivery_key(self.notice_id, self.occurrence, self.recipient.person_id, channel)


class _Receipt(DataModel):
    """Fields common to delivery receipts."""

    SUBJECT_FIELD: ClassVar[str] = "notice_id"

    notice_id: Id = Field(description=_NOTICE_ID + " Equals the envelope `subject`.")
    occurrence: Occurrence = Field(description=_OCCURRENCE)
    person_id: Id = Field(description=_PERSON_ID)
    channel: Id = Field(description=_CHANNEL)
    attempts: Attempts = Field(description=_ATTEMPTS)

    def delivery_key(self) -> str:
        """Return the idempotency key of the delivery this receipt is about."""
        return delivery_key(self.notice_id, self.occurrence, self.person_id, self.channel)


class NoticeDelivered(_Receipt):
    """`notice.delivered`: a channel accepted the notice for the recipient (outbound)."""

    EVENT_TYPE: ClassVar[str] = NOTICE_DELIVERED

    delivered_at: Timestamp = Field(description="When the channel accepted the message.")
    provider_message_id: Line | None = Field(
        default=None, description="Message id returned by the provider, if any."
    )


class NoticeFailed(_Receipt):
    """`notice.failed`: a delivery attempt failed (outbound)."""

    EVENT_TYPE: ClassVar[str] = NOTICE_FAILED

    failed_at: Timestamp = Field(description="When the attempt failed.")
    reason: FreeText = Field(description="Why it failed (provider error, no address, ...).")
    retryable: bool = Field(description="Whether retrying the same channel may succeed.")
    final: bool = Field(
        description="True when no further attempt or channel will follow for this delivery."
    )
    after_acceptance: bool = Field(
        default=False,
        description=(
            "True when the provider had accepted the message (see notice.delivered) and then "
            "its delivery report said it did not reach the handset, or no report came in time."
        ),
    )


class NoticeReached(_Receipt):
    """`notice.reached`: the provider reported the notice reached the recipient's handset,
    or (where the platform tells) that the recipient read it (outbound)."""

    EVENT_TYPE: ClassVar[str] = NOTICE_REACHED

    reached_at: Timestamp = Field(description="When it reached the handset, as the provider says.")
    provider_message_id: Line | None = Field(
        default=None, description="The provider's id of the message, as in notice.delivered."
    )
    read: bool | None = Field(
        default=None,
        description="True when the platform reports the recipient read it; null: not reported.",
    )
