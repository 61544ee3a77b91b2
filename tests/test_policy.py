"""The plan's rules as data: every quantitative rule present with its clause; scenarios as overrides."""

from __future__ import annotations

import pytest
import yaml

from gridsim.errors import PolicyError
from gridsim.policy import list_scenarios, load_baseline, load_policy, load_scenario

# (key, value, clause) straight from the plan text
PLAN_RULES = [
    ("grid.community.max_planned_households", 500, "三(一)1"),
    ("grid.community.min_resident_households", 250, "三(一)1"),
    ("grid.village.min_households", 100, "三(一)2"),
    ("grid.village.max_households", 300, "三(一)2"),
    ("pay.base.yuan_per_100_households_month", 200, "三(一)3"),
    ("pay.base.cap_yuan_month", 600, "三(一)3"),
    ("pay.performance.period_months", 3, "三(一)3"),
    ("training.min_sessions_per_half_year", 1, "三(三)"),
    ("visits.key.min_per_month", 1, "三(四)5"),
    ("visits.general.min_per_quarter", 1, "三(四)5"),
    ("assessment.deduction_pct_per_point", 1.0, "三(六)"),
    ("assessment.unqualified_threshold", 60, "三(六)"),
    ("assessment.criticism_unqualified_months", 2, "三(六)"),
    ("assessment.termination_unqualified_months", 3, "三(六)"),
    ("assessment.start", "2024-02", "三(六)"),
    ("publicity.posts_per_month", 2, "三(七)"),
    ("publicity.reward_yuan_per_adopted_post", 500, "三(七)"),
]


@pytest.mark.parametrize("key,value,clause", PLAN_RULES)
def test_plan_rule_present_with_clause_and_quote(key, value, clause):
    p = load_baseline().param(key)
    assert p.value == value
    assert p.clause == clause
    assert not p.assumption
    assert p.quote and p.unit and p.effective


def test_quotes_are_verbatim_in_the_plan():
    """Every rule's quote is a fragment of the plan text shipped in the repository (data/policy/plan_text.txt)."""
    from gridsim.paths import POLICY_DIR

    text = (POLICY_DIR / "plan_text.txt").read_text(encoding="utf-8")
    assert "史河街政办〔2024〕2号" in text
    pol = load_baseline()
    quoted = 0
    for key in pol.keys():
        p = pol.param(key)
        if p.quote:
            for fragment in p.quote.split("……"):
                assert fragment in text, (key, fragment)
            quoted += 1
    assert quoted >= len(PLAN_RULES)  # every rule above carries a quote


def test_escalation_levels_and_funders():
    pol = load_baseline()
    assert pol["escalation.levels"] == ("grid", "unit", "subdistrict")
    assert pol.param("escalation.levels").clause == "三(五)"
    assert pol["funding.sources"] == ("district", "subdistrict")


def test_attachment_1_has_twelve_items_and_leaves_blank_what_the_plan_leaves_blank():
    items = load_baseline().service_items
    assert [i.id for i in items] == list(range(1, 13))
    assert all(i.item and i.code.isascii() for i in items)
    assert items[10].item == "网格居民走访" and items[10].department == "网格化服务管理中心"
    # item 9 (矛盾纠纷化解) has no department in the plan's table: the data must not fill one in
    assert items[8].item == "矛盾纠纷化解" and items[8].department is None
    assert all(i.department for i in items if i.id != 9)


def test_assumptions_are_marked_and_explained():
    pol = load_baseline()
    assumptions = [pol.param(k) for k in pol.keys() if pol.param(k).assumption]
    assert {"pay.base.basis", "pay.base.rounding", "funding.district_share", "publicity.adoption_rate",
            "visits.capacity_per_worker_month", "assessment.year_window"} <= {p.key for p in assumptions}
    for p in assumptions:
        assert p.reason, p.key
        if p.range:
            lo, hi = p.range
            assert lo <= p.value <= hi, p.key


def test_baseline_is_frozen_and_overrides_make_a_new_policy():
    base = load_baseline()
    variant = base.with_overrides({"grid.community.max_planned_households": 400})
    assert base["grid.community.max_planned_households"] == 500
    assert variant["grid.community.max_planned_households"] == 400
    assert variant.overridden() == {"grid.community.max_planned_households": (500, 400)}
    with pytest.raises(TypeError):
        base._params["x"] = 1  # the mapping is read-only


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        ({"grid.nonexistent": 1}, "未知参数"),
        ({"grid.village.max_households": "300"}, "expected int"),
        ({"grid.village.max_households": True}, "expected int"),
        ({"pay.base.rounding": "per_full_50"}, "must be one of"),
        ({"grid.village.max_households": -5}, "negative"),
    ],
)
def test_bad_overrides_are_clear_errors(overrides, fragment):
    with pytest.raises(PolicyError, match=fragment):
        load_baseline().with_overrides(overrides)


def test_shipped_scenarios_apply_and_differ_from_baseline():
    scens = list_scenarios()
    assert scens[0].id == "baseline"
    variants = [s for s in scens if s.id != "baseline"]
    assert len(variants) >= 3
    for s in variants:
        pol = load_policy(s.id)
        assert pol.overridden(), s.id
        assert s.id.isascii() and s.title


def test_scenario_file_with_unknown_key_names_file_and_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump({"id": "bad", "title": "坏", "overrides": {"pay.base.cap": 700}}), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.yaml.*pay\.base\.cap"):
        load_policy(f)


def test_unknown_scenario_lists_available():
    with pytest.raises(PolicyError, match="baseline"):
        load_scenario("no_such_scenario")


def test_policy_table_has_chinese_headers():
    t = load_policy("community_cap_400").table()
    assert "条款 clause" in t.columns
    row = t.set_index("参数 key").loc["grid.community.max_planned_households"]
    assert row["取值 value"] == "400" and row["基线值 baseline"] == "500"


def test_the_read_log_sees_every_way_a_value_is_read():
    from gridsim.policy import SCENARIO_READ, log_reads

    pol = load_policy("community_cap_400")
    with log_reads() as outer:
        with log_reads() as inner:
            pol["grid.community.max_planned_households"]
            pol.param("funding.district_share")
            assert pol.label.startswith("community_cap_400 — ")  # a header, not a read
        assert inner == {"grid.community.max_planned_households", "funding.district_share"}
        pol.scenario  # the scenario itself
        derived = pol.with_overrides({"funding.district_share": 0.3})
        derived["pay.base.yuan_per_100_households_month"]
    assert inner == {"grid.community.max_planned_households", "funding.district_share"}  # closed with its block
    assert outer == inner | {SCENARIO_READ, "pay.base.yuan_per_100_households_month"}
    with log_reads() as everything:
        pol.overridden()
    assert everything == set(pol.keys())
    with log_reads() as table:
        pol.table()
    assert table == set(pol.keys())
    pol["grid.community.max_planned_households"]  # no log open: nothing noted, nothing fails
