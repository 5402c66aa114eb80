"""A hazard found by public report (群众举报) says so in its notices, to every side."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifier.templating.samples import sample_facts
from services.notifier.templating.templateset import TemplateSet

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example" / "templates"
ROLES = ("principal", "department", "committee_office", "leader")


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(SHIPPED)


@pytest.mark.parametrize("role", ROLES)
def test_the_report_of_a_public_report_says_so(templates: TemplateSet, role: str) -> None:
    facts = {**sample_facts("report", role=role), "found_by": "public_report"}
    out = templates.render("report", None, facts, None)
    for body in (out.text, out.html, out.markdown):
        assert "经群众举报，" in body and "经排查，" not in body
        assert "群众举报" in body.split("经群众举报", 1)[1]  # the facts table names it too


@pytest.mark.parametrize("found_by", ["inspection", "self_check", "other", None])
def test_other_reports_keep_their_wording(templates: TemplateSet, found_by: str | None) -> None:
    facts = {**sample_facts("report", role="principal"), "found_by": found_by}
    out = templates.render("report", None, facts, None)
    assert "经排查，" in out.text and "经群众举报" not in out.text
