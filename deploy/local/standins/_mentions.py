"""What the robot stand-ins check of @-mentions, as the platforms document them.

Each robot stand-in adds to every accepted record:

* ``"_mentioned"``: the ids the platform would actually notify, in order (userids,
  mobiles or open_ids; ``"@all"`` / ``"all"`` when everyone would be);
* ``"_not_mentioned"``: mention entries of the right type whose value does not have
  the documented form (a mobile that is not one, an open_id that is not one, a DingTalk
  id without its ``@`` in the text): the platform takes the message but notifies no one
  for them.

A mention field of the wrong type (not a list of strings, say) is refused like the
platform refuses a malformed parameter.
"""

from __future__ import annotations

import re
from typing import Any, Final

#: Mainland mobile (WeCom ``mentioned_mobile_list``).
CN_MOBILE: Final = re.compile(r"1[3-9]\d{9}")
#: DingTalk ``atMobiles``: a mobile, optionally with a ``+<country>-`` prefix.
ANY_MOBILE: Final = re.compile(r"(?:\+\d{1,4}-)?\d{5,15}")
#: WeCom userid: 1-64 letters, digits and ``_-@.``, starting with a letter or digit.
WECOM_USERID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-@.]{0,63}")
#: Feishu open_id (``ou_...``); custom bots @ in cards by open_id only.
OPEN_ID: Final = re.compile(r"ou_[A-Za-z0-9]+")
#: Feishu ``<at user_id="...">`` in text: an open_id or a user_id.
FEISHU_USER: Final = re.compile(r"ou_[A-Za-z0-9]+|[A-Za-z0-9_]+")
#: ``<@userid>`` in WeCom text / markdown content.
WECOM_TAG: Final = re.compile(r"<@([^<>\s]*)>")
#: ``<at user_id="...">name</at>`` in Feishu text.
FEISHU_TEXT_AT: Final = re.compile(r"<at\s+user_id=\"([^\"]*)\"\s*>")
#: ``<at id=...></at>`` in Feishu card markdown.
FEISHU_CARD_AT: Final = re.compile(r"<at\s+id=([^<>\s]*)\s*>")


def string_list(value: object) -> list[str] | None:
    """``value`` if it is a list of strings (``None`` when absent), else raise TypeError."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("not a list of strings")
    return value


class Mentions:
    """Collects what a message @-mentions: the ids that count and those that do not."""

    def __init__(self) -> None:
        self.mentioned: list[str] = []
        self.not_mentioned: list[str] = []

    def take(self, value: str, form: re.Pattern[str], *, everyone: str | None = None) -> None:
        """Count ``value`` if it has ``form`` (or is the platform's ``everyone`` word)."""
        if value == everyone or form.fullmatch(value):
            if value not in self.mentioned:
                self.mentioned.append(value)
        else:
            self.not_mentioned.append(value)

    def record(self, data: dict[str, Any]) -> dict[str, Any]:
        data["_mentioned"] = self.mentioned
        data["_not_mentioned"] = self.not_mentioned
        return data
