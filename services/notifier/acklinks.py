"""Acknowledgement links in messages: signed with DUBAN_ACK_SECRET, valid for 30 days."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

from contracts.notice import NoticeRequested
from services.acktoken import AckClaim, AckDetails, sign
from services.clock import Clock
from services.notifier.templating.catalog import GROUP_ROLE
from services.settings import Settings

log = logging.getLogger("duban.notifier")
LINK_TTL_S = 30 * 86400


@dataclass(frozen=True)
class AckLinks:
    """Makes the link a recipient clicks to acknowledge a notice."""

    secret: bytes | None
    base_url: str
    clock: Clock
    ttl_s: int = LINK_TTL_S

    @classmethod
    def from_env(cls, settings: Settings, clock: Clock) -> AckLinks:
        """Links signed with DUBAN_ACK_SECRET, as the settings read it at start; without it,
        messages carry no link."""
        secret = settings.ack_secret
        if secret is None:
            log.warning("DUBAN_ACK_SECRET is unset: messages carry no acknowledgement link")
            return cls(None, settings.ack_base_url, clock)
        return cls(secret.get_secret_value().encode(), settings.ack_base_url, clock)

    def url_for(self, notice: NoticeRequested) -> str | None:
        """The acknowledgement link of a notice for its recipient; None without a secret,
        and None for a group's post (anyone in the group could acknowledge with it)."""
        if self.secret is None or notice.recipient.role == GROUP_ROLE:
            return None
        expires = int(self.clock.now().timestamp()) + self.ttl_s
        details = AckDetails.of(notice.kind, notice.action, notice.facts)  # shown on the page
        claim = AckClaim(notice.notice_id, notice.recipient.person_id, expires, details)
        token = sign(self.secret, claim)
        return f"{self.base_url.rstrip('/')}/ack?t={quote(token)}"
