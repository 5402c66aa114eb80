"""The example config's SMS templates as the local stand-ins know them.

An SMS provider stores each approved template's text and is sent only the template id and
the parameters; so are the stand-ins, which take the texts from the reference lines
(``# 参考短信模板：…${unit}…``) of ``deploy/config/example/templates/*.sms.yaml`` and the
template ids and parameter orders from ``channels.yaml``. The inbox page shows an SMS as
its recipient reads it by filling the same text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"
SMS_CHANNELS = ("aliyun_sms", "tencent_sms", "sms_gateway")
SIGN_NAME = "安全督办"  # the stand-ins' approved signature (FakeAliyunSms' default)
_REFERENCE = re.compile(r"^#\s*参考短信模板[:：]\s*(.+?)\s*$", re.MULTILINE)
_VARIABLE = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class SmsText:
    """One approved template: the notice it is for, its parameters in order, its text."""

    key: str  # "report", "escalation.letter", ...
    params: tuple[str, ...]
    text: str  # with ${name} variables, as Aliyun writes them

    def fill(self, values: Mapping[str, str] | Sequence[str]) -> str:
        """The text the recipient reads: by name (Aliyun, gateway) or in order (Tencent)."""
        named = (
            values if isinstance(values, Mapping) else dict(zip(self.params, values, strict=False))
        )
        return _VARIABLE.sub(lambda m: str(named.get(m.group(1), m.group(0))), self.text)


def sms_texts(folder: Path = EXAMPLE) -> dict[str, dict[str, SmsText]]:
    """Channel name → template id → its text, for every SMS channel of channels.yaml."""
    channels = _channels(folder)
    found: dict[str, dict[str, SmsText]] = {}
    for name in SMS_CHANNELS:
        templates = (channels.get(name) or {}).get("templates") or {}
        found[name] = {
            str(entry["template"]): _text(folder, key, tuple(entry.get("params") or ()))
            for key, entry in templates.items()
        }
    return found


def _channels(folder: Path) -> dict[str, Any]:
    text = (folder / "channels.yaml").read_text(encoding="utf-8")
    data = YAML(typ="safe", pure=True).load(text) or {}
    channels = data.get("channels") or {}
    return channels if isinstance(channels, dict) else {}


def _text(folder: Path, key: str, params: tuple[str, ...]) -> SmsText:
    """The reference text for `key` (its own file, else the first of its family, e.g.
    escalation.letter for escalation), cut to what the parameters can fill; parameters it
    lacks are appended, a reply code as the request to reply with it."""
    text = _reference(folder, key) or ""
    if not set(_VARIABLE.findall(text)) <= set(params):
        text = ""
    missing = [p for p in params if "${" + p + "}" not in text and p != "code"]
    if missing:
        text += f"督办通知（{key}）：" + "，".join("${" + p + "}" for p in missing) + "。"
    if "code" in params and "${code}" not in text:
        text += "回复${code}确认收到。"
    return SmsText(key, params, text)


def _reference(folder: Path, key: str) -> str | None:
    templates = folder / "templates"
    candidates = [templates / f"{key}.sms.yaml", *sorted(templates.glob(f"{key}.*.sms.yaml"))]
    for path in candidates:
        if path.exists() and (match := _REFERENCE.search(path.read_text(encoding="utf-8"))):
            return match.group(1)
    return None
