"""Policy and scenario files, derived scenarios and the parameter table as a user reads them: every field a file
may give (and its default when it gives none), each bad file or value refused with a message naming the file (or
where the value came from), the key or field and the value, the scenario a set of overrides makes, and the
table's headers and cells. Messages are compared whole: users read them, in Chinese with English beside."""

from __future__ import annotations

import datetime
from pathlib import Path

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


def test_unknown_parameter_is_named():
    assert CAP in load_baseline() and "grid.no_such_key" not in load_baseline()
    with pytest.raises(PolicyError) as err:
        load_baseline()["grid.no_such_key"]
    assert str(err.value) == "未知参数 (unknown parameter): grid.no_such_key"


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


def _policy_file(path, parameters):
    return _scenario_file(path, {"parameters": parameters})


_RULE = {"label": "村网格户数上限", "value": 300, "unit": "户 (households)", "effective": "2024-01-31",
         "clause": "三(一)2", "quote": "原则上每个网格为100户至300户"}
_ASSUMPTION = {"label": "网格员每月走访能力", "kind": "empirical", "value": 120, "range": [90, 150], "valid": [0, 400],
               "unit": "户次/人/月", "effective": "2024-01-31", "clause": "三(四)5", "reason": "按每月约15个半天估计"}


def test_policy_files_are_read_field_by_field(tmp_path):
    """Every field of a rule and of an assumption as written; YAML dates and lists become text and tuples; a rule
    is of kind ``rule`` without saying so."""
    from gridsim.policy import Parameter

    rules = _parse_parameters(_policy_file(tmp_path / "rules.yaml", {
        "grid.v.max": {**_RULE, "effective": datetime.date(2024, 1, 31)},
        "esc.levels": {**_RULE, "value": ["grid", "unit"], "unit": "列表"}}), assumption=False)
    assert rules["grid.v.max"] == Parameter(key="grid.v.max", label="村网格户数上限", value=300, unit="户 (households)",
                                            effective="2024-01-31", clause="三(一)2", assumption=False,
                                            quote="原则上每个网格为100户至300户", kind="rule")
    assert rules["esc.levels"].value == ("grid", "unit")
    choice = {**_ASSUMPTION, "kind": "reading", "value": "a", "options": ["a", "b"], "reason": "解读"}
    del choice["range"], choice["valid"]
    assumptions = _parse_parameters(_policy_file(tmp_path / "assumptions.yaml", {"cap": _ASSUMPTION, "basis": choice}),
                                    assumption=True)
    assert assumptions["cap"] == Parameter(key="cap", label="网格员每月走访能力", value=120, unit="户次/人/月",
                                           effective="2024-01-31", clause="三(四)5", assumption=True,
                                           reason="按每月约15个半天估计", range=(90, 150), kind="empirical",
                                           valid=(0, 400))
    assert assumptions["cap"].drawn and assumptions["basis"].options == ("a", "b")
    at_ends = _policy_file(tmp_path / "ends.yaml",
                           {"lo": {**_ASSUMPTION, "value": 90}, "hi": {**_ASSUMPTION, "value": 150}})
    ends = _parse_parameters(at_ends, assumption=True)
    assert (ends["lo"].value, ends["hi"].value) == (90, 150)  # a range is closed
    assert assumptions["basis"].kind == "reading" and not assumptions["basis"].drawn


@pytest.mark.parametrize("assumption, entry, says", [
    (False, {"label": "x"}, "参数 k 缺少字段 (missing fields) ['value', 'unit', 'effective', 'clause']"),
    (False, None, "参数 k 缺少字段 (missing fields) ['label', 'value', 'unit', 'effective', 'clause']"),
    (False, {**_RULE, "quote": ""}, "规则 k 必须引用原文 (a rule needs a 'quote')"),
    (True, {**_ASSUMPTION, "reason": None}, "假设 k 必须写明理由 (an assumption needs a 'reason')"),
    (True, {**_ASSUMPTION, "kind": "guess"},
     "假设 k 的 kind 须为 (kind must be one of) ['reading', 'choice', 'empirical'], 得到 got 'guess'"),
    (True, {k: v for k, v in _ASSUMPTION.items() if k != "kind"},
     "假设 k 的 kind 须为 (kind must be one of) ['reading', 'choice', 'empirical'], 得到 got None"),
    (True, {**_ASSUMPTION, "value": 151}, "参数 k 的取值 151 不在其区间 (value outside its range) [90, 150]"),
    (False, {**_RULE, "value": -5}, "参数 k（村网格户数上限） 不能为负 (must not be negative), 得到 got -5"),
])
def test_bad_policy_entries_name_file_key_and_field(tmp_path, assumption, entry, says):
    path = _policy_file(tmp_path / "p.yaml", {"k": entry})
    with pytest.raises(PolicyError) as err:
        _parse_parameters(path, assumption=assumption)
    assert str(err.value) == f"{path}: {says}"


def test_a_bad_range_end_is_named_as_the_range(tmp_path):
    path = _policy_file(tmp_path / "p.yaml", {"k": {**_ASSUMPTION, "value": 100, "range": [90, 500]}})
    with pytest.raises(PolicyError) as err:
        _parse_parameters(path, assumption=True)
    assert str(err.value) == f"{path} range: 参数 k（网格员每月走访能力） 须在 (must lie in) [0, 400] 之间, 得到 got 500"


def test_unreadable_policy_and_scenario_files_are_named(tmp_path):
    missing = tmp_path / "no_rules.yaml"
    with pytest.raises(PolicyError) as err:
        _parse_parameters(missing, assumption=False)
    assert str(err.value) == f"找不到文件 (file not found): {missing}"
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\novererrides: {a: 1\n", encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_scenario(broken)
    assert str(err.value).startswith(f"YAML 格式错误 (invalid YAML) in {broken}: ")
    listed = tmp_path / "list.yaml"
    listed.write_text("- id: x\n", encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_scenario(listed)
    assert str(err.value) == f"文件内容应为映射 (expected a mapping at top level): {listed}"


@pytest.mark.parametrize("key, value, says", [
    ("grid.contiguous", 1, "应为布尔值 true/false (expected bool), 得到 got 1"),
    ("grid.community.max_planned_households", 450.5, "应为整数 (expected int), 得到 got 450.5"),
    ("grid.community.max_planned_households", True, "应为整数 (expected int), 得到 got True"),
    ("assessment.deduction_pct_per_point", "2", "应为数值 (expected number), 得到 got '2'"),
    ("assessment.deduction_pct_per_point", False, "应为数值 (expected number), 得到 got False"),
    ("assessment.deduction_pct_per_point", float("nan"), "须为有限数值 (must be finite), 得到 got nan"),
    ("assessment.deduction_pct_per_point", float("inf"), "须为有限数值 (must be finite), 得到 got inf"),
    ("assessment.start", 202402, "应为文本 (expected text), 得到 got 202402"),
    ("funding.sources", "district", "应为列表 (expected list), 得到 got 'district'"),
    ("pay.base.basis", "households", "只能取 (must be one of) ['grid_count', 'resident_households'], 得到 got 'households'"),
    ("pay.performance.period_months", 13, "须在 (must lie in) [1, 12] 之间, 得到 got 13"),
    ("pay.performance.period_months", 0, "须在 (must lie in) [1, 12] 之间, 得到 got 0"),
])
def test_bad_values_name_key_label_and_value(key, value, says):
    base = load_baseline()
    with pytest.raises(PolicyError) as err:
        base.with_overrides({key: value})
    assert str(err.value) == f"overrides: 参数 {key}（{base.param(key).label}） {says}"


def test_values_at_their_limits_and_of_a_convertible_type_are_taken():
    pol = load_baseline().with_overrides({
        "pay.performance.period_months": 12, "assessment.deduction_pct_per_point": 2, "funding.sources": ["district"],
        "grid.village.min_households": 300, "grid.contiguous": False})  # a floor equal to its ceiling is allowed
    assert pol["pay.performance.period_months"] == 12 and pol["grid.village.min_households"] == 300
    pct = pol["assessment.deduction_pct_per_point"]
    assert pct == 2.0 and isinstance(pct, float)
    assert pol["funding.sources"] == ("district",) and pol["grid.contiguous"] is False
    assert load_baseline().with_overrides({"pay.performance.period_months": 1})["pay.performance.period_months"] == 1


def test_policy_files_read_the_same_under_any_locale(tmp_path):
    """The files are UTF-8 whatever the machine's default text encoding (a PC set to GBK, a server in the C
    locale): a fresh interpreter whose default is ASCII reads the same labels and scenario title."""
    import os
    import subprocess
    import sys

    import gridsim

    scen = _scenario_file(tmp_path / "cap.yaml", {"id": "cap", "title": "社区上限450户", "overrides": {CAP: 450}})
    code = ("import locale; from gridsim.policy import load_policy; p = load_policy(r'%s'); "
            "print(locale.getpreferredencoding(False), p.param('%s').label, p.scenario.title, p['%s'])"
            % (scen, CAP, CAP))
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0",
           "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(Path(gridsim.__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, encoding="utf-8")
    assert out.returncode == 0, out.stderr
    encoding, label, title, cap = out.stdout.split()
    assert encoding.upper() in ("ANSI_X3.4-1968", "ASCII")  # the default really is not UTF-8
    assert (label, title, cap) == ("社区小区网格规划住户上限", "社区上限450户", "450")
