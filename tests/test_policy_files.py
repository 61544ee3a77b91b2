"""Scenario files, derived scenarios and the parameter table as a user reads them: every field a scenario file
may give (and its default when it gives none), each bad file refused with a message naming the file, the field
and the value, the scenario a set of overrides makes, and the table's headers and cells."""

from __future__ import annotations

import pytest
import yaml

from gridsim.errors import PolicyError
from gridsim.policy import _parse_parameters, load_baseline, load_policy, load_scenario

CAP = "grid.community.max_planned_households"


def _scenario_file(path, data):
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_scenario_file_fields_and_their_defaults(tmp_path):
    """id, title and description are read as written (the id need not be the file's name); a file that gives
    none of them is named by its file, titled by its id, and has no description."""
    full = _scenario_file(tmp_path / "odd_name.yaml", {
        "id": "cap_450", "title": "社区上限450户", "description": "收紧社区网格上限 (tighter cap)",
        "overrides": {CAP: 450}})
    s = load_scenario(full)
    assert (s.id, s.title, s.description, s.source) == ("cap_450", "社区上限450户", "收紧社区网格上限 (tighter cap)",
                                                       str(full))
    assert dict(s.overrides) == {CAP: 450}
    bare = load_scenario(_scenario_file(tmp_path / "untitled.yaml", {"overrides": {CAP: 420}}))
    assert (bare.id, bare.title, bare.description) == ("untitled", "untitled", "")
    pol = load_policy(full)
    assert pol[CAP] == 450 and pol.scenario == s
    other = _scenario_file(tmp_path / "cap_430.scenario", {"overrides": {CAP: 430}})  # any existing path
    assert load_policy(other)[CAP] == 430 and load_scenario(str(other)).id == "cap_430"


@pytest.mark.parametrize("data, says", [
    ({"id": "x", "owner": "a", "overides": {CAP: 450}}, "未知字段 (unknown fields) ['overides', 'owner']"),
    ({"id": "网格一", "overrides": {}}, "情景 id 必须为 ASCII (scenario id must be ASCII): '网格一'"),
    ({"id": 450, "overrides": {}}, "情景 id 必须为 ASCII (scenario id must be ASCII): 450"),
    ({"id": "x", "overrides": [CAP, 450]}, "overrides 应为映射 (must be a mapping)"),
])
def test_bad_scenario_files_name_file_field_and_value(tmp_path, data, says):
    path = _scenario_file(tmp_path / "bad.yaml", data)
    with pytest.raises(PolicyError) as err:
        load_scenario(path)
    assert str(err.value) == f"{path}: {says}"


def test_a_missing_scenario_lists_the_shipped_ones():
    with pytest.raises(PolicyError) as err:
        load_scenario("no_such_scenario")
    assert str(err.value).startswith("找不到情景 (scenario not found): no_such_scenario; 可用 (available): "
                                     "baseline, boundary_exclusive, community_cap_400, high_spend, ")


def test_overrides_make_a_named_custom_scenario():
    """Overrides on top of a scenario keep its overrides and add theirs, under ``<id>+custom``."""
    base = load_baseline()
    one = base.with_overrides({CAP: 450}).scenario
    assert (one.id, one.title, one.description, one.source) == ("baseline+custom", "基线（自定义）", "", "overrides")
    assert dict(one.overrides) == {CAP: 450}
    cap400 = load_policy("community_cap_400")
    two = cap400.with_overrides({"funding.district_share": 0.3}).scenario
    assert two.id == "community_cap_400+custom"
    assert two.title == "社区网格规划户上限收紧至400户（自定义）"
    assert dict(two.overrides) == {CAP: 400, "funding.district_share": 0.3}


@pytest.mark.parametrize("overrides, says", [
    ({"grid.nonexistent": 1}, "overrides: 未知参数 (unknown parameter) 'grid.nonexistent'"),
    ({"grid.village.max_households": -5},
     "overrides: 参数 grid.village.max_households（村（居）民组网格户数上限） 不能为负 (must not be negative), 得到 got -5"),
    ({"grid.village.min_households": 400},
     "overrides: grid.village.min_households（村（居）民组网格户数下限）= 400 大于 grid.village.max_households"
     "（村（居）民组网格户数上限）= 300，下限不能高于上限 (a floor may not exceed its ceiling)"),
])
def test_bad_overrides_name_where_they_came_from(overrides, says):
    with pytest.raises(PolicyError) as err:
        load_baseline().with_overrides(overrides)
    assert str(err.value) == says


def test_unknown_principle_is_named():
    pol = load_baseline()
    assert pol.principle("grid.home_indivisible").clause == "三(一)2"
    with pytest.raises(PolicyError) as err:
        pol.principle("grid.no_such_principle")
    assert str(err.value) == "未知原则 (unknown principle): grid.no_such_principle"


def test_a_policy_file_without_parameters_is_named(tmp_path):
    path = _scenario_file(tmp_path / "rules.yaml", {"principles": {}})
    with pytest.raises(PolicyError) as err:
        _parse_parameters(path, assumption=False)
    assert str(err.value) == f"缺少 parameters 映射 (missing 'parameters' mapping): {path}"


def test_parameter_table_headers_and_cells():
    """The table shows every header in Chinese and English; the baseline only where the scenario changed the
    value; a range and a list as comma-separated values; a rule's quote and an assumption's reason."""
    t = load_policy("community_cap_400").table()
    assert list(t.columns) == ["参数 key", "名称 label", "取值 value", "单位 unit", "条款 clause", "类别 kind",
                               "基线值 baseline", "区间 range", "生效 effective", "原文或理由 quote / reason"]
    rows = t.set_index("参数 key")
    cap, village = rows.loc[CAP], rows.loc["grid.village.max_households"]
    assert (cap["取值 value"], cap["基线值 baseline"]) == ("400", "500")
    assert (village["取值 value"], village["基线值 baseline"], village["区间 range"]) == ("300", "", "")
    assert village["类别 kind"] == "方案规则 rule" and village["原文或理由 quote / reason"] == "原则上每个网格为100户至300户"
    assert village["单位 unit"] == "户 (households)" and village["生效 effective"] == "2024-01-31"
    assert village["名称 label"] == "村（居）民组网格户数上限"
    capacity = rows.loc["visits.capacity_per_worker_month"]
    assert capacity["区间 range"] == "90, 150" and capacity["类别 kind"] == "经验假设 empirical"
    assert capacity["原文或理由 quote / reason"].startswith("网格员为兼职")
    assert rows.loc["escalation.levels", "取值 value"] == "grid, unit, subdistrict"
