"""The example directory covers every industry the seeds' lead-department text names
(Qingyang 四(二); Baitu's focus areas where its text names a lead), each with its
department, and every code has a Chinese label."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config.load import Config, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"

#: Industry (as the seeds word it) → (code, department id of the example directory).
SEED_MAP = {
    "校园": ("education", "education"),
    "体育场馆和设施": ("sports_venue", "education"),
    "民爆": ("civil_explosives", "police"),
    "养老服务": ("elderly_care", "civil"),
    "儿童福利": ("child_welfare", "civil"),
    "核辐射": ("nuclear_radiation", "ecology"),
    "废弃危险化学品": ("waste_hazardous_chemicals", "ecology"),
    "建筑施工": ("construction", "housing"),
    "燃气": ("gas", "housing"),
    "自建房": ("self_built_housing", "housing"),
    "群租房": ("group_rental_housing", "housing"),
    "大跨度建（构）筑物": ("large_span_structures", "housing"),
    "道路交通": ("road_traffic", "police"),
    "道路运输": ("road_transport", "transport"),
    "水上交通运输": ("waterway_transport", "transport"),
    "农机": ("agriculture_machinery", "agriculture"),
    "渔业船舶": ("fishing_vessel", "agriculture"),
    "水利": ("water_conservancy", "agriculture"),
    "文化旅游场所": ("culture_tourism", "culture"),
    "文博单位": ("cultural_heritage", "culture"),
    "医疗卫生": ("medical", "health"),
    "托育机构": ("childcare", "health"),
    "非煤矿山": ("non_coal_mine", "emergency"),
    "煤矿": ("coal_mine", "emergency"),
    "尾矿库": ("tailings_pond", "emergency"),
    "危化品": ("hazardous_chemicals", "emergency"),
    "烟花爆竹": ("fireworks", "emergency"),
    "工贸": ("industry_trade", "emergency"),
    "金属冶炼": ("metal_smelting", "emergency"),
    "加油站": ("gas_station", "emergency"),
    "特种设备": ("special_equipment", "market"),
    "林业": ("forestry", "forestry"),
    "电力": ("power", "development"),
    "粮油储备": ("grain_reserves", "development"),
    "油气长输管道": ("oil_gas_pipeline", "development"),
    "铁路运营": ("railway", "development"),
    "消防": ("fire_safety", "fire"),
    "九小场所": ("small_premises", "fire"),
    "多业态混合生产经营场所": ("mixed_use_premises", "fire"),
    "人员密集场所": ("crowded_places", "fire"),
    "大型群众性活动": ("large_events", "police"),
    "邮政快递": ("postal_express", "postal"),
}


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(EXAMPLE)


@pytest.mark.parametrize("seed_name", sorted(SEED_MAP))
def test_every_seed_industry_has_its_department_and_a_label(config: Config, seed_name: str) -> None:
    code, department = SEED_MAP[seed_name]
    lead = config.rules().index.department_of_industry.get(code)
    assert lead is not None, f"{seed_name} ({code}) has no lead department"
    assert lead.id == department
    assert lead.duty_officers or lead.head
    assert config.labels.industries.get(code), f"{code} has no label"


def test_every_mapped_industry_is_in_the_seed_map(config: Config) -> None:
    mapped = set(config.rules().index.department_of_industry)
    assert mapped == {code for code, _ in SEED_MAP.values()}
