"""The sandboxed Jinja environment the templates compile in, with duban's filters."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any, Final

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    pass_context,
    select_autoescape,
)
from jinja2.environment import TemplateModule
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from services.notifier.templating.cells import filled, make_cells
from services.notifier.templating.dates import cn_date, cn_datetime, cn_end_date
from services.notifier.templating.errors import TemplateError, syntax_error
from services.notifier.templating.labels import (
    LabelSet,
    cn_num,
    mention_names,
    percent_label,
    period_label,
)
from services.notifier.templating.text import lines, md_escape, md_url, paragraphs

#: Context key of the per-render cache of ``load(...)`` modules.
RENDER_CACHE: Final = "_render_cache"
_PLAIN_TYPES: Final = (TemplateModule, LoopContext)
_PLAIN_VALUES: Final = frozenset((str, Markup, int, float, bool, type(None), list, tuple, dict))
_ABSENT: Final = object()


def _filters(tz: tzinfo, labels: LabelSet) -> dict[str, Callable[..., Any]]:
    by_code = labels.filters()
    return {
        "cn_datetime": lambda v: cn_datetime(v, tz),
        "cn_date": lambda v: cn_date(v, tz),
        "cn_end_date": lambda v: cn_end_date(v, tz),
        "cn_num": cn_num,
        **by_code,
        "period_label": period_label,
        "percent_label": percent_label,
        "md_escape": md_escape,
        "md_url": md_url,
        "paragraphs": paragraphs,
        "lines": lines,
        "cells": make_cells(tz, by_code),
        "filled": filled,
        "mention_names": lambda v: mention_names(v, by_code["role_label"]),
    }


def _finalize(value: object) -> object:
    """``{{ x }}`` with x = none prints nothing (not "None")."""
    return "" if value is None else value


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a fast path for template modules (``load(...)``) and
    ``loop``: they only expose template values and loop counters, so the generic
    attribute checks (costly on the hot path) reduce to refusing ``_private`` names."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) in _PLAIN_TYPES:
            return not attr.startswith("_")
        return bool(super().is_safe_attribute(obj, attr, value))

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A template value read off a module or loop (text, number, list, mapping) needs
        # none of the checks below; anything else (a callable, say) takes the full path.
        if type(obj) in _PLAIN_TYPES and not attribute.startswith("_"):
            value = getattr(obj, attribute, _ABSENT)
            if type(value) in _PLAIN_VALUES:
                return value
            if value is _ABSENT:  # e.g. b.closing | default(""): neither has items either
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


@pass_context
def _load(context: Context, name: str) -> TemplateModule:
    """``{% set b = load("x.body.j2") %}``: the variables ``x.body.j2`` sets, evaluated with
    the notice's facts once per render and shared by the subject, text, HTML and markdown
    templates (like ``{% import "x.body.j2" as b with context %}``, without the repeats)."""
    cache = context.get(RENDER_CACHE)
    module = cache.get(name) if isinstance(cache, dict) else None
    if module is None:
        template = context.environment.get_template(name)
        module = template.make_module(context.get_all(), shared=True)
        if isinstance(cache, dict):
            cache[name] = module
    return module


def make_env(directory: Path, tz: tzinfo, labels: LabelSet) -> ImmutableSandboxedEnvironment:
    """The sandbox loading templates from ``directory``; ``*.html.j2`` autoescape.

    ``labels`` gives the ``*_label`` filters and the ``office`` the letters are signed by."""
    env = _Sandbox(
        loader=FileSystemLoader(str(directory), encoding="utf-8"),
        undefined=StrictUndefined,
        # Asked for every render and module (by template name): remembered per name.
        autoescape=functools.cache(
            select_autoescape(
                enabled_extensions=("html", "htm", "html.j2", "htm.j2"),
                disabled_extensions=(),
                default_for_string=False,
                default=False,
            )
        ),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        # Compiled once at load and kept: the folder changes only with a redeploy.
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(_filters(tz, labels))
    env.globals["load"] = _load
    env.globals["office"] = labels.office_globals()
    return env


def compile_template(env: ImmutableSandboxedEnvironment, name: str) -> Template:
    """Compile the file ``name``; a TemplateError names it and the problem."""
    try:
        return env.get_template(name)
    except TemplateSyntaxError as exc:
        raise syntax_error(exc) from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{name}: not UTF-8 text ({exc.reason})", template=name) from exc


def freeze_globals(env: ImmutableSandboxedEnvironment) -> None:
    """Give every compiled template a plain dict of its globals. Jinja keeps them as a
    ChainMap over the environment's and copies it for every render and ``load``; the
    globals never change after loading, and a dict copies several times faster."""
    cache = env.cache if env.cache is not None else {}
    for template in cache.values():
        template.globals = dict(template.globals)
