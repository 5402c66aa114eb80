"""Do the SMS templates in channels.yaml ask only for parameters the templates render?"""

from __future__ import annotations

from typing import get_args

from contracts.notice import EscalationAction, NoticeKind
from services.config.channels import SmsBase
from services.config.load import Config
from services.notifier.render import TemplateError, TemplateSet
from services.sms.replycodes import REPLY_CODE_PARAM

# Every (kind, action) a notice can have.
VARIANTS: tuple[tuple[str, str | None], ...] = (
    *((k, None) for k in get_args(NoticeKind) if k != "escalation"),
    *(("escalation", a) for a in get_args(EscalationAction)),
    ("duty", "letter"),
)


def served_by(key: str, keys: set[str]) -> list[tuple[str, str | None]]:
    """The (kind, action) pairs a channels.yaml template key is used for."""
    chosen = []
    for kind, action in VARIANTS:
        lookup = [f"{kind}.{action}", kind, "default"] if action else [kind, "default"]
        if next((k for k in lookup if k in keys), None) == key:
            chosen.append((kind, action))
    return chosen


def sms_template_problems(config: Config, templates: TemplateSet) -> list[str]:
    """One line per SMS parameter no template renders, and per notice kind without template."""
    problems = []
    for name, entry in config.channels.channels.items():
        if not isinstance(entry, SmsBase):
            continue
        keys = set(entry.templates)
        for key, template in entry.templates.items():
            for kind, action in served_by(key, keys):
                problems += _missing(name, key, template.params, templates, kind, action)
        uncovered = [f"{k}.{a}" if a else k for k, a in VARIANTS if not _covered(k, a, keys)]
        if uncovered:
            problems.append(
                f"channels.yaml: channel '{name}' has no SMS template for "
                f"{', '.join(uncovered)} (those notices skip to the next channel)"
            )
    return problems


def _covered(kind: str, action: str | None, keys: set[str]) -> bool:
    return bool({kind, "default", f"{kind}.{action}"} & keys)


def _missing(
    channel: str,
    key: str,
    params: tuple[str, ...],
    templates: TemplateSet,
    kind: str,
    action: str | None,
) -> list[str]:
    try:
        names = templates.sms_param_names(kind, action)
    except TemplateError as e:
        return [f"channels.yaml: channels.{channel}.templates.{key}: {e}"]
    variant = f"{kind}.{action}" if action else kind
    return [
        f"channels.yaml: channels.{channel}.templates.{key}: parameter '{p}' is not rendered "
        f"for {variant} (its *.sms.yaml gives: {', '.join(names)})"
        for p in params
        if p not in names and p != REPLY_CODE_PARAM  # the notifier fills in the code
    ]
