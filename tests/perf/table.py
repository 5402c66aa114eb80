"""The readable table of a bench run: each figure, its target, and its peers side by side."""

from __future__ import annotations

import textwrap
from typing import Any

from tests.perf.common import Figure, Section

NAME_W, VALUE_W, TARGET_W = 34, 20, 16


def render(sections: list[Section], run: dict[str, Any]) -> str:
    """The whole table as text."""
    head = (
        f"duban bench  {run['started']}  commit {run['git_commit']}"
        f"{' (uncommitted changes)' if run['git_dirty'] else ''}  "
        f"{run['cpus']} CPUs  {run['memory_gib']} GiB  Python {run['python']}"
    )
    out = [head, "=" * len(head)]
    for section in sections:
        out += ["", section.title, "-" * len(section.title)]
        if section.error:
            out.append(f"  ERROR: {section.error}")
        out += [line for figure in section.figures for line in _rows(figure)]
        load = section.details.get("load_average_1m")
        speed = section.details.get("reference_ms")
        if load:
            reference = (
                f"; reference workload {speed['before']:.1f} ms before, {speed['after']:.1f} after"
                if speed
                else ""
            )
            out.append(
                f"  ({section.details.get('section_seconds')} s; load average "
                f"{load['before']:.2f} before, {load['after']:.2f} after{reference})"
            )
    return "\n".join(out)


def _rows(figure: Figure) -> list[str]:
    target = "" if figure.target is None else f"{'≥' if figure.higher_is_better else '≤'} "
    target += "" if figure.target is None else _number(figure.target)
    verdict = {True: "PASS", False: "FAIL", None: ""}[figure.passed]
    value = f"{_number(figure.value)} {figure.unit}"
    lines = [f"  {figure.name:<{NAME_W}} {value:>{VALUE_W}}  {target:<{TARGET_W}} {verdict}"]
    for peer in figure.peers:
        ratio = figure.ratio(peer)
        shown = "n/a" if ratio is None else f"{ratio:.2f}×"
        lines.append(
            f"  {'':<{NAME_W}} {_number(peer.value):>{VALUE_W - len(figure.unit) - 1}} "
            f"{figure.unit}  {'duban/peer ' + shown:<{TARGET_W}}  vs {peer.name}"
            f"{' — ' + peer.note if peer.note else ''}"
        )
    how = figure.how if figure.higher_is_better else f"{figure.how} (lower is better)"
    lines += textwrap.wrap(
        how, width=100, initial_indent="      how: ", subsequent_indent="           "
    )
    if figure.note:
        lines.append(f"      note: {figure.note}")
    return lines


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}"
