"""Template filters that show codes, numbers and period keys as Chinese labels."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

LEVEL_LABELS: Final = {"major": "重大事故隐患", "general": "一般隐患"}
AUTHORITY_LABELS: Final = {
    "town": "镇级挂牌督办",
    "county": "县级挂牌督办",
    "city": "市级挂牌督办",
    "province": "省级挂牌督办",
}
ACTION_LABELS: Final = {
    "letter": "函告",
    "circular": "通报",
    "interview": "约谈",
    "exposure": "曝光",
}
DUTY_LABELS: Final = {
    "principal_inspection": "主要负责人带队检查",
    "evacuation_drill": "应急疏散演练",
    "weekly_report": "周上报",
    "monthly_analysis_meeting": "月度安全生产分析会",
}
ROLE_LABELS: Final = {
    "principal": "主要负责人",
    "controller": "实际控制人",
    "actual_controller": "实际控制人",
    "safety_officer": "安全管理人员",
    "responsible": "整改责任人",
    "five_package": "五包一责任人",
    "department": "行业主管部门",
    "committee_office": "安委会办公室",
    "leader": "分管领导",
    "authority": "挂牌督办单位",
}
INDUSTRY_LABELS: Final = {
    "non_coal_mine": "非煤矿山",
    "tailings_pond": "尾矿库",
    "hazardous_chemicals": "危险化学品",
    "fireworks": "烟花爆竹",
    "industry_trade": "工贸",
    "metal_smelting": "金属冶炼",
    "construction": "建筑施工",
    "gas": "城镇燃气",
    "self_built_housing": "自建房",
    "special_equipment": "特种设备",
    "fire_safety": "消防",
    "road_transport": "道路运输",
    "waterway_transport": "水路运输",
    "road_traffic": "道路交通",
    "education": "教育",
    "elderly_care": "养老服务",
    "culture_tourism": "文化旅游",
    "medical": "医疗卫生",
    "power": "电力",
    "agriculture_machinery": "农业机械",
}
_CN_DIGITS: Final = "零一二三四五六七八九"
_HALF: Final = {"1": "上半年", "2": "下半年"}


def _labeller(labels: Mapping[str, str]) -> Callable[[object], str]:
    """A filter mapping codes to Chinese labels; unknown codes are shown as they are."""

    def label(value: object) -> str:
        if value is None:
            return ""
        return labels.get(str(value), str(value))

    return label


level_label = _labeller(LEVEL_LABELS)
authority_label = _labeller(AUTHORITY_LABELS)
action_label = _labeller(ACTION_LABELS)
duty_label = _labeller(DUTY_LABELS)
role_label = _labeller(ROLE_LABELS)
industry_label = _labeller(INDUSTRY_LABELS)


def cn_num(value: object) -> str:
    """1 → 一, 12 → 十二, 35 → 三十五 (0–99); other values as they are."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 100:
        return str(value)
    tens, ones = divmod(value, 10)
    if tens == 0:
        return _CN_DIGITS[ones]
    head = "" if tens == 1 else _CN_DIGITS[tens]
    return head + "十" + (_CN_DIGITS[ones] if ones else "")


_PERIOD_PATTERNS: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]] = (
    (re.compile(r"^(\d{4})-W(\d{1,2})$"), lambda m: f"{m[1]}年第{int(m[2])}周"),
    (re.compile(r"^(\d{4})-(\d{1,2})$"), lambda m: f"{m[1]}年{int(m[2])}月"),
    (re.compile(r"^(\d{4})-Q([1-4])$"), lambda m: f"{m[1]}年第{cn_num(int(m[2]))}季度"),
    (re.compile(r"^(\d{4})-H([12])$"), lambda m: f"{m[1]}年{_HALF[m[2]]}"),
    (re.compile(r"^(\d{4})$"), lambda m: f"{m[1]}年"),
)


def period_label(value: object) -> str:
    """A period key in Chinese: ``2026-W48`` → 2026年第48周; other text as it is.

    Also ``2026-11`` → 2026年11月, ``2026-Q4`` → 2026年第四季度, ``2026-H2`` →
    2026年下半年 and ``2026`` → 2026年."""
    if value is None:
        return ""
    text = str(value)
    for pattern, label in _PERIOD_PATTERNS:
        match = pattern.match(text)
        if match:
            return label(match)
    return text


def percent_label(value: object) -> str:
    """60 → ``60%``; none → empty."""
    if value is None or value == "":
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value}%"
