"""The group side of the templates (issue 13, deliverable 2): which files a group post is
worded from, what it says, what the check asks of it, and the config check's warning
about robots in personal channel orders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.config.load import load_config
from services.config.positions import ConfigError
from services.configcheck import check_folder, robot_order_warnings
from services.notifier.render import (
    HOSTILE_TEXT,
    NOTICE_VARIANTS,
    Rendered,
    TemplateSet,
    check_templates,
    expected_files,
    md_escape,
    sample_facts,
    side_of,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
ACK = "https://duban.example.gov.cn/ack?t=abc"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    return folder


def group_render(
    templates: TemplateSet, kind: str, action: str | None, **facts: object
) -> Rendered:
    sample = {**sample_facts(kind, action, role="group"), **facts}
    return templates.render(kind, action, sample, ACK, issued_at="2026-12-02T09:00:00+08:00")


# ------------------------------------------------------------------ the side lookup


def test_the_group_role_is_the_group_side() -> None:
    assert side_of("group") == "group"


@pytest.mark.parametrize(
    ("kind", "action", "expected"),
    [
        (
            "escalation",
            "letter",
            [
                "escalation.letter.group.text.j2",
                "escalation.letter.department.text.j2",
                "escalation.letter.text.j2",
                "escalation.group.text.j2",
                "escalation.department.text.j2",
                "escalation.text.j2",
            ],
        ),
        ("report", None, ["report.group.text.j2", "report.department.text.j2", "report.text.j2"]),
    ],
)
def test_group_files_then_the_departments_then_the_generic(
    kind: str, action: str | None, expected: list[str]
) -> None:
    assert expected_files(kind, action, "text", "group") == expected


def test_other_sides_look_up_as_before() -> None:
    assert expected_files("report", None, "body", "leader") == [
        "report.leader.body.j2",
        "report.body.j2",
    ]


def test_every_example_variant_has_its_own_group_wording(templates: TemplateSet) -> None:
    for kind, action in NOTICE_VARIANTS:
        name = ".".join(p for p in (kind, action, "group", "body.j2") if p)
        assert templates.variant_files(kind, action, "group")["body"] == name


def test_without_a_group_file_the_department_wording_is_used(config_copy: Path) -> None:
    (config_copy / "templates" / "report.group.body.j2").unlink()
    templates = TemplateSet.load(config_copy / "templates")
    assert templates.variant_files("report", None, "group")["body"] == "report.department.body.j2"
    out = group_render(templates, "report", None)
    assert "该隐患属你部门监管的行业领域" in out.text  # the department's wording
    assert out.text.count("各位同志：") == 1 and "（group）" not in out.text
    assert "请点击确认收到" not in out.text and ACK not in out.text
    assert check_templates(config_copy / "templates") == []  # falling back is allowed


# ------------------------------------------------------------------ what a group post says


@pytest.mark.parametrize(("kind", "action"), NOTICE_VARIANTS, ids=str)
def test_a_group_post_names_everyone_and_links_no_one(
    templates: TemplateSet, kind: str, action: str | None
) -> None:
    out = group_render(templates, kind, action)
    for body in (out.text, out.markdown, out.html):
        assert "请以下同志关注：张建国、李明、分管领导。" in body  # 分管领导: no name, by role
        assert ACK not in body and "请点击确认收到" not in body
        assert "各位同志" in body


def test_names_come_from_the_mentions(templates: TemplateSet) -> None:
    mentions = [{"name": "王强", "role": "department"}, {"name": None, "role": "authority"}]
    out = group_render(templates, "reminder", None, mentions=mentions)
    assert "请以下同志关注：王强、挂牌督办单位。" in out.text
    nobody = group_render(templates, "reminder", None, mentions=[])
    assert "请有关同志关注" in nobody.text and "请以下同志关注" not in nobody.text


def test_a_hostile_name_stays_text_in_the_markdown(templates: TemplateSet) -> None:
    out = group_render(templates, "report", None, mentions=[{"name": HOSTILE_TEXT}])
    assert md_escape(HOSTILE_TEXT) in out.markdown and "<@all>" not in out.markdown


# ------------------------------------------------------------------ the check


def test_the_example_templates_pass_the_check() -> None:
    assert check_templates(EXAMPLE / "templates") == []


def test_check_wants_a_group_file_to_name_the_people(config_copy: Path) -> None:
    path = config_copy / "templates" / "closure.group.body.j2"
    path.write_text(path.read_text("utf-8").replace("{% set closing = g.attention %}", ""), "utf-8")
    problems = check_templates(config_copy / "templates")
    assert any(
        p.startswith("closure.group.body.j2: the group post (closure.text.j2) does not name")
        for p in problems
    ), problems


# ------------------------------------------------------------------ robots in personal orders


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def with_groups(folder: Path, robots: list[str]) -> Path:
    """The example's routing.groups replaced by these robots, each for the departments."""
    channels = folder / "channels.yaml"
    groups = ", ".join(f"{robot}: [department]" for robot in robots)
    text = channels.read_text("utf-8")
    start = text.index("\n  groups:\n") + 1
    end = text.index("\n", text.index("\n", start) + 1) + 1
    channels.write_text(text[:start] + f"  groups: {{{groups}}}\n" + text[end:], "utf-8")
    return channels


def test_a_robot_in_a_personal_order_is_warned_about(config_copy: Path) -> None:
    channels = with_groups(config_copy, ["wecom"])
    edit(channels, "principal: [aliyun_sms,", "principal: [dingtalk, aliyun_sms,")
    edit(
        config_copy / "directory.yaml",
        "  - {id: aqb-duty, name: 安委办值班室,",
        "  - {id: aqb-duty, channels: [email, feishu], name: 安委办值班室,",
    )
    warnings = robot_order_warnings(load_config(config_copy))
    assert [w.split("：")[0] for w in warnings] == [
        f"channels.yaml:{line_of(channels, 'principal: [dingtalk')}",
        f"directory.yaml:{line_of(config_copy / 'directory.yaml', 'id: aqb-duty')}",
    ]
    assert "群机器人渠道 'dingtalk' 写在个人发送顺序 routing.roles.principal 中" in warnings[0]
    assert "群机器人渠道 'feishu' 写在个人发送顺序 people." in warnings[1]
    assert all("routing.groups" in w for w in warnings)
    _, all_warnings = check_folder(config_copy, {})
    assert set(warnings) <= set(all_warnings)


def test_robots_only_in_groups_are_fine(config_copy: Path) -> None:
    with_groups(config_copy, ["wecom", "dingtalk", "feishu"])
    assert robot_order_warnings(load_config(config_copy)) == []


def line_of(path: Path, needle: str) -> int:
    text = path.read_text("utf-8")
    return text[: text.index(needle)].count("\n") + 1


def test_a_channel_that_is_no_robot_is_refused_in_groups(config_copy: Path) -> None:
    channels = with_groups(config_copy, ["email"])
    with pytest.raises(ConfigError) as refused:
        load_config(config_copy)
    assert f"channels.yaml:{line_of(channels, 'groups:')}: routing.groups.email" in str(
        refused.value
    )
    assert "不是群机器人" in str(refused.value)
