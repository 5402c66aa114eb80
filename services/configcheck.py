"""`duban config check`: every problem (fatal) and warning (worth knowing) in a config folder.

Warnings that ops act on are written in Chinese first (English may follow)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, get_args

from contracts.common import Authority, FoundBy, Level
from services.audit.retention import audit_config_problems
from services.config.channels import RobotChannel, unset_variables
from services.config.load import LABELS_FILE, Config, load_config
from services.config.positions import ConfigError, Problem, load
from services.core.state import Status
from services.core.workcalendar import WorkCalendar, coverage_warnings
from services.dutycheck import duty_warnings
from services.notifier.render import LabelSet, TemplateSet, check_templates
from services.notifier.smscheck import sms_template_problems

#: labels.yaml table → what its codes are, in the warning's words.
_TABLE_WORDS: Final = {
    "roles": "收件人身份",
    "levels": "隐患等级",
    "authorities": "挂牌督办层级",
    "actions": "督办措施",
    "statuses": "隐患状态",
    "found_by": "隐患发现方式",
    "duties": "履职事项",
    "industries": "行业",
}
#: Codes every notice may carry whatever the config says (the v1 contract's values).
_CONTRACT_CODES: Final[dict[str, tuple[str, ...]]] = {
    "levels": get_args(Level),
    "authorities": get_args(Authority),
    "statuses": get_args(Status),
    "found_by": get_args(FoundBy),
    "roles": ("committee_office",),  # every role falls back to the committee office
}
_CONTRACT: Final = "contract v1"

Use = tuple[str, str, str]  # (labels.yaml table, code, "file key" where it is used)


def check_folder(
    folder: Path, env: Mapping[str, str], today: datetime | None = None
) -> tuple[list[Problem], list[str]]:
    """Load and check `folder` with the environment `env`; returns (problems, warnings)."""
    try:
        config = load_config(folder)
    except ConfigError as e:
        return e.problems, []
    problems = _template_problems(folder)
    if not problems:
        problems += _sms_problems(config)
    problems += audit_config_problems(folder)  # audit.yaml (optional)
    year = (today or datetime.now(UTC)).year
    warnings = calendar_warnings(config, range(year, year + 2))
    warnings += channel_warnings(config, env)
    warnings += robot_order_warnings(config)
    warnings += label_warnings(config)
    warnings += duty_warnings(config)
    return problems, warnings


def calendar_warnings(config: Config, years: range) -> list[str]:
    """Years whose working days fall back to Monday–Friday."""
    overrides = config.calendar.model_copy(update={"time_zone": config.policy.time_zone})
    return coverage_warnings(WorkCalendar.from_overrides(overrides), years)


def channel_warnings(config: Config, env: Mapping[str, str]) -> list[str]:
    """Channels that will be switched off because their environment variables are unset."""
    warnings = []
    for name, channel in config.channels.channels.items():
        missing = ", ".join(sorted(set(unset_variables(channel, env))))
        if missing:
            warnings.append(
                f"channels.yaml：渠道 '{name}' 未启用，需先设置环境变量 {missing}"
                f"（channel '{name}' is off until these are set）"
            )
    return warnings


def robot_order_warnings(config: Config) -> list[str]:
    """Group robots in a personal channel order: each person would get a post of their
    own in the group, carrying their acknowledgement link for anyone there to follow."""
    robots = {n for n, c in config.channels.channels.items() if isinstance(c, RobotChannel)}
    routing = config.channels.routing
    orders = [
        ("channels.yaml", "routing.default", routing.default),
        *(("channels.yaml", f"routing.roles.{r}", o) for r, o in routing.roles.items()),
        *(
            ("directory.yaml", f"people.{i}.channels", p.channels or ())
            for i, p in enumerate(config.directory.people)
        ),
    ]
    warnings = []
    for file, key, order in orders:
        for j, name in enumerate(order):
            if name not in robots:
                continue
            path = tuple(int(k) if k.isdigit() else k for k in f"{key}.{j}".split("."))
            line = load(config.folder / file, file).line_of(path)
            warnings.append(
                f"{file}{f':{line}' if line else ''}：群机器人渠道 '{name}' 写在个人发送顺序 "
                f"{key} 中，会给每个人各发一条群消息（带本人的确认链接，群里任何人都能代为确认）；"
                f"请从中删去，写入 channels.yaml 的 routing.groups：每条通知在群里只发一条，"
                f"并@全部收件人（group robot '{name}' in a personal channel order）"
            )
    return warnings


def label_warnings(config: Config) -> list[str]:
    """Codes used in the config (or by the contract) that messages would show untranslated."""
    if not (config.folder / LABELS_FILE).exists():
        return [
            f"{LABELS_FILE}：文件不存在，消息中的行业、身份、履职事项等将直接显示英文代码；"
            f"可从示例配置 deploy/config/example/ 复制一份再修改（no {LABELS_FILE}: codes are "
            "shown untranslated）"
        ]
    warnings = []
    if config.labels.office is None:
        warnings.append(
            f"{LABELS_FILE}：没有写 office（发文单位），公文落款将使用模板中的默认文字；"
            "请写上本级安委办的全称（office.name）"
        )
    reported: set[tuple[str, str]] = set()
    for table, code, where in _uses(config):
        if code in getattr(config.labels, table) or (table, code) in reported:
            continue
        reported.add((table, code))
        warnings.append(_missing_label(config, table, code, where))
    return warnings + _unnamed_regions(config)


def _missing_label(config: Config, table: str, code: str, where: str) -> str:
    words = _TABLE_WORDS[table]
    if where != _CONTRACT:
        file, key = where.split(" ", 1)
        path = tuple(int(p) if p.isdigit() else p for p in key.split("."))
        line = load(config.folder / file, file).line_of(path)
        where = f"{file}:{line} {key}" if line else where
    return (
        f"{LABELS_FILE}：{words}代码 '{code}' 没有中文名称，消息中将直接显示 '{code}'"
        f"（用于 {where}）；请在 {LABELS_FILE} 的 {table} 下添加一行 “{code}: 中文名称”"
    )


def _unnamed_regions(config: Config) -> list[str]:
    """Region codes of directory.yaml or of a rule's match without a name to show."""
    named = {code for code, region in config.directory.regions.items() if region.name}
    used = dict.fromkeys(config.directory.regions)
    for rule in config.policy.rules:
        used.update(dict.fromkeys(rule.match.regions or ()))
    return [
        f"directory.yaml：区域代码 '{code}' 没有名称，消息中将直接显示 '{code}'；"
        f"请在 directory.yaml 的 regions 下写上 “{code}: {{name: 区域名称}}”"
        for code in used
        if code not in named
    ]


def _uses(config: Config) -> Iterator[Use]:
    """Every (table, code, where) a message may show: config first, then the contract."""
    directory = config.directory
    for i, dept in enumerate(directory.departments):
        for j, code in enumerate(dept.industries):
            yield "industries", code, f"directory.yaml departments.{i}.industries.{j}"
    for i, code in enumerate(directory.high_risk_industries):
        yield "industries", code, f"directory.yaml high_risk_industries.{i}"
    yield from _policy_uses(config)
    yield from _duty_uses(config)
    for table, codes in _CONTRACT_CODES.items():
        for code in codes:
            yield table, code, _CONTRACT


def _duty_uses(config: Config) -> Iterator[Use]:
    for i, duty in enumerate(config.duties.duties):
        yield "duties", duty.id, f"duties.yaml duties.{i}.id"
        for key in ("remind_to", "letter_to"):
            for j, role in enumerate(getattr(duty, key)):
                yield "roles", role, f"duties.yaml duties.{i}.{key}.{j}"
        for j, code in enumerate(duty.industries or ()):
            yield "industries", code, f"duties.yaml duties.{i}.industries.{j}"
    for i, digest in enumerate(config.duties.digests):
        for j, role in enumerate(digest.to):
            yield "roles", role, f"duties.yaml digests.{i}.to.{j}"


def _policy_uses(config: Config) -> Iterator[Use]:
    for i, rule in enumerate(config.policy.rules):
        at = f"policies.yaml rules.{i}"
        for j, code in enumerate(rule.match.industries or ()):
            yield "industries", code, f"{at}.match.industries.{j}"
        if rule.kind == "escalation" and rule.add_authority_when_listed:
            yield "roles", "authority", f"{at}.add_authority_when_listed"
        for s, step in enumerate(rule.steps):
            for j, role in enumerate(step.to):
                yield "roles", role, f"{at}.steps.{s}.to.{j}"
            if step.action:
                yield "actions", step.action, f"{at}.steps.{s}.action"


def _sms_problems(config: Config) -> list[Problem]:

    labels = LabelSet.of(config.labels, config.directory)
    templates = TemplateSet.load(config.folder / "templates", labels=labels)
    return [
        Problem("channels.yaml", None, "", text)
        for text in sms_template_problems(config, templates)
    ]


def _template_problems(folder: Path) -> list[Problem]:
    templates = folder / "templates"
    if not templates.is_dir():
        return [Problem("templates/", None, "", "folder is missing")]

    return [Problem("templates/", None, "", text) for text in check_templates(templates)]
