"""Render notices from the ops-editable templates folder.

A notice of ``kind`` (and, for escalations and duty letters, ``action``) is rendered
into every channel family at once: an email subject, a plain-text and an HTML body, a
work-chat markdown body and the named parameters of a provider-side SMS template.
Each family comes from its own file, looked up most specific first::

    {kind}.{action}.subject.j2  then  {kind}.subject.j2
    {kind}.{action}.text.j2     then  {kind}.text.j2
    {kind}.{action}.html.j2     then  {kind}.html.j2
    {kind}.{action}.md.j2       then  {kind}.md.j2
    {kind}.{action}.sms.yaml    then  {kind}.sms.yaml

Templates run in Jinja's immutable sandbox with ``StrictUndefined``; only ``*.html.j2``
files autoescape. Facts are data: they are inserted into the output once and never
compiled, so a hazard title like ``{{ 7*7 }}`` is shown as typed. Markdown templates
pass user text through the ``md_escape`` filter; ``check_templates`` verifies they do.

Every template is compiled once by :meth:`TemplateSet.load`; :meth:`TemplateSet.render`
only evaluates them.

The pieces live in :mod:`services.notifier.templating`; this module is their public face.
"""

from __future__ import annotations

from services.notifier.templating.catalog import (
    ACTIONS,
    DEFAULT_TZ,
    FAMILIES,
    KINDS,
    NOTICE_VARIANTS,
    SMS_PARAM_MAX,
    Rendered,
    expected_files,
)
from services.notifier.templating.check import check_templates
from services.notifier.templating.dates import cn_date, cn_datetime, cn_end_date
from services.notifier.templating.errors import TemplateError, TemplateMissing
from services.notifier.templating.labels import (
    ACTION_LABELS,
    AUTHORITY_LABELS,
    DUTY_LABELS,
    INDUSTRY_LABELS,
    LEVEL_LABELS,
    ROLE_LABELS,
    action_label,
    authority_label,
    cn_num,
    duty_label,
    industry_label,
    level_label,
    percent_label,
    period_label,
    role_label,
)
from services.notifier.templating.samples import HOSTILE_TEXT, sample_facts
from services.notifier.templating.templateset import TemplateSet
from services.notifier.templating.text import lines, md_escape, md_url, paragraphs

__all__ = [
    "ACTIONS",
    "ACTION_LABELS",
    "AUTHORITY_LABELS",
    "DEFAULT_TZ",
    "DUTY_LABELS",
    "FAMILIES",
    "HOSTILE_TEXT",
    "INDUSTRY_LABELS",
    "KINDS",
    "LEVEL_LABELS",
    "NOTICE_VARIANTS",
    "ROLE_LABELS",
    "SMS_PARAM_MAX",
    "Rendered",
    "TemplateError",
    "TemplateMissing",
    "TemplateSet",
    "action_label",
    "authority_label",
    "check_templates",
    "cn_date",
    "cn_datetime",
    "cn_end_date",
    "cn_num",
    "duty_label",
    "expected_files",
    "industry_label",
    "level_label",
    "lines",
    "md_escape",
    "md_url",
    "paragraphs",
    "percent_label",
    "period_label",
    "role_label",
    "sample_facts",
]
