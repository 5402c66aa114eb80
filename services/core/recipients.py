"""Roles along the responsibility chain, resolved to people for one hazard, unit or department."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.core.directory import Department, DirectoryIndex, Person
from services.core.people import merged
from services.core.policy import Role
from services.core.state import HazardState, UnitInfo

# Unit-side roles: a fire-safety key unit's five-on-one package (五包一) joins all of them.
_UNIT_SIDE = frozenset({"responsible", "principal", "controller", "safety_officer"})


@dataclass(frozen=True)
class Recipient:
    """A person to notify and the role they are notified in."""

    person: Person
    role: str


@dataclass(frozen=True)
class Subject:
    """What recipient resolution needs to know of a hazard, a unit or a department."""

    id: str
    industry: str = ""
    region: str = ""
    supervising_department: str | None = None
    responsible: tuple[str, ...] = ()
    listed_by: str | None = None
    owner_kind: str | None = None  # a task's owner: department, unit or person


def subject_of(hazard: HazardState, unit_info: UnitInfo | None = None) -> Subject:
    """The resolution view of a hazard, or of a task (`unit_info`: a unit owner's data)."""
    if hazard.kind == "task":
        return _task_subject(hazard, unit_info)
    unit = hazard.unit
    return Subject(
        id=hazard.hazard_id,
        industry=unit.industry if unit else "",
        region=unit.region if unit else "",
        supervising_department=hazard.supervising_department,
        responsible=hazard.responsible,
        listed_by=hazard.listed_by,
    )


def _task_subject(task: HazardState, unit: UnitInfo | None) -> Subject:
    """A task's owner placed in the chain: a department owner is the supervising
    department; a person owner the responsible person; a unit owner brings its industry
    and region (its department, committee office and leader)."""
    owner = task.owner_id or ""
    return Subject(
        id=task.hazard_id,
        industry=(unit.industry or "") if unit and task.owner_kind == "unit" else "",
        region=(unit.region or "") if unit and task.owner_kind == "unit" else "",
        supervising_department=owner if task.owner_kind == "department" else None,
        responsible=(owner,) if task.owner_kind == "person" and owner else (),
        listed_by=task.listed_by,
        owner_kind=task.owner_kind,
    )


def owner_role(subject: Subject) -> Role:
    """The chain role the `owner` role stands for: a department owner's duty officers, a
    unit owner's principal, a person owner themself; a hazard's responsible persons."""
    if subject.owner_kind == "department":
        return "department"
    if subject.owner_kind == "unit":
        return "principal"
    return "responsible"


@dataclass
class Resolution:
    """Recipients of one notice, and what ops should be told about gaps in the directory."""

    recipients: list[Recipient] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def department_of(subject: Subject, index: DirectoryIndex) -> Department | None:
    """The supervising department, explicit or by industry (三管三必须)."""
    return index.department_for(subject.supervising_department, subject.industry)


def resolve(
    roles: Iterable[Role], subject: Subject, unit: UnitInfo | None, index: DirectoryIndex
) -> Resolution:
    """People for `roles`; a role resolving to nobody falls back to the committee office.

    A person id is looked up in person.upserted, the unit's contacts and directory.yaml
    (services.core.people); one known to none of them is a warning naming the fallback."""
    result = Resolution(warnings=_unknown_department(subject, index))
    seen: set[str] = set()
    region = subject.region
    for role in roles:
        if role == "owner":
            role = owner_role(subject)
        missing: list[str] = []
        people = _people_for(role, subject, unit, index, missing)
        if (
            not people
            and role in {"department", "department_head"}
            and subject.industry
            and (department_of(subject, index) is None)
        ):
            result.warnings.append(
                f"{subject.id}：行业 '{subject.industry}' 在 directory.yaml 中没有牵头部门，"
                f"由安委办处理（industry '{subject.industry}' has no supervising department "
                "in directory.yaml; the committee office handles it）"
            )
        fallback = "已改发安委办（sent to the committee office instead）"
        if people:
            fallback = (
                f"只发给该身份的其他 {len(people)} 人"
                f"（the role's {len(people)} other recipient(s) are notified）"
            )
        result.warnings += [_unknown(subject, pid, role, fallback) for pid in missing]
        if not people:
            result.warnings.append(
                f"{subject.id}：身份 '{role}' 找不到人，{fallback}"
                f"（role '{role}' resolves to nobody）"
            )
            people = _known(index.committee_office(region), unit, index, [])
            role = "committee_office"
        for person in people:
            if person.id not in seen:
                seen.add(person.id)
                result.recipients.append(Recipient(person, role))
    return result


def _unknown(subject: Subject, person_id: str, role: str, fallback: str) -> str:
    return (
        f"{subject.id}：人员 '{person_id}'（身份 '{role}'）在 person.upserted、单位联系人和 "
        f"directory.yaml 中都找不到，{fallback}（person '{person_id}' ({role}) is known to "
        "no person.upserted, unit contact or directory.yaml entry）"
    )


def _unknown_department(subject: Subject, index: DirectoryIndex) -> list[str]:
    """An explicit supervising department the directory does not know (it is not used:
    the industry's lead department is), named with what is done instead."""
    explicit = subject.supervising_department
    if not explicit or explicit in index.departments:
        return []
    lead = index.department_for(None, subject.industry)
    instead = f"按行业改由“{lead.name}”（{lead.id}）负责" if lead else "由安委办处理"
    return [
        f"{subject.id}：主管部门 '{explicit}'（supervising_department）不在 directory.yaml 的 "
        f"departments 中，{instead}（unknown supervising_department '{explicit}'）"
    ]


def person_of(person_id: str, unit: UnitInfo | None, index: DirectoryIndex) -> Person | None:
    """Everything known of one person id: person.upserted, then the unit's contacts, then
    directory.yaml, field by field (services.core.people)."""
    return merged(
        (index.known.get(person_id), _unit_people(unit).get(person_id), index.people.get(person_id))
    )


def _people_for(
    role: Role,
    subject: Subject,
    unit: UnitInfo | None,
    index: DirectoryIndex,
    missing: list[str],
) -> list[Person]:
    people = _direct(role, subject, unit, index, missing)
    if role in _UNIT_SIDE and unit is not None:
        people += [_completed(p, index) for p in unit.five_package]
    return people


def _direct(
    role: Role,
    subject: Subject,
    unit: UnitInfo | None,
    index: DirectoryIndex,
    missing: list[str],
) -> list[Person]:
    region = subject.region
    department = department_of(subject, index)
    if role == "responsible":
        return _known(subject.responsible, unit, index, missing)
    if role in {"principal", "controller", "safety_officer"}:
        contact = getattr(unit, role) if unit else None
        return [_completed(contact, index)] if contact else []
    if role == "five_package":
        return [_completed(p, index) for p in unit.five_package] if unit else []
    if role == "department":
        if department is None:
            return []
        officers = department.duty_officers or tuple(filter(None, [department.head]))
        return _known(officers, unit, index, missing)
    if role == "department_head":
        return _known(
            [department.head] if department and department.head else [], unit, index, missing
        )
    if role == "committee_office":
        return _known(index.committee_office(region), unit, index, missing)
    if role == "leader":
        return _known(index.leaders(region, department), unit, index, missing)
    if role == "authority":
        authority = subject.listed_by
        ids = index.directory.authorities.get(authority, ()) if authority else ()
        return _known(ids, unit, index, missing)
    raise ValueError(f"unknown role {role}")


def _completed(contact: Person, index: DirectoryIndex) -> Person:
    """A unit contact with what person.upserted and directory.yaml add to it."""
    pid = contact.id
    return merged((index.known.get(pid), contact, index.people.get(pid))) or contact


def _known(
    ids: Iterable[str], unit: UnitInfo | None, index: DirectoryIndex, missing: list[str]
) -> list[Person]:
    contacts = _unit_people(unit)
    found = []
    for pid in ids:
        person = merged((index.known.get(pid), contacts.get(pid), index.people.get(pid)))
        if person is None:
            missing.append(pid)
        else:
            found.append(person)
    return found


def _unit_people(unit: UnitInfo | None) -> dict[str, Person]:
    if unit is None:
        return {}
    named = [unit.principal, unit.controller, unit.safety_officer, *unit.five_package]
    return {p.id: p for p in named if p is not None}
