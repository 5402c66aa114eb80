"""The renderer's shortcuts (remembered modules, the sandbox's fast paths, the cached
filters) give what Jinja's own way gives, and never one render's values to another."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jinja2 import StrictUndefined, TemplateNotFound
from jinja2.environment import TemplateModule
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.notifier.render import (
    LabelSet,
    TemplateSet,
    cn_date,
    cn_datetime,
    md_escape,
    sample_facts,
)
from services.notifier.templating.environment import compile_template, freeze_globals, make_env
from services.notifier.templating.modules import MAX_REMEMBERED

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example" / "templates"
SHANGHAI = ZoneInfo("Asia/Shanghai")
LABELS = LabelSet(
    {"actions": {"letter": "函告", "circular": "通报"}},
    {"name": "白土镇安委办", "short_name": None, "signature": "白土镇安委办", "phone": None},
)


@pytest.fixture
def copy(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED, target)
    yield target


def environment(tmp_path: Path, files: dict[str, str]) -> ImmutableSandboxedEnvironment:
    """The renderer's environment over ``files``, compiled and frozen as at load."""
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = make_env(tmp_path, SHANGHAI, LABELS)
    for name in files:
        compile_template(env, name)
    freeze_globals(env)
    return env


def module(env: ImmutableSandboxedEnvironment, file: str, /, **values: object) -> Any:
    """What ``load(file)`` gives a render whose context holds ``values`` (a module)."""
    template = env.get_template(file)
    context = template.new_context({**env.globals, **values}, shared=True)
    found = env.modules.module(template, context)  # type: ignore[attr-defined]
    assert isinstance(found, TemplateModule)
    return found


# ------------------------------------------------------------------ remembered modules


def test_a_plain_module_is_evaluated_once_per_inputs(tmp_path: Path) -> None:
    env = environment(tmp_path, {"m.j2": "{% set who = name ~ office.name %}"})
    first = module(env, "m.j2", name="张三")
    assert first.who == "张三白土镇安委办"
    assert module(env, "m.j2", name="张三") is first
    other = module(env, "m.j2", name="李四")
    assert other is not first and other.who == "李四白土镇安委办"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, True),  # equal, and hash alike, but print differently
        (1, 1.0),
        (
            datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York")),
            datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
        ),
    ],
)
def test_equal_values_that_show_differently_are_kept_apart(
    tmp_path: Path, one: object, other: object
) -> None:
    env = environment(tmp_path, {"m.j2": "{% set shown = value ~ '|' ~ (value | cn_datetime) %}"})
    assert module(env, "m.j2", value=one).shown == f"{one}|{cn_datetime(one, SHANGHAI)}"
    assert module(env, "m.j2", value=other).shown == f"{other}|{cn_datetime(other, SHANGHAI)}"


@pytest.mark.parametrize(
    "text",
    [
        '{% import "m.j2" as m %}{% set x = m.who %}',
        '{% include "m.j2" %}',
        "{% macro f() %}{{ name }}{% endmacro %}{% set x = f() %}",
        "{% set x = range(3) | list %}",
        "{% set x = [1, 2] | random %}",
        "{% set ns = namespace(n=name) %}",
    ],
)
def test_a_module_that_is_not_plain_is_evaluated_every_time(tmp_path: Path, text: str) -> None:
    env = environment(tmp_path, {"m.j2": "{% set who = name %}", "x.j2": text})
    assert module(env, "x.j2", name="张三") is not module(env, "x.j2", name="张三")


@pytest.mark.parametrize("value", [["张三"], {"name": "张三"}, ("张三",)])
def test_a_module_reading_a_value_that_is_not_plain_is_evaluated_every_time(
    tmp_path: Path, value: object
) -> None:
    env = environment(tmp_path, {"m.j2": "{% set shown = value | string %}"})
    assert module(env, "m.j2", value=value) is not module(env, "m.j2", value=value)


def test_a_fact_named_like_a_global_is_an_input(tmp_path: Path) -> None:
    env = environment(tmp_path, {"m.j2": "{% set shown = office %}"})
    assert module(env, "m.j2", office="县安委办").shown == "县安委办"
    assert module(env, "m.j2", office="镇安委办").shown == "镇安委办"


def test_the_memo_starts_again_when_full(tmp_path: Path) -> None:
    env = environment(tmp_path, {"m.j2": "{% set who = name %}"})
    first = module(env, "m.j2", name="0")
    for n in range(1, MAX_REMEMBERED + 1):
        assert module(env, "m.j2", name=str(n)).who == str(n)
    assert module(env, "m.j2", name="0") is not first


def test_renders_sharing_remembered_modules_match_fresh_ones(copy: Path) -> None:
    shared, fresh = TemplateSet.load(copy), TemplateSet.load(copy)
    fresh_env = fresh._templates["_common.j2"].environment
    fresh_env.modules = None  # type: ignore[attr-defined]  # evaluated in every render
    moments: list[datetime | str] = [
        "2026-12-02T09:00:00+08:00",
        datetime(2026, 12, 3, 1, 0, tzinfo=UTC),
    ]
    for occurrence, name in ((0, "张建国"), (1, "张建国"), (0, "李强"), (2, None), (0, "张建国")):
        for role in ("principal", "department", "group", None):
            for issued_at in moments:
                facts = sample_facts("reminder", role=role) | {"occurrence": occurrence}
                facts |= {"recipient_name": name} if role != "group" else {}
                args = ("reminder", None, facts, "https://ack.example/a")
                expected = fresh.render(*args, role=role, issued_at=issued_at)
                assert shared.render(*args, role=role, issued_at=issued_at) == expected


# ------------------------------------------------------------------ the sandbox's fast paths


def stock(tmp_path: Path) -> ImmutableSandboxedEnvironment:
    """Jinja's own sandbox with the renderer's filters, to compare with."""
    ours = environment(tmp_path, {})
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    env.filters.update({k: v for k, v in ours.filters.items() if k != "map"})
    return env


@pytest.mark.parametrize(
    "expression",
    [
        'd.name ~ "|" ~ d.get("name")',
        "d.missing | default('无')",
        "d._hidden",
        "d.items() | list | length",
        "d.keys",
        'steps | map("action_label") | join("、")',
        'steps | map("upper") | join',
        'steps | map("default", "x") | list',
        'rows | map(attribute="a") | list',
        'rows | map(attribute="b", default="-") | list',
        'none | map("action_label") | list',
        '[] | map("action_label") | list',
    ],
)
def test_fast_paths_give_what_jinja_gives(tmp_path: Path, expression: str) -> None:
    values = {
        "d": {"name": "甲", "_hidden": "乙", "keys": "键"},
        "steps": ["letter", "circular", "unknown"],
        "rows": [{"a": 1}, {"a": 2}],
    }
    ours = environment(tmp_path, {}).from_string("{{ " + expression + " }}")
    theirs = stock(tmp_path).from_string("{{ " + expression + " }}")
    assert ours.render(values) == theirs.render(values)


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("d.missing", UndefinedError),
        ("d.__class__", SecurityError),
        ('undefined_name | map("upper") | list', UndefinedError),
    ],
)
def test_fast_paths_refuse_what_jinja_refuses(
    tmp_path: Path, expression: str, error: type[Exception]
) -> None:
    for env in (environment(tmp_path, {}), stock(tmp_path)):
        with pytest.raises(error):
            env.from_string("{{ " + expression + " }}").render(d={"name": "甲"})


def test_templates_are_found_by_name(tmp_path: Path) -> None:
    env = environment(tmp_path, {"a.j2": "A", "b.j2": '{% extends "a.j2" %}'})
    assert env.get_template("b.j2").render() == "A"
    assert env.get_template("a.j2") is env.get_template("a.j2", "b.j2")
    with pytest.raises(TemplateNotFound):
        env.get_template("missing.j2")


# ------------------------------------------------------------------ cached filters


@pytest.mark.parametrize("value", ["甲", "*粗*", "- 列表", "1. 项", "x" * 300, "- " + "x" * 300, 7])
def test_md_escape_remembered_or_not_gives_the_same(value: object) -> None:
    first, again = md_escape(value), md_escape(value)
    assert first == again and type(first) is str
    assert md_escape(str(value)) == first


def test_dates_remembered_give_the_same() -> None:
    moment = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    for _ in range(2):
        assert cn_datetime("2026-12-01T18:00:00+08:00") == "2026年12月1日 18:00"
        assert cn_date(moment) == "2026年12月1日"
        assert cn_date(moment + timedelta(hours=14)) == "2026年12月2日"
        assert cn_datetime("not a date") == "not a date"
