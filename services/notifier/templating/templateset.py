"""TemplateSet: a folder's templates compiled once, rendered per notice in every family."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Template, TemplateSyntaxError
from jinja2 import UndefinedError as _JinjaUndefinedError
from jinja2.exceptions import SecurityError

from services.config.load import load_labels
from services.config.positions import ConfigError
from services.notifier.templating.catalog import (
    DEFAULT_TZ,
    FAMILIES,
    OPTIONAL_FACTS,
    SIDES_WITHOUT_ACK,
    Rendered,
    expected_files,
    known_families,
    side_of,
)
from services.notifier.templating.environment import (
    RENDER_CACHE,
    compile_template,
    evaluate,
    freeze_globals,
    make_env,
)
from services.notifier.templating.errors import (
    VIA,
    TemplateError,
    TemplateMissing,
    syntax_error,
    undefined_name,
)
from services.notifier.templating.labels import LabelSet
from services.notifier.templating.sms import SmsParams, load_sms, sms_value
from services.notifier.templating.text import one_line, tidy


@dataclass(frozen=True, slots=True)
class _Variant:
    """The resolved templates of one (kind, action, side); ``body`` is its wording file."""

    files: dict[str, str]
    body: str | None
    subject: Template
    text: Template
    html: Template
    markdown: Template
    sms: SmsParams


class TemplateSet:
    """The compiled templates of one folder. Build with :meth:`load`; thread-safe to render."""

    def __init__(
        self,
        directory: Path,
        templates: Mapping[str, Template],
        sms: Mapping[str, SmsParams],
        origins: Mapping[str, str],
        broken: frozenset[str] = frozenset(),
    ) -> None:
        self.directory = directory
        self._broken = broken
        self._templates = dict(templates)
        self._sms = dict(sms)
        self._origins = dict(origins)
        self._files = frozenset(self._templates) | frozenset(self._sms)
        # The environment's globals (frozen at load), where each render's context starts.
        first = next(iter(self._templates.values()), None)
        self._globals: dict[str, Any] = dict(first.globals) if first is not None else {}
        self._variants: dict[tuple[str, str | None, str | None, str | None], _Variant] = {}

    # -- loading

    @classmethod
    def load(
        cls, directory: Path, *, tz: str = DEFAULT_TZ, labels: LabelSet | None = None
    ) -> TemplateSet:
        """Compile every ``*.j2`` and ``*.sms.yaml`` file in ``directory``.

        ``labels``: the codes' Chinese labels and the office; by default read from the
        config folder holding ``directory`` (labels.yaml and directory.yaml, both
        optional). Raises :class:`TemplateError` naming the file and line of the first
        problem."""
        return cls._load(Path(directory), tz, problems=None, labels=labels)

    @classmethod
    def _load(
        cls,
        directory: Path,
        tz: str,
        problems: list[str] | None,
        labels: LabelSet | None = None,
    ) -> TemplateSet:
        """Like :meth:`load`; with ``problems``, a file that fails is noted there instead."""
        if not directory.is_dir():
            raise TemplateError(f"{directory}: template folder not found", template=str(directory))
        env = make_env(directory, ZoneInfo(tz), labels or _labels_beside(directory, problems))
        templates: dict[str, Template] = {}
        sms: dict[str, SmsParams] = {}
        origins: dict[str, str] = {}
        broken: set[str] = set()
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            try:
                if path.name.endswith(".j2"):
                    template = compile_template(env, path.name)
                    templates[path.name] = template
                    origins[template.filename or path.name] = path.name
                elif path.name.endswith(FAMILIES["sms"]):
                    sms[path.name] = load_sms(env, path, origins)
            except TemplateError as exc:
                if problems is None:
                    raise
                problems.append(str(exc))
                broken.add(path.name)
        freeze_globals(env)
        return cls(directory, templates, sms, origins, frozenset(broken))

    # -- lookup

    def files(self) -> list[str]:
        """Names of the loaded template files."""
        return sorted(self._files)

    def variant_files(
        self,
        kind: str,
        action: str | None,
        side: str | None = None,
        subject_kind: str | None = None,
    ) -> dict[str, str]:
        """Family → file name used for ``kind``/``action`` written to ``side`` (with
        ``"body"`` → its wording file, when there is one); raises TemplateMissing."""
        variant = self._variant(kind, action, side, subject_kind)
        return {**variant.files, "body": variant.body} if variant.body else dict(variant.files)

    def sms_param_names(
        self,
        kind: str,
        action: str | None,
        side: str | None = None,
        subject_kind: str | None = None,
    ) -> tuple[str, ...]:
        """Names of the SMS parameters ``kind``/``action`` renders; raises TemplateMissing."""
        return self._variant(kind, action, side, subject_kind).sms.names

    def has_task_files(self, kind: str, action: str | None) -> bool:
        """Whether any ``task.`` file words ``kind``/``action`` for supervised tasks."""
        head = f"task.{kind}.{action}." if action else f"task.{kind}."
        return any(name.startswith(head) for name in self._files)

    def _variant(
        self, kind: str, action: str | None, side: str | None, subject_kind: str | None = None
    ) -> _Variant:
        task = subject_kind if subject_kind == "task" else None
        key = (kind, action, side, task)
        variant = self._variants.get(key)
        if variant is None:
            variant = self._resolve(kind, action, side, task)
            self._variants[key] = variant
        return variant

    def _find(
        self,
        kind: str,
        action: str | None,
        family: str,
        side: str | None,
        subject_kind: str | None = None,
    ) -> str | None:
        expected = expected_files(kind, action, family, side, subject_kind)
        found = next((n for n in expected if n in self._files or n in self._broken), None)
        if found is None and family != "body":
            raise TemplateMissing(kind, action, family, expected)
        if found in self._broken:
            raise TemplateError(f"{found}: could not be loaded", template=found)
        return found

    def _resolve(
        self, kind: str, action: str | None, side: str | None, subject_kind: str | None
    ) -> _Variant:
        files: dict[str, str] = {}
        for family in FAMILIES:
            found = self._find(kind, action, family, side, subject_kind)
            assert found is not None  # _find raises for a missing family file
            files[family] = found
        return _Variant(
            files=files,
            body=self._find(kind, action, "body", side, subject_kind),
            subject=self._templates[files["subject"]],
            text=self._templates[files["text"]],
            html=self._templates[files["html"]],
            markdown=self._templates[files["markdown"]],
            sms=self._sms[files["sms"]],
        )

    # -- rendering

    def render(
        self,
        kind: str,
        action: str | None,
        facts: Mapping[str, object],
        ack_url: str | None,
        *,
        families: Collection[str] | None = None,
        role: str | None = None,
        issued_at: datetime | str | None = None,
    ) -> Rendered:
        """Render one notice in every family (or only ``families``; the others stay empty).

        ``families`` is e.g. ``("subject", "markdown")`` for a chat robot. ``role`` (by
        default the facts' ``recipient_role``) picks the side's files; ``issued_at`` is
        the date letters carry. A group post never shows ``ack_url`` (anyone in the
        group could follow it). Raises :class:`TemplateMissing` when no file exists for
        a family and :class:`TemplateError` when a template fails (e.g. an undefined
        variable)."""
        side = side_of(role if role is not None else facts.get("recipient_role"))
        variant = self._variant(kind, action, side, str(facts.get("subject_kind") or ""))
        if side in SIDES_WITHOUT_ACK:
            ack_url = None
        wanted = FAMILIES.keys() if families is None else known_families(families)
        if ack_url is not None and not ack_url.startswith(("https://", "http://")):
            raise TemplateError(f"ack_url must be an http(s) URL, got {ack_url[:40]!r}")
        context: dict[str, Any] = {**self._globals, **OPTIONAL_FACTS, **facts, RENDER_CACHE: {}}
        context.update(kind=kind, action=action, side=side, ack_url=ack_url, issued_at=issued_at)
        if variant.body is not None:
            context["body_template"] = variant.body
        subject = one_line(self._run(variant.subject, context, variant.files["subject"]))
        context["subject"] = subject
        files = variant.files

        def body(family: str, template: Template) -> str:
            return self._run(template, context, files[family]) if family in wanted else ""

        return Rendered(
            subject=subject if "subject" in wanted else "",
            text=tidy(body("text", variant.text)),
            html=body("html", variant.html).strip(),
            markdown=tidy(body("markdown", variant.markdown)),
            sms_params=self._sms_params(variant.sms, context) if "sms" in wanted else {},
        )

    def _sms_params(self, sms: SmsParams, context: Mapping[str, Any]) -> dict[str, str]:
        if sms.template is None:
            return {}
        try:
            module = sms.template.make_module(dict(context))
        except Exception as exc:
            raise self._wrap(exc, sms.file) from exc
        return {name: sms_value(str(getattr(module, f"p{i}"))) for i, name in enumerate(sms.names)}

    def _run(self, template: Template, context: dict[str, Any], entry: str) -> str:
        try:
            return evaluate(template, context)
        except TemplateError:
            raise
        except Exception as exc:
            raise self._wrap(exc, entry) from exc

    # -- errors

    def _wrap(self, exc: Exception, entry: str) -> TemplateError:
        """A TemplateError naming the file and line where ``exc`` happened."""
        if isinstance(exc, TemplateSyntaxError):
            return syntax_error(exc)
        where, line = self._locate(exc.__traceback__) or (entry, None)
        sms = self._sms.get(where)
        if sms is not None and line is not None:
            where, line = f"{where}, param '{sms.param_at(line)}'", None
        at = f"{where}:{line}" if line else where
        via = "" if where == entry else f"{VIA}{entry})"
        if isinstance(exc, _JinjaUndefinedError):
            name = undefined_name(exc.message or str(exc))
            message = f"{at}: undefined variable '{name}'{via}"
            return TemplateError(message, template=where, variable=name, line=line)
        if isinstance(exc, SecurityError):
            return TemplateError(f"{at}: not allowed in templates: {exc}{via}", template=where)
        message = f"{at}: {type(exc).__name__}: {exc}{via}"
        return TemplateError(message, template=where, line=line)

    def _locate(self, tb: TracebackType | None) -> tuple[str, int] | None:
        """The innermost template frame of a traceback: (file name, template line)."""
        found = None
        while tb is not None:
            name = self._origins.get(tb.tb_frame.f_code.co_filename)
            if name is not None:
                found = (name, tb.tb_lineno)
            tb = tb.tb_next
        return found


def _labels_beside(directory: Path, problems: list[str] | None) -> LabelSet:
    """The labels of the config folder holding ``directory``; a broken file is a
    TemplateError (or, with ``problems``, noted there and its labels left out)."""
    try:
        return LabelSet.of(*load_labels(directory.parent))
    except ConfigError as exc:
        if problems is None:
            raise TemplateError(f"labels: {exc}") from exc
        problems += [f"labels: {p}" for p in exc.problems]
        return LabelSet()
