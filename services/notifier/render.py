"""Render notices from the ops-editable templates folder.

A notice of ``kind`` (and, for escalations and duty letters, ``action``) is rendered
into every channel family at once: an email subject, a plain-text and an HTML body, a
work-chat markdown body and the named parameters of a provider-side SMS template.
Each family comes from its own file, and the wording from a ``*.body.j2`` file, looked
up most specific first for the recipient's side (enterprise, department,
committee_office, leader; see ``SIDE_OF_ROLE``)::

    {kind}.{action}.{side}.text.j2  then  {kind}.{action}.text.j2
                                    then  {kind}.{side}.text.j2  then  {kind}.text.j2

and likewise for ``subject.j2``, ``html.j2``, ``md.j2``, ``sms.yaml`` and ``body.j2``.
So a letter to the enterprise and one to the department can say different things, and
ops can still change one generic file for everyone.

Templates run in Jinja's immutable sandbox with ``StrictUndefined``; only ``*.html.j2``
files autoescape. Facts are data: they are inserted into the output once and never
compiled, so a hazard title like ``{{ 7*7 }}`` is shown as typed. Markdown templates
pass user text through the ``md_escape`` filter; ``check_templates`` verifies they do.

Codes (roles, industries, regions, departments, duties, …) are shown with the labels
of the config folder (labels.yaml, and names in directory.yaml): Python holds none.

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
    SIDE_OF_ROLE,
    SIDES,
    SMS_PARAM_MAX,
    Rendered,
    expected_files,
    side_of,
)
from services.notifier.templating.check import check_templates
from services.notifier.templating.dates import cn_date, cn_datetime, cn_end_date
from services.notifier.templating.errors import TemplateError, TemplateMissing
from services.notifier.templating.labels import LabelSet, cn_num, percent_label, period_label
from services.notifier.templating.samples import HOSTILE_TEXT, SAMPLE_ISSUED_AT, sample_facts
from services.notifier.templating.templateset import TemplateSet
from services.notifier.templating.text import lines, md_escape, md_url, paragraphs

__all__ = [
    "ACTIONS",
    "DEFAULT_TZ",
    "FAMILIES",
    "HOSTILE_TEXT",
    "KINDS",
    "NOTICE_VARIANTS",
    "SAMPLE_ISSUED_AT",
    "SIDES",
    "SIDE_OF_ROLE",
    "SMS_PARAM_MAX",
    "LabelSet",
    "Rendered",
    "TemplateError",
    "TemplateMissing",
    "TemplateSet",
    "check_templates",
    "cn_date",
    "cn_datetime",
    "cn_end_date",
    "cn_num",
    "expected_files",
    "lines",
    "md_escape",
    "md_url",
    "paragraphs",
    "percent_label",
    "period_label",
    "sample_facts",
    "side_of",
]
