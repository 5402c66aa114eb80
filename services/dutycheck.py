"""`duban config check`'s warnings about duties.yaml that only the directory can tell."""

from __future__ import annotations

from services.config.load import Config
from services.config.positions import load

DUTIES_FILE = "duties.yaml"


def duty_warnings(config: Config) -> list[str]:
    """A department listed for a duty that directory.yaml does not know: it is bound to
    nothing (nobody is reminded or written up for it)."""
    known = {d.id for d in config.directory.departments}
    path = config.folder / DUTIES_FILE
    located = load(path, DUTIES_FILE) if path.exists() else None
    warnings = []
    for i, duty in enumerate(config.duties.duties):
        for j, dept in enumerate(duty.departments or ()):
            if dept in known:
                continue
            key = f"duties.{i}.departments.{j}"
            line = located.line_of(("duties", i, "departments", j)) if located else None
            where = f"{DUTIES_FILE}:{line} {key}" if line else f"{DUTIES_FILE} {key}"
            warnings.append(
                f"{where}：履职事项 '{duty.id}' 列出的部门 '{dept}' 不在 directory.yaml 的 "
                "departments 中，不会向它提醒或函告；请改正部门编号，或先在 directory.yaml "
                f"登记该部门（department '{dept}' is unknown to the directory）"
            )
    return warnings
