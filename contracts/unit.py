"""Data model of `unit.upserted` (contract v1): a unit's registry record and its contacts."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from contracts.common import (
    EMAIL_PATTERN,
    MOBILE_PATTERN,
    REFUSES_CONTROLS,
    DataModel,
    Id,
    Text,
)

UNIT_UPSERTED = "unit.upserted"

Mobile = Annotated[str, StringConstraints(pattern=MOBILE_PATTERN), REFUSES_CONTROLS]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN), REFUSES_CONTROLS]


class Person(DataModel):
    """A contact person and the addresses duban may use to reach them."""

    id: Id = Field(description="Person id (directory id, used as recipient and in acks).")
    name: Text | None = Field(default=None, description="Full name, e.g. 王建国.")
    mobile: Mobile | None = Field(default=None, description="Mobile phone number for SMS.")
    email: Email | None = Field(default=None, description="E-mail address.")
    wecom_userid: Id | None = Field(default=None, description="WeCom (企业微信) userid.")
    dingtalk_userid: Id | None = Field(default=None, description="DingTalk (钉钉) userid.")
    feishu_open_id: Id | None = Field(default=None, description="Feishu/Lark (飞书) open_id.")


class Contacts(DataModel):
    """The unit's responsibility chain as far as the registry knows it."""

    principal: Person | None = Field(default=None, description="Principal (主要负责人).")
    controller: Person | None = Field(default=None, description="Actual controller (实际控制人).")
    safety_officer: Person | None = Field(
        default=None, description="Safety officer (安全管理人员)."
    )
    five_package: Annotated[tuple[Person, ...], Field(max_length=5)] = Field(
        default=(),
        description="Five-on-one package (五包一) for fire-safety key units: at most 5 persons.",
    )


class UnitUpserted(DataModel):
    """`unit.upserted`: the full current registry record of a unit (replaces the previous one)."""

    EVENT_TYPE: ClassVar[str] = UNIT_UPSERTED
    SUBJECT_FIELD: ClassVar[str] = "unit_id"

    unit_id: Id = Field(description="Unit id; must equal the envelope `subject`.")
    name: Text = Field(description="Unit name, e.g. 白土镇某化工有限公司.")
    industry: Id = Field(
        description="Industry code, e.g. 'hazardous_chemicals'; unknown codes are accepted."
    )
    region: Id = Field(description="Region code, e.g. 'baitu'.")
    high_risk: bool | None = Field(
        default=None,
        description=(
            "Whether the unit is in a high-risk industry (高危行业); null or absent: derived "
            "from the industry."
        ),
    )
    contacts: Contacts = Field(
        default_factory=Contacts,
        description="Responsibility chain of the unit; absent means no contacts known.",
    )
