"""What the chaos run's stand-ins took, and the failures they made."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    """One message a provider took: its delivery key (Feishu: the request's uuid), the
    channel, and when (time.time())."""

    key: str
    channel: str
    at: float


@dataclass
class Inbox:
    """Everything the stand-ins took, and the failures they made."""

    received: list[Received] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
