"""The sandboxed Jinja environment the templates compile in, with duban's filters."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, MutableMapping
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
from jinja2.environment import Environment, TemplateModule
from jinja2.filters import sync_do_map
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import internalcode
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
from services.notifier.templating.modules import ModuleMemo
from services.notifier.templating.text import lines, md_escape, md_url, paragraphs

#: Context key of the per-render cache of ``load(...)`` modules.
RENDER_CACHE: Final = "_render_cache"
_PLAIN_TYPES: Final = (TemplateModule, LoopContext)
_PLAIN_VALUES: Final = frozenset((str, Markup, int, float, bool, type(None), list, tuple, dict))
_ABSENT: Final = object()
#: What ``getattr`` finds on a plain dict (its methods); any other name is a key.
_DICT_ATTRIBUTES: Final = frozenset(dir(dict))


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
    attribute checks (costly on the hot path) reduce to refusing ``_private`` names.
    ``mapping.key`` on a plain dict (``office.name``, a table's row) is its item, as
    Jinja finds it, without Jinja's attribute lookup failing first."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: Every template by name, once all are compiled (:func:`freeze_globals`).
        self.compiled: dict[str, Template] = {}
        #: Modules remembered across renders, once all are compiled.
        self.modules: ModuleMemo | None = None

    @internalcode
    def get_template(
        self,
        name: str | Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> Template:
        # Nothing is compiled after loading (no auto_reload, cache unbounded, join_path
        # as is): a dict lookup, where Jinja builds a cache key with a weak reference
        # for every extends, import and load.
        found = self.compiled.get(name) if globals is None and type(name) is str else None
        return found if found is not None else super().get_template(name, parent, globals)

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
        elif type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            value = obj.get(attribute, _ABSENT)
            return self.undefined(obj=obj, name=attribute) if value is _ABSENT else value
        return super().getattr(obj, attribute)


class _Loader(FileSystemLoader):
    """The folder's loader, keeping the text of each template it loaded (for
    :class:`ModuleMemo`: the text compiled, not the file as it may be now)."""

    def __init__(self, searchpath: str) -> None:
        super().__init__(searchpath, encoding="utf-8")
        self.sources: dict[str, str] = {}

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        self.sources[template] = source
        return source, filename, uptodate


@pass_context
def _load(context: Context, name: str) -> TemplateModule:
    """``{% set b = load("x.body.j2") %}``: the variables ``x.body.j2`` sets, evaluated with
    the notice's facts once per render and shared by the subject, text, HTML and markdown
    templates (like ``{% import "x.body.j2" as b with context %}``, without the repeats);
    a module that follows from a few plain values is remembered across renders too
    (:mod:`.modules`)."""
    cache = context.get(RENDER_CACHE)
    module = cache.get(name) if isinstance(cache, dict) else None
    if module is None:
        env = context.environment
        template = env.get_template(name)
        memo = env.modules if isinstance(env, _Sandbox) else None
        if memo is not None:
            module = memo.module(template, context)
        else:
            module = template.make_module(context.get_all(), shared=True)
        if isinstance(cache, dict):
            cache[name] = module
    return module


@pass_context
def _map(context: Context, value: Iterable[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Jinja's ``map``. ``map("x_label")`` looks the filter up once, not per item as
    Jinja does (by name, through ``call_filter``), when it takes nothing but the item."""
    name = args[0] if len(args) == 1 and not kwargs else None
    func = context.environment.filters.get(name) if isinstance(name, str) else None
    # Filters marked pass_context (…_environment, …_eval_context) want more: Jinja's way.
    if func is None or hasattr(func, "jinja_pass_arg"):
        yield from sync_do_map(context, value, *args, **kwargs)
    elif value:
        for item in value:
            yield func(item)


def make_env(directory: Path, tz: tzinfo, labels: LabelSet) -> ImmutableSandboxedEnvironment:
    """The sandbox loading templates from ``directory``; ``*.html.j2`` autoescape.

    ``labels`` gives the ``*_label`` filters and the ``office`` the letters are signed by."""
    env = _Sandbox(
        loader=_Loader(str(directory)),
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
    env.filters["map"] = _map
    env.globals["load"] = _load
    env.globals["office"] = labels.office_globals()
    return env


def evaluate(template: Template, context: dict[str, Any]) -> str:
    """``template.render(context)`` for a ``context`` that holds the globals already: the
    template reads it as is (Jinja's ``shared`` context; it writes only to its own
    variables), where ``render`` would copy it twice first. Errors get template line
    numbers, as from ``render``."""
    try:
        return "".join(template.root_render_func(template.new_context(context, shared=True)))
    except Exception:
        template.environment.handle_exception()


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
    globals never change after loading, and a dict copies several times faster. Then
    the environment finds each template by name directly (``_Sandbox.get_template``)."""
    cache = env.cache if env.cache is not None else {}
    for template in cache.values():
        template.globals = dict(template.globals)
    if isinstance(env, _Sandbox):
        env.compiled = {t.name: t for t in cache.values() if t.name is not None}
        sources = env.loader.sources if isinstance(env.loader, _Loader) else {}
        env.modules = ModuleMemo(env, sources)
