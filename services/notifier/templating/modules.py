"""Template modules that follow from a few plain inputs, remembered across renders.

``load("_common.j2")`` evaluates a module in every render, yet what ``_common.j2`` sets
(the signature, the date, the salutation, the footer) follows from a handful of values
that come back notice after notice: the office, the day the letter is issued, the
recipient's name and role, the repeat count. Such a module is evaluated once per
distinct set of inputs, when nothing but those inputs can change what it sets:

* it extends, includes and imports nothing, and defines no macro, call block or block;
* it calls no global function (``load``, ``range``, ``lipsum``, ``cycler``, …) and
  uses no ``random`` filter (the other filters are pure: the labels, the dates, …);
* every name it reads is, in this render, plain (text, a number, a bool, none, a
  date or datetime), undefined, or the environment's own global (``office``).

Anything else is evaluated in every render, as before. The module remembered is
shared by the renders with the same inputs: the sandbox is immutable, so no template
can change what it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from jinja2 import Template, nodes
from jinja2.environment import Environment, TemplateModule
from jinja2.runtime import Context
from jinja2.utils import missing

#: Filters whose result is not a function of their input.
_IMPURE_FILTERS: Final = frozenset({"random"})
#: Statements whose meaning depends on more than the names the module reads.
_NOT_PLAIN: Final = (
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Block,
)
_PLAIN_VALUES: Final = frozenset({str, int, float, bool, type(None), date})
#: At most this many modules are remembered; past it the memo starts again.
MAX_REMEMBERED: Final = 1024
_GLOBAL: Final = object()  # key part: the name reads the environment's global
_UNDEFINED: Final = object()  # key part: the name is not in the context


class ModuleMemo:
    """The remembered modules of one environment (see the module docstring)."""

    def __init__(self, env: Environment, sources: Mapping[str, str]) -> None:
        """``sources``: each template's text, as it was compiled."""
        self._env = env
        self._sources = sources
        self._inputs: dict[str, tuple[str, ...] | None] = {}
        self._modules: dict[tuple[object, ...], TemplateModule] = {}

    def module(self, template: Template, context: Context) -> TemplateModule:
        """``template.make_module(context.get_all(), shared=True)``, remembered when the
        template and the values it reads allow."""
        key = self._key(template, context)
        found = self._modules.get(key) if key is not None else None
        if found is not None:
            return found
        module = template.make_module(context.get_all(), shared=True)
        if key is not None:
            if len(self._modules) >= MAX_REMEMBERED:
                self._modules.clear()
            self._modules[key] = module
        return module

    def _key(self, template: Template, context: Context) -> tuple[object, ...] | None:
        """The template's name and the values of the names it reads; None when it cannot
        be remembered."""
        name = template.name
        if name is None:
            return None
        if name not in self._inputs:
            self._inputs[name] = self._study(name)
        inputs = self._inputs[name]
        if inputs is None:
            return None
        key: list[object] = [name]
        for input_name in inputs:
            part = self._part(input_name, context.resolve_or_missing(input_name))
            if part is None:
                return None
            key.append(part)
        return tuple(key)

    def _part(self, name: str, value: Any) -> object | None:
        """A hashable stand-in for ``value`` that only an equal value shares (types
        kept apart: 1, 1.0 and True print differently); None if there is none."""
        if value is missing:
            return _UNDEFINED
        if value is self._env.globals.get(name, _GLOBAL):
            return _GLOBAL
        kind = type(value)
        if kind is datetime:  # equal datetimes of one zone may differ in fold
            return (kind, value, value.fold)
        return (kind, value) if kind in _PLAIN_VALUES else None

    def _study(self, name: str) -> tuple[str, ...] | None:
        """The names a plain module reads, sorted; None if it is not plain."""
        source = self._sources.get(name)
        if source is None:
            return None
        tree = self._env.parse(source, name)
        if next(tree.find_all(_NOT_PLAIN), None) is not None:
            return None
        if any(f.name in _IMPURE_FILTERS for f in tree.find_all(nodes.Filter)):
            return None
        # Every name read, those it sets itself too (they read as undefined, or as a
        # fact of that name), and the globals (meta.find_undeclared_variables leaves
        # those out): more inputs than needed only ever means fewer hits.
        names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
        if any(callable(self._env.globals.get(n)) for n in names):
            return None
        return tuple(sorted(names))
