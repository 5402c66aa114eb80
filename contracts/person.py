"""Data model of `person.upserted` (contract v1): a person and the addresses to reach them."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.common import DataModel, Id, Text
from contracts.unit import Email, Mobile

PERSON_UPSERTED = "person.upserted"


class PersonUpserted(DataModel):
    """`person.upserted`: the full current record of a person any hazard, task or unit names
    (a workshop head, a village grid officer, a department official); replaces the previous
    one. An address left out here is taken from the unit's contacts or directory.yaml."""

    EVENT_TYPE: ClassVar[str] = PERSON_UPSERTED
    SUBJECT_FIELD: ClassVar[str] = "person_id"

    person_id: Id = Field(
        description=(
            "Person id, as named in `responsible`, unit contacts or directory.yaml; must "
            "equal the envelope `subject`."
        )
    )
    name: Text = Field(description="Full name, e.g. 王建国.")
    mobile: Mobile | None = Field(default=None, description="Mobile phone number for SMS.")
    email: Email | None = Field(default=None, description="E-mail address.")
    wecom_userid: Id | None = Field(default=None, description="WeCom (企业微信) userid.")
    dingtalk_userid: Id | None = Field(default=None, description="DingTalk (钉钉) userid.")
    feishu_open_id: Id | None = Field(default=None, description="Feishu/Lark (飞书) open_id.")
    unit_id: Id | None = Field(
        default=None, description="Unit the person works for (same id space as unit_id)."
    )
    department_id: Id | None = Field(
        default=None, description="Department the person belongs to (directory.yaml id)."
    )
    title: Text | None = Field(default=None, description="Job title, e.g. 车间主任, 网格员.")
