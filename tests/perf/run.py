"""`make bench`: run every benchmark on the local stack, print a table, write the figures.

    .venv/bin/python -m tests.perf.run                 # everything (about 10 minutes)
    .venv/bin/python -m tests.perf.run --quick         # small counts, a smoke run
    .venv/bin/python -m tests.perf.run --only timers   # some sections (engine, timers, notifier)
    .venv/bin/python -m tests.perf.run --profile       # also cProfile ($TMPDIR/duban-bench)
    .venv/bin/python -m tests.perf.run --only audit --size audit_records=20000  # one size

Figures go to bench-results.json (and the table to bench-results.txt) at the repository
root, both git-ignored; the JSON is rewritten after each section, so an interrupted run
keeps what it measured. Nothing here is a test: no figure fails the build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from tests.perf import audit, engine_ingest, notifier, timers_section
from tests.perf.common import REPO_ROOT, Figure, Section
from tests.perf.speed import reference_ms
from tests.perf.table import render
from tests.stack import LocalStack, ensure_stack

OUTPUT = REPO_ROOT / "bench-results.json"
TABLE = REPO_ROOT / "bench-results.txt"


@dataclass(frozen=True)
class Sizes:
    """How much work each section does."""

    engine_events: int = 150_000
    engine_hazards: int = 20_000
    timers: int = 1_000_000
    timer_window_s: float = 25.0
    apscheduler_timers: int = 50_000
    engine_timer_hazards: int = 20_000
    notices: int = 20_000
    audit_records: int = 100_000
    audit_floor_rows: int = 5_000  # one commit each: slow on purpose
    audit_trace_rows: int = 5_000_000


FULL = Sizes()
QUICK = Sizes(50_000, 7_000, 100_000, 2.5, 5_000, 3_000, 2_000, 10_000, 2_000, 200_000)

Runner = Callable[[LocalStack, Sizes, bool], Awaitable[Section]]
SECTIONS: dict[str, Runner] = {
    "engine": lambda stack, s, profile: engine_ingest.run(
        stack, s.engine_events, s.engine_hazards, profile=profile
    ),
    "timers": lambda stack, s, _: timers_section.run(
        stack, s.timers, s.timer_window_s, s.apscheduler_timers, s.engine_timer_hazards
    ),
    "notifier": lambda stack, s, profile: notifier.run(stack, s.notices, profile=profile),
    "audit": lambda stack, s, profile: audit.run(
        stack, s.audit_records, s.audit_floor_rows, s.audit_trace_rows, profile=profile
    ),
}


def main(argv: list[str] | None = None) -> None:
    """Run the chosen sections, one event loop each, and report."""
    args = _arguments(argv)
    # Producing to just-created topics earns "not leader yet" retries; keep them quiet.
    logging.getLogger("aiokafka.producer.sender").setLevel(logging.ERROR)
    sizes = replace(QUICK if args.quick else FULL, **args.size)
    stack = ensure_stack()
    results: dict[str, Any] = {"run": _environment(sizes), "sections": []}
    sections = []
    for name in args.only:
        print(f"== {name} ...", flush=True)
        section = _measured(name, SECTIONS[name], stack, sizes, args.profile)
        sections.append(section)
        results["sections"].append(_as_json(name, section))
        OUTPUT.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    table = render(sections, results["run"])
    TABLE.write_text(table + "\n")
    print(table)
    print(f"\nfigures: {OUTPUT.relative_to(REPO_ROOT)}   table: {TABLE.relative_to(REPO_ROOT)}")


def _measured(name: str, runner: Runner, stack: LocalStack, sizes: Sizes, profile: bool) -> Section:
    load = os.getloadavg()[0]
    speed_before = reference_ms()
    started = time.perf_counter()
    try:
        # The services run on uvloop (services/runner.py): so do the benchmarks.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
            section = loop.run(runner(stack, sizes, profile))
    except Exception as e:  # one section failing must not lose the others
        traceback.print_exc()
        section = Section(name, error=f"{type(e).__name__}: {e}")
    section.details["section_seconds"] = round(time.perf_counter() - started, 1)
    section.details["load_average_1m"] = {"before": load, "after": os.getloadavg()[0]}
    section.details["reference_ms"] = {"before": speed_before, "after": reference_ms()}
    return section


def _as_json(name: str, section: Section) -> dict[str, Any]:
    return {
        "name": name,
        "title": section.title,
        "error": section.error,
        "figures": [f.as_json() for f in section.figures],
        "details": section.details,
    }


def _environment(sizes: Sizes) -> dict[str, Any]:
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "sizes": sizes.__dict__,
        "note": (
            "Kafka, Redis, the services and the load generators share this machine; "
            "a 1-minute load average well above what the bench itself uses means "
            "something else was running. reference_ms (per section, before and after) "
            "times a fixed plain-Python workload (tests/perf/speed.py): this virtual "
            "machine's speed drifts, and the same code measures slower when it is higher."
        ),
    }


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.processor()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument("--profile", action="store_true", help="cProfile into $TMPDIR/duban-bench/")
    parser.add_argument(
        "--only",
        type=lambda v: [s for s in v.split(",") if s],
        default=list(SECTIONS),
        help=f"comma-separated sections of: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--size",
        type=_size,
        action="append",
        default=[],
        help="override one of the sizes, e.g. audit_records=20000 (repeatable)",
    )
    args = parser.parse_args(argv)
    args.size = dict(args.size)
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    return args


def _size(text: str) -> tuple[str, int | float]:
    name, _, value = text.partition("=")
    kinds = {f.name: f.type for f in fields(Sizes)}
    if name not in kinds or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, NAME one of {', '.join(kinds)}")
    return name, (float(value) if kinds[name] in (float, "float") else int(value))


__all__ = ["Figure", "main"]

if __name__ == "__main__":
    main()
