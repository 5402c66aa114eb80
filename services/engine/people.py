"""The engine's people work: person.upserted registered, and the people a batch names
handed to the pure core (through the directory index, as `unit` goes beside it)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from services.core.evaluate import Rules
from services.core.people import PersonRecord
from services.core.state import HazardState, UnitInfo
from services.inbound import Routed
from services.store.people import PersonBook
from services.store.ports import EntityStore

log = logging.getLogger("duban.engine")


class PeopleWork:
    """Registers people and looks up the ones hazards, units and the directory name."""

    def __init__(self, rules: Rules, store: EntityStore) -> None:
        self.rules = rules
        self.book = PersonBook(store)
        # directory.yaml's people may be updated by person.upserted too.
        self._directory_ids = tuple(rules.index.people)

    async def registered(self, by_entity: Mapping[str, Sequence[Routed]]) -> list[PersonRecord]:
        """Store the person.upserted records of a batch; stale ones are left out."""
        records = [
            r.person
            for key, items in by_entity.items()
            if key.startswith("person:")
            for r in items
            if r.person is not None
        ]
        written = await self.book.upsert(records)
        if len(written) < len(records):
            log.info(
                "%d person.upserted older than the stored record ignored",
                len(records) - len(written),
            )
        return written

    async def rules_for(
        self,
        states: Iterable[HazardState | None],
        pending: Iterable[Sequence[Routed]],
        units: Iterable[UnitInfo],
    ) -> Rules:
        """The rules with every stored person the hazards may address known to the index."""
        ids = named_people(states, pending, units)
        records = await self.book.read([*ids, *self._directory_ids])
        if not records:
            return self.rules
        known = {pid: record.contact for pid, record in records.items()}
        return replace(self.rules, index=self.rules.index.with_people(known))


def named_people(
    states: Iterable[HazardState | None],
    pending: Iterable[Sequence[Routed]],
    units: Iterable[UnitInfo],
) -> list[str]:
    """Person ids named by hazards (as stored, and by their new events) and by units."""
    ids: list[str] = []
    for state in states:
        if state is not None:
            ids += state.responsible
            if state.owner_kind == "person" and state.owner_id:  # a task's owner
                ids.append(state.owner_id)
    for items in pending:
        for item in items:
            named = item.fact.data.get("responsible") if item.fact else None
            if isinstance(named, list | tuple):
                ids += [str(pid) for pid in named]
            owner = item.fact.data.get("owner") if item.fact else None
            if isinstance(owner, dict) and owner.get("kind") == "person":
                ids.append(str(owner["id"]))
    for unit in units:
        contacts = [unit.principal, unit.controller, unit.safety_officer, *unit.five_package]
        ids += [p.id for p in contacts if p is not None]
    return list(dict.fromkeys(ids))
