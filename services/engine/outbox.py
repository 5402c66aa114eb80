"""Commit, then publish: the notices a commit decided are kept in the outbox by that very
commit, published once it succeeded, and cleared once the broker has them.

A commit refused by compare-and-set (another replica, or a timer, changed the entity
first: a close-out, say) publishes nothing: its notices were decided on a stale state,
and are decided again on the fresh one. An engine that dies after the commit and before
the broker confirmed leaves its notices in the outbox; the sweep
(services.engine.outboxsweep) publishes them. A notice may so be published twice, never
lost; its event id and delivery keys make the repeat a no-op downstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from services.core.evaluate import PlannedNotice
from services.core.noticeevent import box
from services.store.ports import EntityStore, Sink, Write


class Outbox:
    """Commits with their notices, and publishes those of the commits that succeeded."""

    def __init__(self, store: EntityStore, sink: Sink) -> None:
        self.store = store
        self.sink = sink

    async def commit(
        self, writes: Sequence[Write], notices: Sequence[Sequence[PlannedNotice]]
    ) -> set[int]:
        """Commit each write with its notices (``notices[i]`` for ``writes[i]``) in the
        outbox; publish those of the writes committed; the indexes that conflicted."""
        boxes = [[box(n) for n in decided] for decided in notices]
        boxed = [replace(w, outbox=tuple(b)) for w, b in zip(writes, boxes, strict=True)]
        conflicts = set(await self.store.commit(boxed))
        kept = [i for i in range(len(writes)) if i not in conflicts]
        published = [n for i in kept for n in notices[i]]
        if published:
            encoded = [b for i in kept for b in boxes[i]]
            await self.sink.notices(published, encoded)
            await self.store.outbox_done([b.event_id for b in encoded])
        return conflicts
