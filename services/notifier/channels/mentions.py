"""Whom a group robot's post @-mentions, and by which id each platform can reach them.

A group notice (recipient role ``group``) lists everyone the notice goes to in
``facts["mentions"]``; each becomes a :class:`Mention`.  A platform can only @ someone
by an id it knows:

* WeCom robot: userid (``mentioned_list`` or ``<@userid>``), else mobile
  (``mentioned_mobile_list``);
* DingTalk robot: userid (``at.atUserIds``), else mobile (``at.atMobiles``), with
  ``@<id>`` in the text;
* Feishu bot: open_id only (``<at ...>`` in the message).

An id that does not have the platform's form is left out rather than sent to be
refused: the post still names the person in its text.  Each person is mentioned once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

_MOBILE: Final = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")
#: WeCom userid: 1-64 letters, digits and ``_-@.``, starting with a letter or digit.
WECOM_USERID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-@.]{0,63}")
#: DingTalk userid: letters, digits and ``_-.`` (it is written after ``@`` in the text).
DINGTALK_USERID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]{0,63}")
#: Feishu open_id: ``ou_`` and letters or digits.
FEISHU_OPEN_ID: Final = re.compile(r"ou_[A-Za-z0-9]{1,64}")
_FIELDS: Final = (
    "person_id",
    "name",
    "mobile",
    "wecom_userid",
    "dingtalk_userid",
    "feishu_open_id",
)


@dataclass(frozen=True)
class Mention:
    """A person a group post @-mentions, with the ids the platforms may know them by."""

    person_id: str | None = None
    name: str | None = None
    mobile: str | None = None
    wecom_userid: str | None = None
    dingtalk_userid: str | None = None
    feishu_open_id: str | None = None


class Mentioning(Protocol):
    """What of a message the mentions come from (an OutboundMessage)."""

    @property
    def mentions(self) -> tuple[Mention, ...]: ...

    @property
    def at_mobiles(self) -> tuple[str, ...]: ...


def mentions_from_facts(value: object) -> tuple[Mention, ...]:
    """The people ``facts["mentions"]`` lists; anything that is not an object is skipped
    and a value that is not text counts as missing."""
    if not isinstance(value, list | tuple):
        return ()
    found = []
    for item in value:
        if isinstance(item, Mapping):
            found.append(Mention(**{f: _text(item.get(f)) for f in _FIELDS}))
    return tuple(found)


def mainland_mobile(raw: str | None) -> str | None:
    """The 11-digit mainland mobile in ``raw`` (``+86``, spaces and dashes tolerated)."""
    if not raw:
        return None
    match = _MOBILE.fullmatch(re.sub(r"[\s-]", "", raw))
    return match.group(1) if match else None


@dataclass(frozen=True)
class Targets:
    """Whom to @ on a platform that knows people by userid or by mobile."""

    userids: tuple[str, ...] = ()
    mobiles: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.userids or self.mobiles)


def wecom_targets(message: Mentioning) -> Targets:
    """WeCom: each person by userid when they have one, else by mobile."""
    return _by_userid_or_mobile(_everyone(message), lambda m: m.wecom_userid, WECOM_USERID)


def dingtalk_targets(message: Mentioning) -> Targets:
    """DingTalk: each person by userid when they have one, else by mobile."""
    return _by_userid_or_mobile(_everyone(message), lambda m: m.dingtalk_userid, DINGTALK_USERID)


def feishu_targets(message: Mentioning) -> tuple[Mention, ...]:
    """Feishu: the people with an open_id (a custom bot can @ by nothing else), once each."""
    found: dict[str, Mention] = {}
    for mention in _everyone(message):
        open_id = mention.feishu_open_id
        if open_id and FEISHU_OPEN_ID.fullmatch(open_id):
            found.setdefault(open_id, mention)
    return tuple(found.values())


def _everyone(message: Mentioning) -> list[Mention]:
    """The message's mentions, then any ``at_mobiles`` (an escalation's recipient)."""
    return [*message.mentions, *(Mention(mobile=m) for m in message.at_mobiles)]


def _by_userid_or_mobile(
    mentions: Iterable[Mention], userid_of: Callable[[Mention], str | None], form: re.Pattern[str]
) -> Targets:
    userids: dict[str, None] = {}
    mobiles: dict[str, None] = {}
    covered: set[str] = set()  # mobiles of people mentioned by userid
    for mention in mentions:
        userid = userid_of(mention)
        mobile = mainland_mobile(mention.mobile)
        if userid and form.fullmatch(userid):
            userids[userid] = None
            covered.add(mobile or "")
        elif mobile:
            mobiles[mobile] = None
    return Targets(tuple(userids), tuple(m for m in mobiles if m not in covered))


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
