"""Message templates and their renderer (services/notifier/render.py)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import markupsafe
import pytest

from services.config.load import load_labels
from services.notifier.render import (
    NOTICE_VARIANTS,
    SMS_PARAM_MAX,
    LabelSet,
    Rendered,
    TemplateError,
    TemplateMissing,
    TemplateSet,
    check_templates,
    cn_date,
    cn_datetime,
    cn_end_date,
    md_escape,
    period_label,
    sample_facts,
)

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example" / "templates"
ACK = "https://duban.example.gov.cn/ack/N-7?p=P-1"
CJK = re.compile(r"[\u4e00-\u9fff]{4,}")
HAZARD_KINDS = ("report", "reminder", "escalation", "verification", "supervision", "closure")
HAZARD_VARIANTS = [v for v in NOTICE_VARIANTS if v[0] in HAZARD_KINDS]
HOSTILE_TITLES = [
    "{{ 7*7 }}",
    "{% for x in y %}循环{% endfor %}",
    "{% for %}",
    "<script>alert(1)</script>",
    "</table>",
]


def vid(variant: tuple[str, str | None]) -> str:
    kind, action = variant
    return f"{kind}.{action}" if action else kind


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(SHIPPED)


@pytest.fixture
def copy(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED, target)
    yield target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def md_unescape(text: str) -> str:
    """What a CommonMark renderer shows for md_escape's output."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# ------------------------------------------------------------------ every kind × family


@pytest.mark.parametrize("variant", NOTICE_VARIANTS, ids=vid)
def test_every_variant_renders_every_family(
    templates: TemplateSet, variant: tuple[str, str | None]
) -> None:
    kind, action = variant
    out = templates.render(kind, action, sample_facts(kind, action), ACK)
    assert isinstance(out, Rendered)
    assert out.subject and "\n" not in out.subject and CJK.search(out.subject)
    for body in (out.text, out.html, out.markdown):
        assert CJK.search(body)
        assert "None" not in body
        assert "请点击确认收到" in body
    assert out.html.startswith("<!DOCTYPE html>") and out.html.endswith("</html>")
    assert out.sms_params
    assert all(0 < len(v) <= SMS_PARAM_MAX for v in out.sms_params.values())
    assert "安全生产委员会办公室" in out.text


@pytest.mark.parametrize("variant", NOTICE_VARIANTS, ids=vid)
def test_ack_url_shown_in_every_family_only_when_given(
    templates: TemplateSet, variant: tuple[str, str | None]
) -> None:
    kind, action = variant
    facts = sample_facts(kind, action)
    with_ack = templates.render(kind, action, facts, ACK)
    assert f"请点击确认收到：{ACK}" in with_ack.text
    assert f'<a href="{markupsafe.escape(ACK)}">' in with_ack.html
    assert f"({ACK})" in with_ack.markdown
    without = templates.render(kind, action, facts, None)
    for body in (without.text, without.html, without.markdown):
        assert "请点击确认收到" not in body
        assert "/ack/" not in body


def test_ack_url_must_be_http(templates: TemplateSet) -> None:
    with pytest.raises(TemplateError, match="ack_url"):
        templates.render("reminder", None, sample_facts("reminder"), "javascript:alert(1)")


@pytest.mark.parametrize(
    ("variant", "phrases"),
    [
        (("report", None), ["重大事故隐患告知书", "实行清单制管理", "五落实", "立行立改"]),
        (("reminder", None), ["隐患整改到期提醒", "还有3天", "五落实", "60%"]),
        (("escalation", "letter"), ["关于督促整改重大事故隐患的函", "特此函告", "已逾期5天"]),
        (("escalation", "circular"), ["通报", "三管三必须", "特此通报"]),
        (("escalation", "interview"), ["约谈通知", "约谈", "特此通知"]),
        (("escalation", "exposure"), ["曝光", "特此告知"]),
        (("verification", None), ["审核把关销号", "虚假整改"]),
        (("supervision", None), ["县级挂牌督办", "每周报送整改进展"]),
        (("closure", None), ["予以销号", "同时终止"]),
        (("duty", None), ["主要负责人带队检查", "2026年第四季度", "2026年12月31日"]),
        (("duty", "letter"), ["未履行主要负责人带队检查职责的函", "特此函告"]),
        (("digest", None), ["周报", "2026年第48周", "分区域统计", "分行业统计", "危险化学品"]),
    ],
    ids=lambda v: vid(v) if isinstance(v, tuple) else "",
)
def test_official_wording(
    templates: TemplateSet, variant: tuple[str, str | None], phrases: list[str]
) -> None:
    out = templates.render(*variant, sample_facts(*variant), None)
    for phrase in phrases:
        assert phrase in out.text, phrase
        assert phrase in out.html, phrase


def test_repeat_says_nth_reminder(templates: TemplateSet) -> None:
    # Issue 14: the second sending (occurrence 1, the first repeat) is "第2次".
    facts = {**sample_facts("escalation", "letter"), "occurrence": 1}
    out = templates.render("escalation", "letter", facts, ACK)
    assert out.subject.startswith("【第2次提醒】")
    for body in (out.text, out.html, out.markdown):
        assert "第2次提醒" in body
    first = templates.render("reminder", None, {**facts, "occurrence": 0}, ACK)
    assert "次提醒" not in first.subject + first.text


def test_optional_facts_may_be_missing_or_null(templates: TemplateSet) -> None:
    facts = {
        "hazard_id": "HZ-1",
        "title": "配电箱无漏电保护",
        "level": "general",
        "unit_id": "U-9",
        "unit_name": None,
        "deadline": None,
    }
    for kind in HAZARD_KINDS:
        out = templates.render(kind, "letter" if kind == "escalation" else None, facts, None)
        assert "U-9" in out.text and "一般隐患" in out.text
        assert "None" not in out.text + out.html + out.markdown
        assert "将予以通报" not in out.text  # general hazards: nothing after the letter


def test_reminder_due_today(templates: TemplateSet) -> None:
    out = templates.render("reminder", None, {**sample_facts("reminder"), "days_left": 0}, None)
    assert "今日即到整改期限" in out.text and "（今日到期）" in out.subject


def test_unknown_duty_code_shown_as_is(templates: TemplateSet) -> None:
    facts = {**sample_facts("duty"), "duty": "hazard_training", "period_key": "2026-11"}
    out = templates.render("duty", None, facts, None)
    assert "hazard_training" in out.text and "2026年11月" in out.text


def test_only_some_families(templates: TemplateSet) -> None:
    out = templates.render("reminder", None, sample_facts("reminder"), ACK, families={"sms"})
    assert out.sms_params and out.text == out.html == out.markdown == out.subject == ""
    with pytest.raises(ValueError, match="unknown families"):
        templates.render("reminder", None, sample_facts("reminder"), ACK, families={"fax"})


def test_templates_compiled_at_load(copy: Path) -> None:
    loaded = TemplateSet.load(copy)
    shutil.rmtree(copy)
    for variant in NOTICE_VARIANTS:
        assert loaded.render(*variant, sample_facts(*variant), ACK).text


# ------------------------------------------------------------------ event text is data


def hostile_facts(kind: str, action: str | None, text: str) -> dict[str, object]:
    facts = sample_facts(kind, action)
    if kind == "duty":
        facts["subject_name"] = text
    elif kind == "digest":
        overdue = dict(facts["longest_overdue"][0])  # type: ignore[index]
        facts["longest_overdue"] = [{**overdue, "title": text, "unit_name": text}]
        facts["by_region"] = [{"region": text, "open": 1, "overdue": 0, "closed": 0, "reported": 1}]
    else:
        facts["title"] = text
    return facts


@pytest.mark.parametrize("text", HOSTILE_TITLES)
@pytest.mark.parametrize("variant", NOTICE_VARIANTS, ids=vid)
def test_event_text_stays_inert_in_every_family(
    templates: TemplateSet, variant: tuple[str, str | None], text: str
) -> None:
    kind, action = variant
    out = templates.render(kind, action, hostile_facts(kind, action, text), None)
    benign = templates.render(kind, action, hostile_facts(kind, action, "正常名称"), None)
    # plain text: shown exactly as typed, never evaluated
    assert text in out.text
    assert "49" not in out.text
    # HTML: escaped, and the page structure is unchanged
    assert str(markupsafe.escape(text)) in out.html
    assert "<script>" not in out.html
    assert out.html.count("</table>") == benign.html.count("</table>")
    assert out.html.count("<") == benign.html.count("<")
    # markdown: escaped, and reads back as the original text
    assert md_escape(text) in out.markdown
    assert text in md_unescape(out.markdown)
    assert "<" not in out.markdown.replace(md_escape(text), "")
    assert "<script>" not in out.markdown and "</table>" not in out.markdown
    # subject and SMS: as typed (one line)
    if kind in HAZARD_KINDS:
        assert text in out.subject
        assert text in out.sms_params["title"]
    assert "49" not in out.subject + "".join(out.sms_params.values())


@pytest.mark.parametrize("variant", HAZARD_VARIANTS, ids=vid)
def test_markdown_cannot_forge_links_or_mentions(
    templates: TemplateSet, variant: tuple[str, str | None]
) -> None:
    title = (
        "[请点击确认](http://evil.example/ack) <@all> <at user_id='all'></at>"
        " @所有人 **急** `x` # 标题"
    )
    facts = {**sample_facts(*variant), "title": title}
    md = templates.render(*variant, facts, None).markdown
    assert "](http://evil" not in md
    assert "<@all>" not in md and "<at " not in md
    assert "**急**" not in md and "`x`" not in md
    assert "\\@所有人" in md and "\\# 标题" in md
    assert title in md_unescape(md)


def test_markdown_newlines_cannot_start_blocks(templates: TemplateSet) -> None:
    facts = {**sample_facts("reminder"), "title": "A\n# 假标题\n- 假列表\n> 假引用"}
    md = templates.render("reminder", None, facts, None).markdown
    assert not re.search(r"^(#|- 假|>)", md, re.MULTILINE)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain 中文", "plain 中文"),
        ("[a](b)", "\\[a\\]\\(b\\)"),
        ("<@u1>", "&lt;\\@u1&gt;"),
        ("a*b_c`d#e~f|g\\h", "a\\*b\\_c\\`d\\#e\\~f\\|g\\\\h"),
        ("A&B", "A&amp;B"),
        ("- item", "\\- item"),
        ("12. item", "12\\. item"),
        ("line1\nline2", "line1 line2"),
        (None, ""),
        (42, "42"),
    ],
)
def test_md_escape(raw: object, escaped: str) -> None:
    assert md_escape(raw) == escaped


# ------------------------------------------------------------------ lookup and errors


def test_missing_template_names_the_file(copy: Path) -> None:
    (copy / "closure.md.j2").unlink()
    loaded = TemplateSet.load(copy)
    with pytest.raises(TemplateMissing) as caught:
        loaded.render("closure", None, sample_facts("closure"), None)
    assert "closure.md.j2" in str(caught.value)
    # Issue 14: the recipient's side (the sample's principal: enterprise) is looked up first.
    assert caught.value.expected == ("closure.enterprise.md.j2", "closure.md.j2")
    assert caught.value.family == "markdown"


def test_missing_action_template_names_both_candidates(templates: TemplateSet) -> None:
    with pytest.raises(TemplateMissing) as caught:
        templates.render("escalation", "summons", sample_facts("escalation"), None)
    message = str(caught.value)
    assert "escalation.summons.subject.j2" in message and "escalation.subject.j2" in message


def test_unknown_kind_is_missing(templates: TemplateSet) -> None:
    with pytest.raises(TemplateMissing, match=r"fax\.subject\.j2"):
        templates.render("fax", None, {}, None)


def test_most_specific_file_wins(copy: Path) -> None:
    (copy / "verification.letter.subject.j2").write_text("逾期未验收：{{ title }}", "utf-8")
    loaded = TemplateSet.load(copy)
    facts = sample_facts("verification")
    specific = loaded.render("verification", "letter", facts, None)
    generic = loaded.render("verification", None, facts, None)
    assert specific.subject == f"逾期未验收：{facts['title']}"
    assert generic.subject.startswith("【验收销号提醒】")
    assert specific.text == generic.text  # other families fall back to verification.*
    assert loaded.variant_files("verification", "letter")["text"] == "verification.text.j2"


def test_undefined_variable_names_template_and_variable(copy: Path) -> None:
    edit(copy / "reminder.body.j2", "“{{ title }}”", "“{{ titel }}”")
    loaded = TemplateSet.load(copy)
    with pytest.raises(TemplateError) as caught:
        loaded.render("reminder", None, sample_facts("reminder"), None)
    assert caught.value.variable == "titel"
    assert caught.value.template == "reminder.body.j2"
    assert "reminder.body.j2" in str(caught.value) and "'titel'" in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)


def test_missing_required_fact_is_named(templates: TemplateSet) -> None:
    facts = sample_facts("reminder")
    del facts["title"]
    with pytest.raises(TemplateError) as caught:
        templates.render("reminder", None, facts, None)
    assert caught.value.variable == "title"


def test_undefined_variable_in_sms_names_param(copy: Path) -> None:
    edit(copy / "reminder.sms.yaml", "{{ days_left }}", "{{ days }}")
    loaded = TemplateSet.load(copy)
    with pytest.raises(TemplateError) as caught:
        loaded.render("reminder", None, sample_facts("reminder"), None)
    assert "reminder.sms.yaml" in str(caught.value) and "'days'" in str(caught.value)


def test_syntax_error_fails_load_naming_file_and_line(copy: Path) -> None:
    (copy / "closure.text.j2").write_text("第一行\n{% if %}\n", "utf-8")
    with pytest.raises(TemplateError, match=r"closure\.text\.j2:2: syntax error"):
        TemplateSet.load(copy)


def test_sandbox_blocks_internals_and_mutation(copy: Path) -> None:
    (copy / "closure.subject.j2").write_text("{{ title.__class__.__mro__ }}", "utf-8")
    (copy / "report.subject.j2").write_text("{{ [1].append(2) }}{{ title }}", "utf-8")
    loaded = TemplateSet.load(copy)
    with pytest.raises(TemplateError, match=r"closure\.subject\.j2"):
        loaded.render("closure", None, sample_facts("closure"), None)
    with pytest.raises(TemplateError, match=r"report\.subject\.j2"):
        loaded.render("report", None, sample_facts("report"), None)


@pytest.mark.parametrize(
    "subject",
    [
        '{% set b = load("_common.j2") %}{{ b._TemplateModule__attrs }}',  # private name
        '{% set b = load("_common.j2") %}{{ b.__class__ }}',
        '{% set b = load("_common.j2") %}{{ b.issuer.__class__.__mro__ }}',  # via a value
        "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
        '{% set f = "{0.__class__}".format %}{{ f(title) }}',  # str.format stays sandboxed
    ],
)
def test_module_and_loop_attributes_stay_sandboxed(copy: Path, subject: str) -> None:
    (copy / "closure.subject.j2").write_text(subject, "utf-8")
    loaded = TemplateSet.load(copy)
    with pytest.raises(TemplateError, match=r"closure\.subject\.j2"):
        loaded.render("closure", None, sample_facts("closure"), None)


def test_module_values_read_through_the_fast_path(copy: Path) -> None:
    (copy / "closure.subject.j2").write_text(
        '{% set b = load("_common.j2") %}{{ b.issuer }}{% for x in "ab" %}{{ loop.index }}'
        "{% endfor %}",
        "utf-8",
    )
    rendered = TemplateSet.load(copy).render("closure", None, sample_facts("closure"), None)
    assert rendered.subject == "安全生产委员会办公室12"


def test_a_missing_module_value_takes_its_default_or_is_named(copy: Path) -> None:
    (copy / "closure.subject.j2").write_text(
        '{% set b = load("_common.j2") %}{{ b.nothing | default("无") }}', "utf-8"
    )
    (copy / "report.subject.j2").write_text(
        '{% set b = load("_common.j2") %}{{ b.nothing }}', "utf-8"
    )
    loaded = TemplateSet.load(copy)
    assert loaded.render("closure", None, sample_facts("closure"), None).subject == "无"
    with pytest.raises(TemplateError) as caught:
        loaded.render("report", None, sample_facts("report"), None)
    assert caught.value.variable == "nothing" and caught.value.template == "report.subject.j2"


@pytest.mark.parametrize(
    "rows",
    [
        '[("名称", "甲"), ("编号", ""), ("等级", none), ("单位", "乙"), ("进度", 0)]',
        '[("a", "b", "c"), "ab", ("x", [])]',
        "[]",
    ],
)
def test_filled_keeps_what_selectattr_keeps(copy: Path, rows: str) -> None:
    (copy / "closure.subject.j2").write_text(
        f"{{{{ {rows} | filled }}}}|{{{{ {rows} | selectattr('1') | list }}}}", "utf-8"
    )
    subject = TemplateSet.load(copy).render("closure", None, sample_facts("closure"), None).subject
    ours, theirs = subject.split("|")
    assert ours == theirs


def test_filled_names_a_row_without_a_value(copy: Path) -> None:
    (copy / "closure.subject.j2").write_text(
        '{{ [("名称", "甲"), ("只有名称",)] | filled }}', "utf-8"
    )
    with pytest.raises(TemplateError, match=r"closure\.subject\.j2.*只有名称"):
        TemplateSet.load(copy).render("closure", None, sample_facts("closure"), None)


# ------------------------------------------------------------------ check_templates


def test_check_shipped_templates_has_no_problems() -> None:
    assert check_templates(SHIPPED) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("reminder.body.j2", "“{{ title }}”", "“{{ titel }}”", "reminder.body.j2:"),
        ("escalation.circular.html.j2", "{% ext", "{% if %}{% ext", "circular.html.j2:2: syntax"),
        ("_layout.md.j2", "{{ value | md_escape }}", "{{ value }}", "report.md.j2"),
        ("_layout.html.j2", '<a href="{{ ack_url }}">{{ ack_url }}</a>', "见邮件", "html.j2"),
        ("supervision.sms.yaml", '"{{ title }}"', "{{ title }}", "supervision.sms.yaml:"),
        ("digest.body.j2", '"deadline", "date"', '"deadline", "dat"', "rendering digest."),
    ],
)
def test_check_broken_copy_names_the_file(
    copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(copy / file, old, new)
    problems = check_templates(copy)
    assert problems, "the broken copy passed the check"
    assert any(expected in p for p in problems), problems
    assert all(re.match(r"^[_a-z.]+\.(j2|yaml)[:, ]", p) for p in problems), problems


def test_check_reports_missing_and_misnamed_files(copy: Path) -> None:
    (copy / "closure.md.j2").unlink()
    shutil.copy(copy / "report.text.j2", copy / "reprot.text.j2")
    problems = check_templates(copy)
    assert any("closure.md.j2: file missing" in p for p in problems)
    assert any("reprot.text.j2: unknown notice kind" in p for p in problems)


def test_check_missing_folder(tmp_path: Path) -> None:
    problems = check_templates(tmp_path / "nope")
    assert len(problems) == 1 and "not found" in problems[0]


# ------------------------------------------------------------------ digest


def test_digest_with_zeros_and_empty_lists(templates: TemplateSet) -> None:
    facts = sample_facts("digest", empty=True)
    out = templates.render("digest", None, facts, None)
    for body in (out.text, out.html, out.markdown):
        assert "本周无新报告的重大事故隐患" in body
        assert "本周无逾期未整改的重大事故隐患" in body
        assert "本周无未履行法定职责的情况" in body
    assert out.html.count("<table") == 1  # the totals table only
    monthly = templates.render("digest", None, {**facts, "period": "monthly"}, None)
    assert "本月无" in monthly.text and "月报" in monthly.subject
    assert out.sms_params["open"] == "0"


def test_digest_tables_in_html_and_text(templates: TemplateSet) -> None:
    out = templates.render("digest", None, sample_facts("digest"), None)
    assert out.html.count("<table") == 7  # totals, 6 statistics tables
    assert "<td>群众举报</td><td>3</td><td>1</td><td>4</td><td>1</td>" in out.html
    assert "<td>1</td><td>应急管理办公室</td><td>4</td><td>2</td><td>14</td>" in out.html
    assert "按期销号率：67%" in out.text
    assert '<th scope="col">区域</th>' in out.html
    assert "<td>白土镇</td><td>2</td><td>3</td><td>7</td><td>2</td>" in out.html
    assert "<td>尾矿库排洪设施淤堵</td>" in out.html and "<td>29天</td>" in out.html
    assert "区域：白土镇；新报告：2；整改销号：3；尚未销号：7；其中逾期：2" in out.text
    assert "尾矿库排洪设施淤堵" in out.text and "2026年10月31日" in out.text
    assert "青阳镇某建筑公司" in out.markdown and "应急疏散演练" in out.markdown
    assert "统计时段：2026年11月23日至2026年11月29日" in out.text


# ------------------------------------------------------------------ SMS


def test_sms_params_truncated_to_provider_limit(templates: TemplateSet) -> None:
    title = "某某化工有限公司甲类仓库可燃气体检测报警装置长期失效且未设置独立的紧急切断装置"
    facts = {**sample_facts("reminder"), "title": title, "unit_name": "【市应急局】某公司"}
    params = templates.render("reminder", None, facts, None).sms_params
    assert len(title) > SMS_PARAM_MAX
    assert params["title"] == title[: SMS_PARAM_MAX - 1] + "…"
    assert len(params["title"]) == SMS_PARAM_MAX
    assert params["unit"] == "〔市应急局〕某公司"
    assert list(params) == ["unit", "title", "deadline", "days"]
    assert params == {**params, "deadline": "2026年12月1日", "days": "3"}


def test_sms_empty_value_becomes_placeholder(templates: TemplateSet) -> None:
    facts = {**sample_facts("reminder"), "deadline": None, "days_left": None}
    params = templates.render("reminder", None, facts, None).sms_params
    assert params["deadline"] == "无" and params["days"] == "无"


def test_sms_yaml_values_must_be_quoted(copy: Path) -> None:
    (copy / "closure.sms.yaml").write_text("params:\n  title: {{ title }}\n", "utf-8")
    with pytest.raises(TemplateError, match=r"closure\.sms\.yaml:2: .*double quotes"):
        TemplateSet.load(copy)


# ------------------------------------------------------------------ filters


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T18:00:00+08:00", "2026年12月1日 18:00"),
        ("2026-12-01T10:00:00Z", "2026年12月1日 18:00"),
        ("2026-12-01", "2026年12月1日"),
        (datetime(2026, 3, 5, 9, 7, tzinfo=ZoneInfo("Asia/Shanghai")), "2026年3月5日 09:07"),
        (None, ""),
        ("不是日期", "不是日期"),
    ],
)
def test_cn_datetime(value: object, expected: str) -> None:
    assert cn_datetime(value) == expected


def test_dates() -> None:
    assert cn_date("2026-12-01T23:30:00+08:00") == "2026年12月1日"
    assert cn_date("2026-11-30T20:00:00Z") == "2026年12月1日"
    assert cn_end_date("2027-01-01T00:00:00+08:00") == "2026年12月31日"
    assert cn_end_date("2026-12-31T18:00:00+08:00") == "2026年12月31日"


def test_labels() -> None:
    # Issue 14: the labels come from the example config's labels.yaml, no longer from Python.
    filters = LabelSet.of(*load_labels(SHIPPED.parent)).filters()
    level_label, authority_label = filters["level_label"], filters["authority_label"]
    duty_label = filters["duty_label"]
    assert level_label("major") == "重大事故隐患" and level_label("general") == "一般隐患"
    assert authority_label("county") == "县级挂牌督办"
    assert authority_label("province") == "省级挂牌督办"
    assert duty_label("principal_inspection") == "主要负责人带队检查"
    assert duty_label("evacuation_drill") == "应急疏散演练"
    assert duty_label("weekly_report") == "周上报"
    assert duty_label("monthly_analysis_meeting") == "月度安全生产分析会"
    assert duty_label("new_duty") == "new_duty"
    assert period_label("2026-Q4") == "2026年第四季度"
    assert period_label("2026-W07") == "2026年第7周"
    assert period_label("2026-H1") == "2026年上半年"
    assert period_label("2026") == "2026年"
    assert period_label("weird") == "weird"
