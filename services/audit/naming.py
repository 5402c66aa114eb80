"""What the audit's pages and commands take from the config folder: Chinese labels, the
office's name, the time zone and the working calendar, the rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.audit.story import Label
from services.config.load import load_config
from services.core.directory import label_tables
from services.core.evaluate import Rules

DEFAULT_OFFICE = "安全生产委员会办公室"


@dataclass(frozen=True)
class Naming:
    """Labels and rules of one config folder."""

    rules: Rules
    tables: dict[str, dict[str, str]]
    office: str

    def label(self, table: str, code: str) -> str:
        """The Chinese label of a code (the code itself when it has none)."""
        return self.tables.get(table, {}).get(code, code)

    @property
    def labeller(self) -> Label:
        return self.label

    def department_ids(self, department: str) -> set[str]:
        """What a notice's facts may call a department: its id and its name."""
        name = self.tables.get("departments", {}).get(department)
        return {department, name} if name else {department}


def naming(folder: Path) -> Naming:
    """Read the folder (ConfigError when it is broken)."""
    config = load_config(folder)
    office = config.labels.office.name if config.labels.office else DEFAULT_OFFICE
    return Naming(config.rules(), label_tables(config.labels, config.directory), office)
