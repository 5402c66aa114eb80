"""Data model of `duty.fulfilled` (contract v1): a periodic duty was done."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.common import DataModel, Id, Timestamp

DUTY_FULFILLED = "duty.fulfilled"


class DutyFulfilled(DataModel):
    """`duty.fulfilled`: a unit or department fulfilled a periodic duty (e.g. an inspection)."""

    EVENT_TYPE: ClassVar[str] = DUTY_FULFILLED
    SUBJECT_FIELD: ClassVar[str] = "subject_id"

    subject_id: Id = Field(
        description="Unit or department id that fulfilled the duty; equals the envelope `subject`."
    )
    duty: Id = Field(
        description=(
            "Duty code as configured, e.g. 'principal_inspection' (主要负责人带队检查), "
            "'evacuation_drill' (应急疏散演练), 'weekly_report' (周上报)."
        )
    )
    fulfilled_at: Timestamp = Field(
        description="When the duty was fulfilled; counts for the period containing this instant."
    )
