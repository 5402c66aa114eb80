"""People from person.upserted, kept as versioned documents in any EntityStore.

One document per person id (services.store.keys.person_key), so the Redis store and its
in-memory twin keep people exactly as they keep units: read in one round trip, written
with compare-and-set. A stale upsert (older event time than the stored one) never
overwrites a newer record, whatever order replicas and retries commit in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.core.people import PersonRecord
from services.store.keys import person_key
from services.store.ports import EntityStore, Stored, Write

MAX_ATTEMPTS = 8
CACHE_SIZE = 10_000


class PersonBook:
    """Reads and upserts person records through an EntityStore."""

    def __init__(self, store: EntityStore, cache_size: int = CACHE_SIZE) -> None:
        self.store = store
        # Parsed records keyed by the stored JSON itself: an entry can never be stale.
        self._parsed: dict[str, PersonRecord] = {}
        self._cache_size = cache_size

    async def read(self, person_ids: Iterable[str]) -> dict[str, PersonRecord]:
        """The stored records of `person_ids` (absent ones left out), by id."""
        keys = [person_key(p) for p in dict.fromkeys(person_ids)]
        if not keys:
            return {}
        records = (self._parse(doc) for doc in await self.store.read(keys))
        return {r.person_id: r for r in records if r is not None}

    async def upsert(self, records: Sequence[PersonRecord]) -> list[PersonRecord]:
        """Store each person's newest record; return those written (stale ones are not)."""
        latest: dict[str, PersonRecord] = {}
        for record in records:
            if record.supersedes(latest.get(record.person_id)):
                latest[record.person_id] = record
        written: list[PersonRecord] = []
        for _ in range(MAX_ATTEMPTS):
            if not latest:
                return written
            stored = await self.store.read([person_key(p) for p in latest])
            fresh = [
                (doc, record)
                for doc, record in zip(stored, latest.values(), strict=True)
                if record.supersedes(self._parse(doc))
            ]
            writes = [Write(doc.key, doc.version, r.model_dump_json()) for doc, r in fresh]
            conflicts = set(await self.store.commit(writes))
            written += [r for i, (_, r) in enumerate(fresh) if i not in conflicts]
            retry = {writes[i].key for i in conflicts}
            latest = {p: r for p, r in latest.items() if person_key(p) in retry}
        raise RuntimeError(f"person documents still conflicting: {sorted(latest)[:5]}")

    def _parse(self, doc: Stored) -> PersonRecord | None:
        if doc.json is None:
            return None
        record = self._parsed.get(doc.json)
        if record is None:
            if len(self._parsed) >= self._cache_size:
                self._parsed.clear()
            record = self._parsed[doc.json] = PersonRecord.model_validate_json(doc.json)
        return record
