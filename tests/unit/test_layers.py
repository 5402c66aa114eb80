"""Imports point one way: contracts <- core <- ports/adapters <- services <- cli.

Every module under contracts/ and services/ is parsed with ast; every import counts,
those inside functions and under TYPE_CHECKING included. See docs/architecture.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERED = ("contracts", "services")
IO_LIBRARIES = frozenset({"redis", "aiokafka", "faststream", "aiohttp", "jinja2", "aiosmtplib"})
SERVICES = ("services.engine", "services.notifier", "services.ack")
# Violations in today's tree, each with its proposed fix; strict: remove once fixed.


@dataclass(frozen=True)
class Import:
    """One imported module, as written in one module's source."""

    importer: str
    target: str
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the layered packages, by dotted name."""
    found = {module_name(p): p for top in LAYERED for p in sorted((ROOT / top).rglob("*.py"))}
    assert found, "no modules found: is ROOT right?"
    return found


def _base(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The module a `from ... import` reads from, relative imports resolved."""
    if node.level == 0:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    anchor = package[: len(package) - node.level + 1]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = _base(name, path, node)
    for alias in node.names:
        # `from services import kafka` imports the module services.kafka.
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules() else base


def imports_in(name: str, path: Path, source: str) -> Iterator[Import]:
    """The imports of one module's source, one entry per imported module."""
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            text = " ".join((ast.get_source_segment(source, node) or "").split())
            for target in _targets(name, path, node):
                yield Import(name, target, path, node.lineno, text)


@cache
def imports() -> tuple[Import, ...]:
    """Every import of every layered module."""
    return tuple(
        found
        for name, path in modules().items()
        for found in imports_in(name, path, path.read_text(encoding="utf-8"))
    )


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports_of(package: str) -> Iterator[Import]:
    return (i for i in imports() if within(i.importer, package))


def listing(found: Iterable[Import]) -> str:
    return "\n".join(sorted({str(i) for i in found})) or "(none)"


def unit_of(module: str) -> str:
    """The package a module belongs to for cycle checks: services.<package>, a top-level
    services module, or contracts."""
    parts = module.split(".")
    return "contracts" if parts[0] == "contracts" else ".".join(parts[:2])


def package_edges() -> dict[tuple[str, str], list[Import]]:
    """(importing package, imported package) -> the import statements behind the edge."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for found in imports():
        if found.target.split(".")[0] not in LAYERED:
            continue
        edge = (unit_of(found.importer), unit_of(found.target))
        if edge[0] != edge[1]:
            edges.setdefault(edge, []).append(found)
    return edges


def reachable(start: str, edges: Iterable[tuple[str, str]]) -> set[str]:
    """Packages reachable from `start` through at least one import."""
    successors: dict[str, set[str]] = {}
    for source, target in edges:
        successors.setdefault(source, set()).add(target)
    seen: set[str] = set()
    pending = list(successors.get(start, ()))
    while pending:
        node = pending.pop()
        if node not in seen:
            seen.add(node)
            pending.extend(successors.get(node, ()))
    return seen


def cycles() -> list[set[str]]:
    """Groups of packages that import each other, directly or through others."""
    edges = package_edges()
    nodes = sorted({node for edge in edges for node in edge})
    reach = {node: reachable(node, edges) for node in nodes}
    groups: list[set[str]] = []
    for node in nodes:
        group = {other for other in reach[node] if node in reach[other]}
        if group and group not in groups:
            groups.append(group)
    return groups


def test_the_graph_sees_imports_inside_functions_and_relative_ones() -> None:
    source = (
        "import redis.asyncio\n\ndef f():\n    from ..core import evaluate\n    from . import x\n"
    )
    path = ROOT / "services" / "engine" / "app.py"
    found = {(i.target, i.line) for i in imports_in("services.engine.app", path, source)}
    assert found == {("redis.asyncio", 1), ("services.core.evaluate", 4), ("services.engine", 5)}
    assert len(modules()) > 50
    assert any(within(i.importer, "services.engine") for i in imports())


def test_contracts_import_nothing_from_services() -> None:
    found = [i for i in imports_of("contracts") if within(i.target, "services")]
    assert not found, listing(found)


def test_core_imports_nothing_from_services_outside_core() -> None:
    found = [
        i
        for i in imports_of("services.core")
        if within(i.target, "services") and not within(i.target, "services.core")
    ]
    assert not found, listing(found)


def test_core_imports_no_io_library() -> None:
    found = [i for i in imports_of("services.core") if i.target.split(".")[0] in IO_LIBRARIES]
    assert not found, listing(found)


def test_nothing_under_services_imports_the_cli() -> None:
    found = [
        i
        for i in imports_of("services")
        if within(i.target, "services.cli") and not within(i.importer, "services.cli")
    ]
    assert not found, listing(found)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [(a, b) for a in SERVICES for b in SERVICES if a != b],
)
def test_services_never_import_each_other(importer: str, imported: str) -> None:
    found = [i for i in imports_of(importer) if within(i.target, imported)]
    assert not found, listing(found)


def test_no_import_cycles_between_packages() -> None:
    edges = package_edges()
    found = cycles()
    statements = [
        i
        for group in found
        for (source, target), behind in edges.items()
        if source in group and target in group
        for i in behind
    ]
    assert not found, f"cycles {[sorted(g) for g in found]}:\n{listing(statements)}"
