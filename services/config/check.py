"""`duban config check`: every problem (fatal) and warning (worth knowing) in a config folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from services.config.channels import unset_variables
from services.config.load import Config, load_config
from services.config.positions import ConfigError, Problem
from services.core.workcalendar import WorkCalendar, coverage_warnings


def check_folder(folder: Path, today: datetime | None = None) -> tuple[list[Problem], list[str]]:
    """Load and check `folder`; returns (problems, warnings)."""
    try:
        config = load_config(folder)
    except ConfigError as e:
        return e.problems, []
    problems = _template_problems(folder)
    if not problems:
        problems += _sms_problems(config)
    year = (today or datetime.now(UTC)).year
    warnings = calendar_warnings(config, range(year, year + 2))
    warnings += channel_warnings(config)
    return problems, warnings


def calendar_warnings(config: Config, years: range) -> list[str]:
    """Years whose working days fall back to Monday–Friday."""
    overrides = config.calendar.model_copy(update={"time_zone": config.policy.time_zone})
    return coverage_warnings(WorkCalendar.from_overrides(overrides), years)


def channel_warnings(config: Config) -> list[str]:
    """Channels that will be switched off because their environment variables are unset."""
    warnings = []
    for name, channel in config.channels.channels.items():
        missing = unset_variables(channel)
        if missing:
            warnings.append(
                f"channels.yaml: channel '{name}' is off until these are set: "
                + ", ".join(sorted(set(missing)))
            )
    return warnings


def _sms_problems(config: Config) -> list[Problem]:
    from services.notifier.render import TemplateSet
    from services.notifier.smscheck import sms_template_problems

    templates = TemplateSet.load(config.folder / "templates")
    return [
        Problem("channels.yaml", None, "", text)
        for text in sms_template_problems(config, templates)
    ]


def _template_problems(folder: Path) -> list[Problem]:
    templates = folder / "templates"
    if not templates.is_dir():
        return [Problem("templates/", None, "", "folder is missing")]
    from services.notifier.render import check_templates

    return [Problem("templates/", None, "", text) for text in check_templates(templates)]
