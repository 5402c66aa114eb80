"""Load and check a config folder: every file strict, every error with file, line and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, TypeVar, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from contracts.common import Authority, FoundBy, Level
from contracts.notice import EscalationAction
from services.config.channels import ChannelsFile
from services.config.positions import ConfigError, Located, Problem, load
from services.core.directory import Directory, DirectoryIndex, Labels
from services.core.duties import DutiesFile
from services.core.evaluate import Rules
from services.core.policy import Policy, Role
from services.core.routing import GROUP_ROBOT_TYPES, family_of
from services.core.state import Status
from services.core.timeline import Timing
from services.core.workcalendar import CalendarOverrides, WorkCalendar

M = TypeVar("M", bound=BaseModel)

LABELS_FILE = "labels.yaml"


@dataclass(frozen=True)
class Config:
    """A checked config folder."""

    folder: Path
    policy: Policy
    directory: Directory
    channels: ChannelsFile
    calendar: CalendarOverrides
    duties: DutiesFile
    labels: Labels = field(default_factory=Labels)

    def rules(self) -> Rules:
        """The compiled form the core decides with."""
        zone = ZoneInfo(self.policy.time_zone)
        overrides = self.calendar.model_copy(update={"time_zone": self.policy.time_zone})
        day_at = _clock(self.policy.day_steps_at) if self.policy.day_steps_at else None
        hours = self.policy.working_hours
        office = (_clock(hours.send_at), _clock(hours.end)) if hours else None
        calendar = WorkCalendar.from_overrides(overrides)
        timing = Timing(self.policy, calendar, zone, day_at, office)
        return Rules(
            timing,
            DirectoryIndex(self.directory),
            self.channels.routing,
            self.channels.types(),
            self.duties,
        )


def load_config(folder: Path) -> Config:
    """Read and check every YAML file in `folder`; raise ConfigError listing all problems."""
    problems: list[Problem] = []
    policy = _model(folder, "policies.yaml", Policy, problems)
    directory = _model(folder, "directory.yaml", Directory, problems)
    channels = _model(folder, "channels.yaml", ChannelsFile, problems)
    calendar = _model(folder, "calendar.yaml", CalendarOverrides, problems, optional=True)
    duties = _model(folder, "duties.yaml", DutiesFile, problems, optional=True)
    labels = _labels(folder, problems)
    if policy and directory and channels:
        problems += _cross_checks(folder, policy, directory, channels)
    if problems or not (policy and directory and channels and calendar and duties and labels):
        raise ConfigError(problems)
    return Config(folder, policy, directory, channels, calendar, duties, labels)


def load_labels(folder: Path) -> tuple[Labels, Directory | None]:
    """labels.yaml and directory.yaml of `folder`, for the names messages show; either
    may be absent (codes are then shown as they are). Raise ConfigError if one is broken."""
    problems: list[Problem] = []
    labels = _labels(folder, problems)
    directory = None
    if (folder / "directory.yaml").exists():
        directory = _model(folder, "directory.yaml", Directory, problems)
    if problems or labels is None:
        raise ConfigError(problems)
    return labels, directory


#: labels.yaml tables whose codes are a closed set (the contract's and the policies').
_CLOSED_CODES: dict[str, tuple[str, ...]] = {
    "roles": get_args(Role),
    "levels": get_args(Level),
    "authorities": get_args(Authority),
    "actions": get_args(EscalationAction),
    "statuses": get_args(Status),
    "found_by": get_args(FoundBy),
}


def _labels(folder: Path, problems: list[Problem]) -> Labels | None:
    """labels.yaml, strict: a label for a code that does not exist (a misspelt role, say)
    would never be shown, so it is an error naming its line."""
    labels = _model(folder, LABELS_FILE, Labels, problems, optional=True)
    if labels is None:
        return None
    found = [
        (
            f"{table}.{code}",
            f"'{code}' 不是已知的代码，可用：{', '.join(codes)}（not a known code）",
        )
        for table, codes in _CLOSED_CODES.items()
        for code in getattr(labels, table)
        if code not in codes
    ]
    problems += [Problem(LABELS_FILE, _line(folder, LABELS_FILE, k), k, m) for k, m in found]
    return None if found else labels


def _model(
    folder: Path, name: str, model: type[M], problems: list[Problem], optional: bool = False
) -> M | None:
    path = folder / name
    if optional and not path.exists():
        return model.model_validate({})
    try:
        located = load(path, name)
        return model.model_validate(located.data if located.data is not None else {})
    except ConfigError as e:
        problems += e.problems
    except ValidationError as e:
        problems += [p for err in e.errors() for p in _problems(located, err)]
    return None


def _problems(located: Located, error: Any) -> list[Problem]:
    """One problem per error; a validator's "@key.path: message" lines each name their key."""
    loc = _clean_loc(located, error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if not message.startswith("@"):
        return [_problem(located, loc, error["type"], message)]
    found = []
    for line in message.splitlines():
        path, _, text = line.removeprefix("@").partition(": ")
        parts = tuple(int(p) if p.isdigit() else p for p in path.split("."))
        found.append(_problem(located, (*loc, *parts), "value_error", text))
    return found


def _problem(located: Located, loc: tuple[Any, ...], kind: str, message: str) -> Problem:
    key = ".".join(str(part) for part in loc)
    if kind == "extra_forbidden":
        message = "unknown key (check the spelling; see the README of the config folder)"
    elif kind == "missing":
        message = "required key is missing"
    return Problem(located.file, located.line_of(loc), key, message)


def _clean_loc(located: Located, raw: tuple[Any, ...]) -> tuple[Any, ...]:
    """The error's key path without pydantic's union tags ("email", "function-after[…]")."""
    loc: tuple[Any, ...] = ()
    for part in raw:
        candidate = (*loc, part)
        if isinstance(part, str) and "[" in part:
            continue
        if part in _UNION_TAGS and candidate not in located.lines:
            continue
        loc = candidate
    return loc


_UNION_TAGS = frozenset(
    {"email", "wecom", "dingtalk", "feishu", "aliyun_sms", "tencent_sms", "sms_gateway", "webhook"}
    | {"wecom_app", "dingtalk_work", "feishu_app"}
)


def _cross_checks(
    folder: Path, policy: Policy, directory: Directory, channels: ChannelsFile
) -> list[Problem]:
    names = set(channels.channels)
    found: list[tuple[str, str, str]] = []
    routing = channels.routing
    for order_name, order in [
        ("routing.default", routing.default),
        *((f"routing.roles.{r}", o) for r, o in routing.roles.items()),
    ]:
        found += [("channels.yaml", order_name, c) for c in order if c not in names]
    for person in directory.people:
        found += [
            ("directory.yaml", f"people.{person.id}.channels", c)
            for c in person.channels or ()
            if c not in names
        ]
    problems = [
        Problem(f, _line(folder, f, key), key, f"no channel named '{c}' in channels.yaml")
        for f, key, c in found
    ]
    problems += _group_problems(folder, channels)
    families = {family_of(t) for t in channels.types().values()} | {"sms", "email", "chat"}
    problems += [
        Problem(
            "policies.yaml",
            _line(folder, "policies.yaml", f"quiet_hours.{k}"),
            f"quiet_hours.{k}",
            "not a channel family: use sms, email or chat",
        )
        for k in policy.quiet_hours
        if k not in families
    ]
    return problems


def _group_problems(folder: Path, channels: ChannelsFile) -> list[Problem]:
    """routing.groups names group robots only (WeCom, DingTalk, Feishu robots)."""
    problems = []
    for name in channels.routing.groups:
        key = f"routing.groups.{name}"
        configured = channels.channels.get(name)
        if configured is None:
            reason = f"没有名为 '{name}' 的渠道（no channel named '{name}' in channels.yaml）"
        elif configured.type not in GROUP_ROBOT_TYPES:
            reason = (
                f"渠道 '{name}' 不是群机器人，不能写在 routing.groups"
                f"（channel '{name}' is a {configured.type}, not a group robot）"
            )
        else:
            continue
        problems.append(Problem("channels.yaml", _line(folder, "channels.yaml", key), key, reason))
    return problems


def _line(folder: Path, name: str, dotted: str) -> int | None:
    located = load(folder / name, name)
    return located.line_of(tuple(dotted.split(".")))


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
