"""The right words (issue 14): every template, for every recipient side and channel family,
rendered against the sample facts and read the way a recipient would."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from services.notifier.messages import render_for
from services.notifier.render import (
    NOTICE_VARIANTS,
    SAMPLE_ISSUED_AT,
    SIDE_OF_ROLE,
    SIDES,
    Rendered,
    TemplateSet,
    check_templates,
    sample_facts,
)
from services.notifier.templating.task_samples import sample_task_facts
from tests.unit.test_notifier_deliver import ScriptedChannel

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
ACK = "https://duban.example.gov.cn/ack/N-7?p=P-1"
LEFTOVER_CODE = re.compile(r"（[a-z_]+）")
ZERO_DAYS = re.compile(r"(?<!\d)0天")
#: One role per side; None renders with no role at all (the generic files).
ROLE_OF_SIDE: dict[str | None, str | None] = {
    None: None,
    **{side: next(r for r, s in SIDE_OF_ROLE.items() if s == side) for side in SIDES},
}
#: Codes and ids in the sample facts that a message must show as names, never as they are.
SAMPLE_CODES = (
    "baitu",
    "qingyang",
    "hazardous_chemicals",
    "tailings_pond",
    "construction",
    "major",
    "general",
    "rectifying",
    "rectified",
    "closed",
    "county",
    "inspection",
    "principal_inspection",
    "evacuation_drill",
    "weekly_report",
    "housing",
    "letter",
    "circular",
    "interview",
    "exposure",
    *SIDE_OF_ROLE,
)
CASES = [
    (kind, action, side)
    for kind, action in NOTICE_VARIANTS
    for side in ROLE_OF_SIDE
    if not (kind == "digest" and side == "enterprise")  # digests never go to units
]


def case_id(case: tuple[str, str | None, str | None]) -> str:
    kind, action, side = case
    return ".".join(p for p in (kind, action, side or "generic") if p)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def render(
    templates: TemplateSet, kind: str, action: str | None, role: str | None, **facts: object
) -> Rendered:
    sample = {**sample_facts(kind, action, role=role), **facts}
    return templates.render(kind, action, sample, ACK, issued_at=SAMPLE_ISSUED_AT)


def readable(out: Rendered) -> list[str]:
    """Every text a recipient reads: subject, bodies (HTML without markup), SMS values."""
    html = re.sub(r"<style>.*?</style>|<[^>]+>", " ", out.html, flags=re.S)
    return [out.subject, out.text, html, out.markdown, *out.sms_params.values()]


def words_of(texts: list[str]) -> str:
    # the ack link is the one place ids may appear
    return "\n".join(texts).replace(ACK, "").replace("duban.example.gov.cn/ack/N-7?p=P-1", "")


# ------------------------------------------------------------------ every template, every side


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_no_codes_ids_or_zero_days_in_any_family(
    templates: TemplateSet, case: tuple[str, str | None, str | None]
) -> None:
    kind, action, side = case
    out = render(templates, kind, action, ROLE_OF_SIDE[side])
    texts = words_of(readable(out))
    assert not LEFTOVER_CODE.search(texts), LEFTOVER_CODE.search(texts)
    assert not ZERO_DAYS.search(texts)
    leaked = [c for c in SAMPLE_CODES if re.search(rf"(?<![A-Za-z_]){c}(?![A-Za-z_])", texts)]
    assert not leaked, leaked
    assert "None" not in texts


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_signed_dated_and_acknowledged_after_the_body(
    templates: TemplateSet, case: tuple[str, str | None, str | None]
) -> None:
    kind, action, side = case
    out = render(templates, kind, action, ROLE_OF_SIDE[side])
    for body in (out.text, out.markdown):
        signature = body.index("白土镇安全生产委员会办公室")
        dated = body.index("2026年12月2日", signature)
        if side == "group":  # a group post carries no personal acknowledgement link
            assert "请点击确认收到" not in body and "duban.example.gov.cn/ack" not in body
            assert signature < dated
            continue
        ack = body.index("请点击确认收到")
        assert signature < dated < ack
        for closing in ("特此函告。", "特此通报。", "特此通知。", "特此告知。", "特此报告。"):
            if closing in body:
                assert body.index(closing) < signature
    assert re.search(r'class="issuer">白土镇安全生产委员会办公室<br>2026年12月2日</p>', out.html)


@pytest.mark.parametrize(
    ("kind", "action"), [v for v in NOTICE_VARIANTS if v[0] != "digest"], ids=str
)
def test_the_enterprise_is_never_told_to_urge_others(
    templates: TemplateSet, kind: str, action: str | None
) -> None:
    for role in ("principal", "controller", "safety_officer", "responsible", "five_package"):
        out = render(templates, kind, action, role)
        assert "督促责任单位" not in out.text + out.markdown


@pytest.mark.parametrize(("kind", "action"), NOTICE_VARIANTS, ids=str)
def test_the_committee_office_is_never_told_to_rectify(
    templates: TemplateSet, kind: str, action: str | None
) -> None:
    out = render(templates, kind, action, "committee_office")
    assert "立即组织整改" not in out.text + out.markdown


def test_each_side_has_its_own_letter(templates: TemplateSet) -> None:
    files = {side: templates.variant_files("escalation", "letter", side)["body"] for side in SIDES}
    assert len(set(files.values())) == len(SIDES)
    to_unit = render(templates, "escalation", "letter", "principal").text
    assert "关于限期整改重大事故隐患的函" in to_unit and "你单位" in to_unit
    to_department = render(templates, "escalation", "letter", "department").text
    assert "请立即督促责任单位" in to_department


# ------------------------------------------------------------------ the facts, in words


def test_role_labels_from_yaml_in_the_salutation(templates: TemplateSet) -> None:
    out = render(
        templates, "escalation", "circular", "department_head", recipient_name="应急办主任"
    )
    assert "应急办主任（行业主管部门负责人）" in out.text


def test_region_and_department_show_their_names(templates: TemplateSet) -> None:
    out = render(templates, "report", None, "principal", department="emergency")
    assert "所在区域：白土镇" in out.text and "行业主管部门：应急管理办公室" in out.text
    digest = render(templates, "digest", None, "committee_office")
    assert "责任主体：住建所" in digest.text and "区域：青阳镇" in digest.text


@pytest.mark.parametrize(
    ("facts", "said"),
    [
        ({"days_overdue": 3, "days_left": None}, "已逾期3天"),
        ({"days_overdue": None, "days_left": 0}, "今日到期"),
        ({"days_overdue": None, "days_left": None}, "已到期"),
        ({"days_overdue": 0, "days_left": None}, "已到期"),
    ],
)
def test_how_overdue_is_said(templates: TemplateSet, facts: dict[str, object], said: str) -> None:
    for role in ("principal", "department", "committee_office", "leader"):
        out = render(templates, "escalation", "letter", role, **facts)
        assert said in out.text
        assert said in out.sms_params["overdue"]
        assert not ZERO_DAYS.search(out.text + "".join(out.sms_params.values()))


def test_a_general_reminder_promises_only_what_its_policy_has_left(
    templates: TemplateSet,
) -> None:
    facts = {"level": "general", "authority": None}
    only_letter = render(templates, "reminder", None, "responsible", **facts, next_steps=["letter"])
    assert "逾期未完成整改的，将予以函告。" in only_letter.text
    unknown = render(templates, "reminder", None, "responsible", **facts, next_steps=None)
    for out in (only_letter, unknown):
        for step in ("通报", "约谈", "曝光"):
            assert step not in out.text + out.markdown, step
    assert "将按规定采取督办措施" in unknown.text
    major = render(templates, "reminder", None, "responsible", next_steps=["letter", "circular"])
    assert "将依次采取函告、通报等措施" in major.text


def test_the_last_step_promises_nothing_further(templates: TemplateSet) -> None:
    out = render(templates, "escalation", "letter", "department", level="general", next_steps=[])
    assert "将予以" not in out.text and "进一步" not in out.text


def test_supervision_after_rectification_awaits_acceptance(templates: TemplateSet) -> None:
    for role in ("principal", "department", "committee_office", "authority"):
        out = render(templates, "supervision", None, role, status="rectified", percent=100)
        assert "待验收" in out.text
        assert "每周报送整改进展" not in out.text and "逾期" not in out.text
        assert out.sms_params["percent"] == "已整改待验收"


def test_closure_shows_the_final_state(templates: TemplateSet) -> None:
    for role in ("principal", "department", "committee_office", "authority"):
        out = render(templates, "closure", None, role)
        assert "整改进度" not in out.text and "60%" not in out.text
        assert "隐患状态：已验收销号" in out.text
        assert "销号时间：2026年11月30日 10:00" in out.text
        assert "摘牌" in out.text  # the sample hazard was listed
    assert "摘牌" in render(templates, "closure", None, "authority").subject + (
        render(templates, "closure", None, "authority").text
    )


def test_description_and_responsible_names_appear(templates: TemplateSet) -> None:
    out = render(templates, "escalation", "letter", "principal")
    assert "隐患描述：二号仓库东侧3个可燃气体报警探头失效" in out.text
    assert "整改责任人：李强、王伟" in out.text
    bare = render(templates, "escalation", "letter", "principal", description=None)
    assert "隐患描述" not in bare.text


def test_a_deadline_given_as_a_date_shows_no_time(templates: TemplateSet) -> None:
    out = render(templates, "reminder", None, "responsible", deadline="2026-09-30T23:59:59+08:00")
    assert "整改期限为2026年9月30日，" in out.text and "23:59" not in out.text


def test_a_department_duty_is_the_departments_own(templates: TemplateSet) -> None:
    facts = {
        "duty": "weekly_report",
        "subject_id": "emergency",
        "subject_name": None,
        "owed_by": "department",
        "period_key": "2026-W40",
    }
    out = render(templates, "duty", "letter", "department_head", **facts)
    assert "你部门（应急管理办公室）" in out.text and "请立即补正" in out.text
    assert "请督促" not in out.text
    reminder = render(templates, "duty", None, "department", **facts)
    assert "你部门（应急管理办公室）" in reminder.text


# ------------------------------------------------------------------ labels come from YAML


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    return folder


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_labels_and_the_office_come_from_the_config_folder(config_copy: Path) -> None:
    replace_in(
        config_copy / "labels.yaml",
        "hazardous_chemicals: 危险化学品",
        "hazardous_chemicals: 危化品",
    )
    replace_in(
        config_copy / "labels.yaml",
        "department_head: 行业主管部门负责人",
        "department_head: 部门一把手",
    )
    replace_in(
        config_copy / "labels.yaml",
        "signature: 白土镇安全生产委员会办公室",
        "signature: 白土镇安委会办公室（代章）",
    )
    replace_in(config_copy / "directory.yaml", "name: 白土镇", "name: 白土镇人民政府驻地")
    templates = TemplateSet.load(config_copy / "templates")
    out = render(templates, "escalation", "circular", "department_head")
    assert "所属行业：危化品" in out.text
    assert "（部门一把手）" in out.text
    assert "所在区域：白土镇人民政府驻地" in out.text
    assert "白土镇安委会办公室（代章）\n2026年12月2日" in out.text


def test_an_unlabelled_code_is_shown_as_it_is(config_copy: Path) -> None:
    (config_copy / "labels.yaml").unlink()
    templates = TemplateSet.load(config_copy / "templates")
    out = render(templates, "reminder", None, "responsible", industry="new_industry")
    assert "所属行业：new_industry" in out.text
    assert "隐患等级：major" in out.text  # no labels at all: codes as they are
    assert "安全生产委员会办公室" in out.text  # the templates' own fallback signature


# ------------------------------------------------------------------ the notifier's rendering


def test_the_notice_recipients_role_picks_the_wording_and_its_due_date_the_date() -> None:
    templates = TemplateSet.load(EXAMPLE / "templates")
    due = datetime(2026, 10, 8, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    notice = NoticeRequested(
        notice_id="HZ-1:major-overdue:letter",
        occurrence=0,
        kind="escalation",
        action="letter",
        subject="HZ-1",
        due_at=due,
        recipient=Recipient(person_id="R1", role="principal", email="r1@unit.example"),
        channels=(ChannelPlan(channel="email"),),
        facts={**sample_facts("escalation", "letter"), "recipient_role": "principal"},
    )
    out = render_for(templates, notice, ScriptedChannel("email", "email"), None)
    assert "关于限期整改" in out.text and "督促责任单位" not in out.text
    assert "2026年10月8日" in out.text


# ------------------------------------------------------------------ the check knows the sides


def test_check_names_a_misspelt_side(config_copy: Path) -> None:
    folder = config_copy / "templates"
    shutil.copy(
        folder / "escalation.letter.enterprise.body.j2",
        folder / "escalation.letter.enterprize.body.j2",
    )
    shutil.copy(folder / "reminder.department.body.j2", folder / "reminder.departmnt.body.j2")
    problems = check_templates(folder)
    assert any(p.startswith("escalation.letter.enterprize.body.j2: unknown side") for p in problems)
    assert any(p.startswith("reminder.departmnt.body.j2: unknown action or side") for p in problems)


def test_check_wants_the_same_sms_parameters_on_every_side(config_copy: Path) -> None:
    folder = config_copy / "templates"
    (folder / "closure.leader.sms.yaml").write_text('params:\n  title: "{{ title }}"\n', "utf-8")
    problems = check_templates(folder)
    assert any(
        p.startswith("closure.leader.sms.yaml: gives the SMS parameters title") for p in problems
    )


def test_a_side_file_overrides_only_that_side(config_copy: Path) -> None:
    folder = config_copy / "templates"
    (folder / "closure.leader.subject.j2").write_text("摘牌报告：{{ title }}", "utf-8")
    templates = TemplateSet.load(folder)
    assert render(templates, "closure", None, "authority").subject.startswith("摘牌报告：")
    assert render(templates, "closure", None, "principal").subject.startswith("【销号确认】")
    assert check_templates(folder) == []


# ------------------------------------------------------------------ supervised tasks (督办事项)

#: The notices the example's task rules send (policies.yaml: task-reminders, task-overdue,
#: task-closure), each worded by its own task. files.
TASK_VARIANTS = (
    ("reminder", None),
    ("escalation", "letter"),
    ("escalation", "circular"),
    ("escalation", "interview"),
    ("closure", None),
)
TASK_CASES = [(kind, action, side) for kind, action in TASK_VARIANTS for side in ROLE_OF_SIDE]
TASK_CODES = (*SAMPLE_CODES, "emergency", "reported", "cancelled", "task")


def render_task(
    templates: TemplateSet, kind: str, action: str | None, role: str | None, **facts: object
) -> Rendered:
    sample = {**sample_task_facts(kind, action, role=role), **facts}
    return templates.render(kind, action, sample, ACK, issued_at=SAMPLE_ISSUED_AT)


@pytest.mark.parametrize("case", TASK_CASES, ids=case_id)
def test_a_task_notice_is_worded_as_a_task_without_codes_or_zero_days(
    templates: TemplateSet, case: tuple[str, str | None, str | None]
) -> None:
    kind, action, side = case
    files = templates.variant_files(kind, action, side, "task")
    assert all(name.startswith("task.") for f, name in files.items() if f in ("body", "subject"))
    assert files["sms"].startswith("task.")
    out = render_task(templates, kind, action, ROLE_OF_SIDE[side])
    texts = words_of(readable(out))
    assert not LEFTOVER_CODE.search(texts), LEFTOVER_CODE.search(texts)
    assert not ZERO_DAYS.search(texts)
    leaked = [c for c in TASK_CODES if re.search(rf"(?<![A-Za-z_]){c}(?![A-Za-z_])", texts)]
    assert not leaked, leaked
    assert "None" not in texts
    # the task's words, never the hazard's
    assert "隐患" not in words_of([out.subject, out.text, out.markdown])
    assert "督办事项" in out.subject or "办结" in out.subject
    assert "报送安全生产治本攻坚三年行动重点工作方案" in out.text
    assert "县应急管理局" in out.text


@pytest.mark.parametrize(("kind", "action"), TASK_VARIANTS, ids=str)
def test_a_task_sms_gives_the_parameters_of_its_kinds_provider_template(
    templates: TemplateSet, kind: str, action: str | None
) -> None:
    assert templates.sms_param_names(kind, action, None, "task") == templates.sms_param_names(
        kind, action
    )
    params = render_task(templates, kind, action, "department").sms_params
    assert params["unit"] == "县应急管理局"
    assert all(value and "None" not in value for value in params.values())


def test_a_task_due_today_or_overdue_is_said_in_days(templates: TemplateSet) -> None:
    today = render_task(templates, "reminder", None, "department", days_left=0)
    assert "今日即到完成时限" in today.text and "（今日到期）" in today.subject
    letter = render_task(templates, "escalation", "letter", "department", days_overdue=12)
    assert "已逾期12天，仍未办结" in letter.text
    due = render_task(templates, "escalation", "letter", "department", days_overdue=None)
    assert "已到期，仍未办结" in due.text


def test_a_person_owner_is_interviewed_in_person(templates: TemplateSet) -> None:
    facts = {"owner_kind": "person", "owner_id": "P-7", "owner": "王建国"}
    out = render_task(templates, "escalation", "interview", "responsible", **facts)
    assert "决定约谈王建国本人" in out.text
    department = render_task(templates, "escalation", "interview", "department")
    assert "决定约谈县应急管理局主要负责人" in department.text


def test_hazard_notices_never_take_the_task_wording(templates: TemplateSet) -> None:
    for kind, action in TASK_VARIANTS:
        files = templates.variant_files(kind, action, None)
        assert not any(name.startswith("task.") for name in files.values())
        assert "督办事项信息" not in render(templates, kind, action, None).text
