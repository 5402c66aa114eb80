"""``*.sms.yaml`` files: the named parameters of a provider-side SMS template."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from jinja2 import Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from services.notifier.templating.catalog import SMS_PARAM_MAX
from services.notifier.templating.errors import TemplateError
from services.notifier.templating.text import one_line

_PARAM_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: 【】 frame the signature in a Chinese SMS; providers refuse them inside variables.
_SMS_CHARS: Final = str.maketrans({"【": "〔", "】": "〕"})


@dataclass(frozen=True, slots=True)
class SmsParams:
    """The compiled ``params:`` of one ``*.sms.yaml`` file, as a single template.

    It sets ``p0``, ``p1``, ...: one context per render instead of one per parameter."""

    file: str
    names: tuple[str, ...]
    starts: tuple[int, ...]
    """First template line of each parameter, to name it in error messages."""
    template: Template | None

    def param_at(self, line: int) -> str | None:
        """The name of the parameter on template line ``line``."""
        index = bisect_right(self.starts, line) - 1
        return self.names[index] if index >= 0 else None


def sms_value(text: str) -> str:
    """A rendered parameter as providers accept it: one line, at most SMS_PARAM_MAX long.

    Characters providers reject are replaced, and an empty value becomes 无 (providers
    refuse empty variables)."""
    value = one_line(text).translate(_SMS_CHARS) or "无"
    if len(value) > SMS_PARAM_MAX:
        value = value[: SMS_PARAM_MAX - 1] + "…"
    return value


def _yaml_error(path: Path, exc: YAMLError) -> TemplateError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    message = f"{path.name}:{line}: invalid YAML: {problem}" if line else f"{path.name}: {problem}"
    # An unquoted {{ x }} is a YAML flow mapping: the usual mistake, so say how to fix it.
    if "{" in problem or "unhashable" in problem:
        message += ' (write values that contain {{ … }} in double quotes: title: "{{ title }}")'
    return TemplateError(message, template=path.name, line=line)


def _read_sms_params(path: Path) -> dict[str, str]:
    try:
        document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise _yaml_error(path, exc) from exc
    if not isinstance(document, dict) or set(document) != {"params"}:
        raise TemplateError(f"{path.name}: expected one key 'params:'", template=path.name)
    params = document["params"] or {}
    if not isinstance(params, dict):
        raise TemplateError(f"{path.name}: 'params' must map names to values", template=path.name)
    for name, source in params.items():
        where = f"{path.name}, param '{name}'"
        if not isinstance(name, str) or not _PARAM_NAME_RE.match(name):
            raise TemplateError(f"{where}: a name uses letters, digits and _", template=path.name)
        if not isinstance(source, str):
            raise TemplateError(
                f'{where}: the value must be a quoted text, e.g. {name}: "{{{{ title }}}}"',
                template=path.name,
            )
    return params


def load_sms(env: ImmutableSandboxedEnvironment, path: Path, origins: dict[str, str]) -> SmsParams:
    """Parse ``params: {name: "jinja text", ...}`` and compile the values together."""
    params = _read_sms_params(path)
    filename = str(path)
    starts: list[int] = []
    parts: list[str] = []
    line = 1
    for index, (name, source) in enumerate(params.items()):
        # Parse each value alone first, so a syntax error names its parameter.
        try:
            env.parse(source, name=path.name)
        except TemplateSyntaxError as exc:
            where = f"{path.name}, param '{name}'"
            raise TemplateError(f"{where}: {exc.message}", template=path.name) from exc
        starts.append(line)
        parts.append(f"{{% set p{index} %}}{source}{{% endset %}}\n")
        line += source.count("\n") + 1
    origins[filename] = path.name
    template = None
    if parts:
        code = env.compile("".join(parts), name=path.name, filename=filename)
        template = env.template_class.from_code(env, code, env.make_globals(None))
    return SmsParams(path.name, tuple(params), tuple(starts), template)
