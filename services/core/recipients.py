"""Roles along the responsibility chain, resolved to people for one hazard."""

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


@dataclass
class Resolution:
    """Recipients of one notice, and what ops should be told about gaps in the directory."""

    recipients: list[Recipient] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def department_of(hazard: HazardState, index: DirectoryIndex) -> Department | None:
    """The hazard's supervising department, explicit or by industry (三管三必须)."""
    industry = hazard.unit.industry if hazard.unit else ""
    return index.department_for(hazard.supervising_department, industry)


def resolve(
    roles: Iterable[Role], hazard: HazardState, unit: UnitInfo | None, index: DirectoryIndex
) -> Resolution:
    """People for `roles`; a role resolving to nobody falls back to the committee office."""
    result = Resolution()
    seen: set[str] = set()
    region = hazard.unit.region if hazard.unit else ""
    for role in roles:
        people = _people_for(role, hazard, unit, index, result.warnings)
        if not people:
            result.warnings.append(
                f"hazard {hazard.hazard_id}: role '{role}' resolves to nobody; "
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
    hazard: HazardState,
    unit: UnitInfo | None,
    index: DirectoryIndex,
    warnings: list[str],
) -> list[Person]:
    people = _direct(role, hazard, unit, index, warnings)
    if role in _UNIT_SIDE and unit is not None:
        people += list(unit.five_package)
    return people


def _direct(
    role: Role,
    hazard: HazardState,
    unit: UnitInfo | None,
    index: DirectoryIndex,
    warnings: list[str],
) -> list[Person]:
    region = hazard.unit.region if hazard.unit else ""
    department = department_of(hazard, index)
    if role == "responsible":
        return _known(hazard.responsible, unit, index, warnings)
    if role in {"principal", "controller", "safety_officer"}:
        contact = getattr(unit, role) if unit else None
        return [contact] if contact else []
    if role == "five_package":
        return list(unit.five_package) if unit else []
    if role == "department":
        ids = department.duty_officers or (department.head,) if department else ()
        return _known([i for i in ids if i], unit, index, warnings)
    if role == "department_head":
        return _known(
            [department.head] if department and department.head else [], unit, index, warnings
        )
    if role == "committee_office":
        return _known(index.committee_office(region), unit, index, warnings)
    if role == "leader":
        return _known(index.leaders(region, department), unit, index, warnings)
    if role == "authority":
        authority = hazard.listed_by
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
