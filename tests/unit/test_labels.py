"""labels.yaml: loaded strictly with file, line and key; applied by the templates; and
`duban config check` warns (in Chinese) about every code the config uses without a label."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.config.load import load_config, load_labels
from services.config.positions import ConfigError
from services.configcheck import check_folder, label_warnings
from services.core.directory import Directory, Labels, label_tables
from services.notifier.render import LabelSet

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace `old` once; the 1-based line it was on."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


# ------------------------------------------------------------------ loading


def test_the_example_labels_load_with_the_config() -> None:
    config = load_config(EXAMPLE)
    assert config.labels.office is not None
    assert config.labels.office.name == "白土镇安全生产委员会办公室"
    assert config.labels.roles["department_head"] == "行业主管部门负责人"
    assert config.labels.industries["hazardous_chemicals"] == "危险化学品"


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("roles:", "role:", "role", "unknown key"),
        ("  gas: 城镇燃气", "  gas: ''", "industries.gas", "at least 1 character"),
        ("  name: 白土镇安全生产委员会办公室", "  nam: 白土镇", "office.nam", "unknown key"),
        ("  major: 重大事故隐患", "  major: [重大]", "levels.major", "valid string"),
        ("  principal: 主要负责人", "  principl: 主要负责人", "roles.principl", "不是已知的代码"),
        ("  letter: 函告", "  leter: 函告", "actions.leter", "可用：letter, circular"),
    ],
)
def test_a_broken_labels_file_names_file_line_and_key(
    folder: Path, old: str, new: str, key: str, message: str
) -> None:
    line = edit(folder / "labels.yaml", old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    problems = [p for p in caught.value.problems if p.file == "labels.yaml"]
    assert problems, caught.value.problems
    assert any(p.key == key and p.line == line and message in p.message for p in problems), [
        str(p) for p in problems
    ]


def test_labels_are_optional(folder: Path) -> None:
    (folder / "labels.yaml").unlink()
    config = load_config(folder)
    assert config.labels == Labels()
    labels, directory = load_labels(folder)
    assert labels == Labels() and directory is not None


def test_label_tables_take_names_from_the_directory() -> None:
    config = load_config(EXAMPLE)
    tables = label_tables(config.labels, config.directory)
    assert tables["departments"]["emergency"] == "应急管理办公室"
    assert tables["regions"]["baitu"] == "白土镇"
    assert tables["roles"]["principal"] == "主要负责人"
    bare = label_tables(Labels(), Directory(people=({"id": "x"},), committee_office=("x",)))
    assert bare["regions"] == {} and bare["industries"] == {}


def test_the_label_filters_show_unknown_codes_as_they_are() -> None:
    labels = LabelSet.of(*load_labels(EXAMPLE))
    filters = labels.filters()
    assert filters["industry_label"]("power") == "电力"
    assert filters["industry_label"]("new_industry") == "new_industry"
    assert filters["region_label"]("baitu") == "白土镇"
    assert filters["department_label"]("住建所") == "住建所"  # a name stays a name
    assert filters["role_label"](None) == ""
    assert labels.office_globals()["signature"] == "白土镇安全生产委员会办公室"


def test_the_signature_defaults_to_the_office_name(folder: Path) -> None:
    edit(folder / "labels.yaml", "  signature: 白土镇安全生产委员会办公室", "")
    labels = LabelSet.of(*load_labels(folder))
    assert labels.office_globals()["signature"] == "白土镇安全生产委员会办公室"


# ------------------------------------------------------------------ config check


def test_the_example_has_a_label_for_every_code() -> None:
    assert label_warnings(load_config(EXAMPLE)) == []


def test_check_warns_about_an_industry_without_a_label(folder: Path) -> None:
    edit(folder / "labels.yaml", "  gas: 城镇燃气\n", "")
    problems, warnings = check_folder(folder, {})
    assert problems == []
    found = [w for w in warnings if "'gas'" in w]
    assert len(found) == 1, warnings
    used_at = (folder / "directory.yaml").read_text(encoding="utf-8")
    line = used_at[: used_at.index("industries: [construction, gas")].count("\n") + 1
    assert found[0].startswith("labels.yaml：行业代码 'gas' 没有中文名称")
    assert f"directory.yaml:{line} departments.1.industries.1" in found[0]


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("labels.yaml", "  weekly_report: 周上报\n", "", "履职事项代码 'weekly_report'"),
        (
            "labels.yaml",
            "  department_head: 行业主管部门负责人\n",
            "",
            "收件人身份代码 'department_head'",
        ),
        ("labels.yaml", "  circular: 通报\n", "", "督办措施代码 'circular'"),
        ("labels.yaml", "  rectified: 已报告整改完成，待验收\n", "", "隐患状态代码 'rectified'"),
        ("labels.yaml", "  province: 省级挂牌督办\n", "", "挂牌督办层级代码 'province'"),
        (
            "directory.yaml",
            "    name: 青阳镇\n",
            "    leaders: [leader-safety]\n",
            "区域代码 'qingyang'",
        ),
        (
            "policies.yaml",
            "match: {level: major}\n",
            "match: {level: major, regions: [xiba]}\n",
            "'xiba'",
        ),
    ],
)
def test_check_warns_about_each_kind_of_code(
    folder: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(folder / file, old, new)
    problems, warnings = check_folder(folder, {})
    assert problems == []
    assert any(expected in w for w in warnings), warnings


def test_check_says_when_there_is_no_labels_file(folder: Path) -> None:
    (folder / "labels.yaml").unlink()
    problems, warnings = check_folder(folder, {})
    assert problems == []
    assert [w for w in warnings if w.startswith("labels.yaml：文件不存在")]


def test_check_warns_about_a_missing_office(folder: Path) -> None:
    text = (folder / "labels.yaml").read_text(encoding="utf-8")
    start, end = text.index("office:"), text.index("# 收件人身份")
    (folder / "labels.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    _, warnings = check_folder(folder, {})
    assert any("没有写 office" in w for w in warnings)


def test_channel_warnings_read_in_chinese() -> None:
    _, warnings = check_folder(EXAMPLE, {})
    wecom = [w for w in warnings if "'wecom'" in w]
    assert wecom == [
        "channels.yaml：渠道 'wecom' 未启用，需先设置环境变量 DUBAN_WECOM_WEBHOOK_URL"
        "（channel 'wecom' is off until these are set）"
    ]
