"""Roles along the responsibility chain, resolved to people for one hazard, unit or department."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.core.directory import Department, DirectoryIndex, Person
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


def subject_of(hazard: HazardState) -> Subject:
    """The resolution view of a hazard."""
    unit = hazard.unit
    return Subject(
        id=hazard.hazard_id,
        industry=unit.industry if unit else "",
        region=unit.region if unit else "",
        supervising_department=hazard.supervising_department,
        responsible=hazard.responsible,
        listed_by=hazard.listed_by,
    )


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
    """People for `roles`; a role resolving to nobody falls back to the committee office."""
    result = Resolution()
    seen: set[str] = set()
    region = subject.region
    for role in roles:
        people = _people_for(role, subject, unit, index, result.warnings)
        if (
            not people
            and role in {"department", "department_head"}
            and subject.industry
            and (department_of(subject, index) is None)
        ):
            result.warnings.append(
                f"{subject.id}: industry '{subject.industry}' has no supervising department "
                "in directory.yaml; the committee office handles it"
            )
        if not people:
            result.warnings.append(
                f"{subject.id}: role '{role}' resolves to nobody; "
                "sent to the committee office instead"
            )
            people = _known(index.committee_office(region), unit, index, result.warnings)
            role = "committee_office"
        for person in people:
            if person.id not in seen:
                seen.add(person.id)
                result.recipients.append(Recipient(person, role))
    return result


def _people_for(
    role: Role,
    subject: Subject,
    unit: UnitInfo | None,
    index: DirectoryIndex,
    warnings: list[str],
) -> list[Person]:
    people = _direct(role, subject, unit, index, warnings)
    if role in _UNIT_SIDE and unit is not None:
        people += list(unit.five_package)
    return people


def _direct(
    role: Role,
    subject: Subject,
    unit: UnitInfo | None,
    index: DirectoryIndex,
    warnings: list[str],
) -> list[Person]:
    region = subject.region
    department = department_of(subject, index)
    if role == "responsible":
        return _known(subject.responsible, unit, index, warnings)
    if role in {"principal", "controller", "safety_officer"}:
        contact = getattr(unit, role) if unit else None
        return [contact] if contact else []
    if role == "five_package":
        return list(unit.five_package) if unit else []
    if role == "department":
        if department is None:
            return []
        officers = department.duty_officers or tuple(filter(None, [department.head]))
        return _known(officers, unit, index, warnings)
    if role == "department_head":
        return _known(
            [department.head] if department and department.head else [], unit, index, warnings
        )
    if role == "committee_office":
        return _known(index.committee_office(region), unit, index, warnings)
    if role == "leader":
        return _known(index.leaders(region, department), unit, index, warnings)
    if role == "authority":
        authority = subject.listed_by
        ids = index.directory.authorities.get(authority, ()) if authority else ()
        return _known(ids, unit, index, warnings)
    raise ValueError(f"unknown role {role}")


def _known(
    ids: Iterable[str], unit: UnitInfo | None, index: DirectoryIndex, warnings: list[str]
) -> list[Person]:
    contacts = _unit_people(unit)
    found = []
    for pid in ids:
        person = index.people.get(pid) or contacts.get(pid)
        if person is None:
            warnings.append(f"person '{pid}' is in no directory entry or unit contact")
        else:
            found.append(person)
    return found


def _unit_people(unit: UnitInfo | None) -> dict[str, Person]:
    if unit is None:
        return {}
    named = [unit.principal, unit.controller, unit.safety_officer, *unit.five_package]
    return {p.id: p for p in named if p is not None}
