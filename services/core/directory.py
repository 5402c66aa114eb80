"""Who is who: people, departments, the committee office, leaders and authorities; and
the Chinese label of every code a message shows (labels.yaml)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from services.core.policy import ID_PATTERN, Strict

AUTHORITIES = ("town", "county", "city", "province")


class Person(Strict):
    """Someone duban can notify, with the addresses each channel needs."""

    id: str = Field(min_length=1, description="Stable person id used in events and rules.")
    name: str | None = Field(None, description="Display name, e.g. 张三.")
    mobile: str | None = Field(None, description="Mainland mobile number for SMS and @mentions.")
    email: str | None = Field(None, description="Email address.")
    wecom_userid: str | None = Field(None, description="WeCom user id.")
    dingtalk_userid: str | None = Field(None, description="DingTalk user id.")
    feishu_open_id: str | None = Field(None, description="Feishu open_id.")
    channels: tuple[str, ...] | None = Field(
        None, description="This person's channel order; default: channels.yaml routing."
    )


class Department(Strict):
    """A supervising department (行业主管部门) and the industries it leads (三管三必须)."""

    id: str = Field(pattern=ID_PATTERN, description="Department id, as in supervising_department.")
    name: str = Field(description="Display name, e.g. 应急管理办公室.")
    industries: tuple[str, ...] = Field((), description="Industry codes this department leads.")
    head: str | None = Field(None, description="Person id of the department head.")
    duty_officers: tuple[str, ...] = Field(
        (), description="Person ids who receive the department's notices."
    )
    leader: str | None = Field(None, description="Person id of the leader in charge (分管领导).")


class Region(Strict):
    """A region (town, village, district) with its own committee office or leaders."""

    name: str | None = Field(None, description="Display name, e.g. 白土镇.")
    committee_office: tuple[str, ...] = Field((), description="Overrides the default office.")
    leaders: tuple[str, ...] = Field((), description="Overrides the default leaders.")


class Directory(Strict):
    """The whole of directory.yaml."""

    people: tuple[Person, ...] = Field(description="Everyone named anywhere else in this file.")
    committee_office: tuple[str, ...] = Field(
        min_length=1, description="Person ids of the safety committee office (安委办)."
    )
    leaders: tuple[str, ...] = Field((), description="Default leaders in charge (分管领导).")
    authorities: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Listing authority (town/county/city/province) → person ids.",
    )
    departments: tuple[Department, ...] = Field((), description="Supervising departments.")
    regions: dict[str, Region] = Field(default_factory=dict, description="Per-region overrides.")
    high_risk_industries: tuple[str, ...] = Field(
        ("non_coal_mine", "tailings_pond", "hazardous_chemicals", "fireworks", "metal_smelting"),
        description="Industries treated as high-risk unless unit.upserted says otherwise.",
    )

    @model_validator(mode="after")
    def _references_exist(self) -> Directory:
        # Each problem starts with "@<key path>: " so the loader can point at its line.
        known = {p.id for p in self.people}
        problems = [
            f"@{where}: names unknown person '{pid}'"
            for where, pid in self._person_references()
            if pid not in known
        ]
        problems += [
            f"@authorities.{a}: '{a}' is not one of {', '.join(AUTHORITIES)}"
            for a in self.authorities
            if a not in AUTHORITIES
        ]
        claimed: dict[str, str] = {}
        for i, dept in enumerate(self.departments):
            for industry in dept.industries:
                if industry in claimed:
                    problems.append(
                        f"@departments.{i}.industries: industry '{industry}' is led by both "
                        f"'{claimed[industry]}' and '{dept.id}'"
                    )
                claimed[industry] = dept.id
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _person_references(self) -> list[tuple[str, str]]:
        refs = [(f"committee_office.{i}", p) for i, p in enumerate(self.committee_office)]
        refs += [(f"leaders.{i}", p) for i, p in enumerate(self.leaders)]
        refs += [
            (f"authorities.{a}.{i}", p)
            for a, ids in self.authorities.items()
            for i, p in enumerate(ids)
        ]
        for d, dept in enumerate(self.departments):
            named = [("head", dept.head), ("leader", dept.leader)]
            named += [(f"duty_officers.{i}", p) for i, p in enumerate(dept.duty_officers)]
            refs += [(f"departments.{d}.{key}", p) for key, p in named if p]
        for rid, region in self.regions.items():
            for key in ("committee_office", "leaders"):
                ids = getattr(region, key)
                refs += [(f"regions.{rid}.{key}.{i}", p) for i, p in enumerate(ids)]
        return refs


class DirectoryIndex:
    """Look-ups over a Directory, built once per config load."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.people = {p.id: p for p in directory.people}
        self.departments = {d.id: d for d in directory.departments}
        self.department_of_industry = {
            industry: d for d in directory.departments for industry in d.industries
        }
        #: People known from person.upserted events, by id (services.core.people).
        self.known: Mapping[str, Person] = {}

    def with_people(self, known: Mapping[str, Person]) -> DirectoryIndex:
        """This index, with `known` people from person.upserted events added: they win over
        unit contacts and directory.yaml, field by field (services.core.people)."""
        index = copy.copy(self)
        index.known = known
        return index

    def department_for(self, explicit: str | None, industry: str) -> Department | None:
        """The supervising department: the event's own, else the industry's lead department."""
        if explicit and explicit in self.departments:
            return self.departments[explicit]
        return self.department_of_industry.get(industry)

    def committee_office(self, region: str) -> tuple[str, ...]:
        """Committee office person ids for a region (regional override first)."""
        override = self.directory.regions.get(region)
        if override and override.committee_office:
            return override.committee_office
        return self.directory.committee_office

    def leaders(self, region: str, department: Department | None) -> tuple[str, ...]:
        """Leaders in charge: the department's own, else the region's, else the default."""
        if department and department.leader:
            return (department.leader,)
        override = self.directory.regions.get(region)
        if override and override.leaders:
            return override.leaders
        return self.directory.leaders


Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

#: labels.yaml tables: the name of each in the file → the template filter that applies it.
LABEL_TABLES = {
    "roles": "role_label",
    "levels": "level_label",
    "authorities": "authority_label",
    "actions": "action_label",
    "statuses": "status_label",
    "found_by": "found_by_label",
    "duties": "duty_label",
    "industries": "industry_label",
}
#: Tables filled from directory.yaml's names rather than from labels.yaml.
NAME_TABLES = {"departments": "department_label", "regions": "region_label"}


class Office(Strict):
    """The office duban writes for (本级安委会办公室): how letters name and sign it."""

    name: Label = Field(description="Full name, e.g. 白土镇安全生产委员会办公室.")
    short_name: Label | None = Field(None, description="Short name, e.g. 镇安委办.")
    signature: Label | None = Field(
        None, description="The line under a letter (落款); default: the full name."
    )
    phone: Label | None = Field(None, description="Contact phone shown in the footer.")


class Labels(Strict):
    """The whole of labels.yaml: code → Chinese label, one table per kind of code."""

    office: Office | None = Field(None, description="The issuing office.")
    roles: dict[str, Label] = Field(default_factory=dict, description="Recipient roles.")
    levels: dict[str, Label] = Field(default_factory=dict, description="Hazard levels.")
    authorities: dict[str, Label] = Field(
        default_factory=dict, description="Listing authority levels (挂牌督办)."
    )
    actions: dict[str, Label] = Field(default_factory=dict, description="Escalation actions.")
    statuses: dict[str, Label] = Field(default_factory=dict, description="Hazard statuses.")
    found_by: dict[str, Label] = Field(default_factory=dict, description="How hazards are found.")
    duties: dict[str, Label] = Field(default_factory=dict, description="Statutory duties.")
    industries: dict[str, Label] = Field(default_factory=dict, description="Industry codes.")


def label_tables(labels: Labels, directory: Directory | None) -> dict[str, dict[str, str]]:
    """Table name → code → label: labels.yaml's tables plus directory.yaml's names of
    departments (by id) and regions (by code)."""
    tables = {name: dict(getattr(labels, name)) for name in LABEL_TABLES}
    tables["departments"] = {d.id: d.name for d in directory.departments} if directory else {}
    tables["regions"] = (
        {code: r.name for code, r in directory.regions.items() if r.name} if directory else {}
    )
    return tables
