"""Plan: incremental tallies, contiguity for single-home moves, previews, and the rules at their limits."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridsim.errors import GridsimError
from gridsim.graph import graph_from_edges
from gridsim.plan import RULES, TALLIES, Plan
from gridsim.policy import load_policy
from gridsim.registers import read_plan


def _chain(households, resident=None, unit_type="village", unit="u1", prefix="h"):
    """Homes on a line, each linked to the next."""
    n = len(households)
    resident = households if resident is None else resident
    homes = pd.DataFrame({"home_id": [f"{prefix}{k:02d}" for k in range(n)], "unit_id": unit, "unit_type": unit_type,
                          "households": households, "resident_households": resident, "key_households": 0,
                          "x": np.arange(n) * 10.0, "y": 0.0})
    edges = pd.DataFrame({"home_a": homes["home_id"][:-1].to_numpy(), "home_b": homes["home_id"][1:].to_numpy()})
    return homes, edges


REGISTERED = load_policy("village_registered_households")


def _plan(homes, edges, grids, policy=None):
    """A plan on a chain; villages count registered households unless a policy says otherwise, so the
    tests below can state village limits in households (the houses reading is tested on its own)."""
    return Plan(homes, graph_from_edges(homes, edges), grids, policy or REGISTERED)


def _rules(plan):
    return sorted(v.rule for v in plan.violations())


@pytest.mark.parametrize("total, broken", [(99, ["village_min_households"]), (100, []), (300, []),
                                           (301, ["village_max_households"])])
def test_village_limits_at_the_boundary(total, broken):
    homes, edges = _chain([total - 2, 1, 1])
    assert _rules(_plan(homes, edges, ["g1"] * 3)) == broken


@pytest.mark.parametrize("houses, broken", [(99, ["village_min_households"]), (100, []), (300, []),
                                            (301, ["village_max_households"])])
def test_village_limits_count_houses_by_default(houses, broken):
    """以房定户: one house is one 户 for the 100-300 count, however many households it registers."""
    homes, edges = _chain([3] * houses)  # 3 registered households a house: 297-903 households
    plan = _plan(homes, edges, ["g1"] * houses, load_policy())
    assert _rules(plan) == broken
    assert plan.summary()["counted_households"].iat[0] == houses
    for v in plan.violations():
        assert "以房定户" in v.message and v.value == houses

@pytest.mark.parametrize("planned, resident, broken", [
    (500, 250, []), (501, 250, ["community_max_planned"]), (500, 249, ["community_min_resident"]),
    (501, 249, ["community_max_planned", "community_min_resident"])])
def test_community_limits_at_the_boundary(planned, resident, broken):
    homes, edges = _chain([planned - 200, 200], [resident - 100, 100], unit_type="community")
    plan = _plan(homes, edges, ["g1", "g1"])
    assert _rules(plan) == broken
    for v in plan.violations():
        assert v.clause == "三(一)1" and "三(一)1" in v.message and v.grid_id == "g1"


def test_limits_come_from_the_policy():
    homes, edges = _chain([300, 150], [200, 100], unit_type="community")
    assert _rules(_plan(homes, edges, ["g"] * 2)) == []
    tighter = load_policy("community_cap_400")
    assert _rules(_plan(homes, edges, ["g"] * 2, tighter)) == ["community_max_planned"]
    looser = load_policy().with_overrides({"grid.community.min_resident_households": 301})
    assert _rules(_plan(homes, edges, ["g"] * 2, looser)) == ["community_min_resident"]


def test_contiguity_within_unit_and_unassigned():
    homes, edges = _chain([60, 60, 60, 60])
    plan = _plan(homes, edges, ["a", "b", "a", "b"])
    assert _rules(plan) == ["contiguous", "contiguous"]
    assert all("不连片" in v.message for v in plan.violations())
    homes2, edges2 = _chain([120, 120], prefix="k", unit="u2")
    both = pd.concat([homes, homes2], ignore_index=True)
    plan = _plan(both, pd.concat([edges, edges2]), ["a"] * 4 + ["a", None])
    rules = _rules(plan)
    assert "within_unit" in rules and "each_home_once" in rules
    with pytest.raises(GridsimError):
        plan.to_csv("never.csv")


def test_contiguity_rule_cites_its_assumption_and_can_be_switched_off():
    homes, edges = _chain([60, 60, 60, 60])
    plan = _plan(homes, edges, ["a", "b", "a", "b"], load_policy().with_overrides({"grid.village.min_households": 1}))
    assert {v.clause for v in plan.violations()} == {load_policy().param("grid.contiguous").clause}
    relaxed = load_policy().with_overrides({"grid.contiguous": False, "grid.village.min_households": 1})
    assert _rules(_plan(homes, edges, ["a", "b", "a", "b"], relaxed)) == []


def test_move_keeps_tallies_and_undo_restores():
    homes, edges = _chain([50, 60, 70, 80, 90], [10, 20, 30, 40, 50])
    plan = _plan(homes, edges, ["a", "a", "a", "b", "b"])
    rec = plan.move("h02", "b")
    assert plan.tally("a")["households"] == 110 and plan.tally("b")["households"] == 240
    assert plan.tally("b")["resident_households"] == 120 and plan.tally("b")["homes"] == 3
    rec2 = plan.move([0, 1], "c")
    assert plan.n_grids() == 2 and plan.grid_ids == ["b", "c"]
    plan.undo(rec2)
    plan.undo(rec)
    assert plan.assignment.tolist() == ["a", "a", "a", "b", "b"]
    assert "c" not in plan._code
    with pytest.raises(GridsimError):
        plan.move("nope", "a")


def test_breaks_contiguity_and_can_move():
    homes, edges = _chain([50] * 5)
    plan = _plan(homes, edges, ["a", "a", "a", "b", "b"])
    assert plan.breaks_contiguity("h01")
    assert not plan.breaks_contiguity("h02") and not plan.breaks_contiguity("h00")
    assert plan.can_move("h02", "b") and not plan.can_move("h00", "b") and not plan.can_move("h01", "b")


def test_preview_reports_both_grids_and_leaves_plan_alone():
    homes, edges = _chain([100, 100, 100, 100, 100])
    plan = _plan(homes, edges, ["a", "a", "a", "b", "b"])
    before = plan.assignment.copy()
    pv = plan.preview_move("h02", "b")
    assert pv.counts.loc["a", "households_before"] == 300 and pv.counts.loc["a", "households_after"] == 200
    assert pv.counts.loc["b", "households_after"] == 300 and pv.ok
    pv = plan.preview_move("h01", "b")
    assert not pv.ok
    assert sorted((v.rule, v.grid_id) for v in pv.broken) == [("contiguous", "a"), ("contiguous", "b")]
    pv = plan.preview_move(["h03", "h04"], "a")  # empties b, breaks a's ceiling
    assert [v.rule for v in pv.broken] == ["village_max_households"]
    assert pv.counts.loc["b", "homes_after"] == 0
    assert plan.assignment.equals(before) and plan.tally("b")["homes"] == 2


def test_summary_and_csv_roundtrip(tmp_path):
    homes, edges = _chain([99, 100, 150, 151])
    plan = _plan(homes, edges, ["a", "b", "c", "c"])
    s = plan.summary().set_index("grid_id")
    assert s.loc["a", "violations"] == "village_min_households" and not s.loc["a", "ok"]
    assert s.loc["c", "violations"] == "village_max_households" and s.loc["b", "ok"]
    assert s.loc["c", "homes"] == 2 and s.loc["c", "households"] == 301
    path = plan.to_csv(tmp_path / "plan.csv")
    again = read_plan(path, homes)
    assert again.tolist() == ["a", "b", "c", "c"]


def _grid_homes(side, seed):
    rng = np.random.default_rng(seed)
    n = side * side
    homes = pd.DataFrame({"home_id": [f"p{k:03d}" for k in range(n)], "unit_id": "u", "unit_type": "village",
                          "households": rng.integers(1, 4, n), "resident_households": 0, "key_households": 0,
                          "x": np.arange(n) % side * 10.0, "y": np.arange(n) // side * 10.0})
    g = nx.grid_2d_graph(side, side)
    edges = pd.DataFrame([(f"p{a[1] * side + a[0]:03d}", f"p{b[1] * side + b[0]:03d}") for a, b in g.edges],
                         columns=["home_a", "home_b"])
    return homes, edges


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), moves=st.lists(st.tuples(st.integers(0, 35), st.integers(0, 3)), max_size=40))
def test_incremental_tallies_and_contiguity_match_recomputation(seed, moves):
    homes, edges = _grid_homes(6, seed)
    start = np.where(np.arange(36) % 6 < 3, "g0", "g1")
    plan = _plan(homes, edges, start)
    nxg = plan.graph.to_networkx()
    for pos, target in moves:
        grid = plan.grid_of(pos)
        rest = nxg.subgraph(set(plan.members(grid).tolist()) - {pos})
        same = [u for u in nxg.neighbors(pos) if plan.grid_of(u) == grid]
        # "breaks" = the home's own neighbours in its grid no longer reach each other without it
        expect = any(not nx.has_path(rest, same[0], u) for u in same[1:])
        assert plan.breaks_contiguity(pos) == expect
        plan.move(pos, f"g{target}")
    fresh = Plan(homes, plan.graph, plan.assignment.to_numpy(), plan.policy)
    for gid in fresh.grid_ids:
        assert plan.tally(gid) == fresh.tally(gid)
    assert plan.grid_ids == fresh.grid_ids
    assert sum(plan.tally(g)["households"] for g in plan.grid_ids) == homes["households"].sum()
    pieces = plan.pieces()
    for g in plan.grid_ids:
        assert pieces[g] == nx.number_connected_components(nxg.subgraph(plan.members(g).tolist()))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), moves=st.lists(st.tuples(st.lists(st.integers(0, 35), min_size=1, max_size=4),
                                                           st.integers(0, 4)), min_size=1, max_size=15))
def test_preview_checks_only_the_touched_grids_and_agrees_with_the_whole_plan(seed, moves):
    """The preview checks contiguity and the within-unit rule from the touched grids' own members; its
    verdict after a move must be exactly what re-checking the whole plan says about those grids."""
    homes, edges = _grid_homes(6, seed)
    homes["unit_id"] = np.where(np.arange(36) < 18, "u1", "u2")  # two units: grids may come to span both
    plan = _plan(homes, edges, np.where(np.arange(36) % 6 < 3, "g0", "g1"))
    for pos, target in moves:
        preview = plan.preview_move(pos, f"g{target}")
        plan.move(pos, f"g{target}")
        touched = set(preview.counts.index)
        whole = {(v.rule, v.grid_id, v.value) for v in plan.violations() if v.grid_id in touched}
        assert {(v.rule, v.grid_id, v.value) for v in preview.after} == whole


def test_todays_map_breaks_the_new_rules():
    from gridsim.graph import build_graph
    from gridsim.registers import read_homes, read_layer

    homes = read_homes()
    plan = Plan.from_column(homes, build_graph(homes, read_layer("barriers")))
    s = plan.summary()
    assert len(s) == homes["current_grid_id"].nunique()
    assert s["households"].sum() == homes["households"].sum()
    v = plan.violations_frame()
    assert set(v["rule"]) <= set(RULES)
    assert (v["rule"] == "village_min_households").any()
    assert plan.moved_households(homes["current_grid_id"]) == 0
    assert set(TALLIES) <= set(s.columns)


def test_unit_rules_describe_one_range_or_two_counts():
    """The editor's and reports' limits line: one count with both limits reads as a range, two counts apart."""
    from gridsim.grid_rules import unit_rules

    policy = load_policy()
    assert unit_rules(policy, "community").describe() == "规划住户 ≤ 500，常住户 ≥ 250（三(一)1）"
    assert unit_rules(policy, "village").describe() == "户数（以房定户，按住房计） 100–300（三(一)2）"
    narrow = policy.with_overrides({"grid.village.min_households": 150, "grid.village.max_households": 250})
    assert unit_rules(narrow, "village").describe() == "户数（以房定户，按住房计） 150–250（三(一)2）"


def test_unit_rules_are_the_plans_limits_field_by_field():
    """三(一)1 and 三(一)2 as the one definition gives them: which count has the ceiling and which the floor,
    the policy key, the value, the clause and the words, for each unit type and both village readings."""
    from gridsim.grid_rules import CountLimit, unit_rules

    policy = load_policy()
    community = unit_rules(policy, "community")
    assert community.unit_type == "community" and community.count_tally == "households"
    assert community.ceiling == CountLimit("community_max_planned", "community", "households",
                                           "grid.community.max_planned_households", 500, "三(一)1", True,
                                           "规划住户", "planned households")
    assert community.floor == CountLimit("community_min_resident", "community", "resident_households",
                                         "grid.community.min_resident_households", 250, "三(一)1", False,
                                         "常住户", "resident households")
    village = unit_rules(policy, "village")
    assert village.unit_type == "village" and village.limits == (village.ceiling, village.floor)
    assert village.ceiling == CountLimit("village_max_households", "village", "homes", "grid.village.max_households",
                                         300, "三(一)2", True, "户数（以房定户，按住房计）", "households counted by house")
    assert village.floor == CountLimit("village_min_households", "village", "homes", "grid.village.min_households",
                                       100, "三(一)2", False, "户数（以房定户，按住房计）", "households counted by house")
    registered = unit_rules(load_policy("village_registered_households"), "village")
    assert registered.count_tally == "households" and registered.floor.what_en == "registered households"
    with pytest.raises(GridsimError, match="未知村社类型 \\(unknown unit type\\): 'town'"):
        unit_rules(policy, "town")


def test_a_home_without_a_grid_is_reported_with_its_clause():
    """以房定户 (三(一)2): a home left out of every grid is one violation naming the home and its unit."""
    homes, edges = _chain([120, 120], prefix="k", unit="u2")
    plan = _plan(homes, edges, ["a", None])
    [v] = plan.violations(["each_home_once"])
    hid = homes["home_id"].iat[1]
    assert (v.rule, v.clause, v.grid_id, v.unit_id, v.value, v.limit) == ("each_home_once", "三(一)2", None, "u2", hid, 1)
    assert v.message == f"住户 {hid} 未分入任何网格（三(一)2 以房定户）(home is not in any grid)"


def test_count_violations_say_ceiling_or_floor_in_both_languages():
    homes, edges = _chain([301, 200], [301, 200], unit_type="community")
    [v] = _plan(homes, edges, ["g1", "g1"]).violations(["community_max_planned"])
    assert v.message == "网格 g1（u1）规划住户 501，超过上限 500（三(一)1）(planned households 501 exceeds the ceiling 500)"
    assert (v.rule, v.clause, v.grid_id, v.unit_id, v.value, v.limit) == ("community_max_planned", "三(一)1", "g1", "u1", 501, 500)
    homes, edges = _chain([100, 100], [100, 100], unit_type="community")
    [v] = _plan(homes, edges, ["g1", "g1"]).violations(["community_min_resident"])
    assert v.message == "网格 g1（u1）常住户 200，低于下限 250（三(一)1）(resident households 200 is below the floor 250)"
    assert (v.unit_id, v.value, v.limit) == ("u1", 200, 250)


def test_within_unit_and_contiguity_violations_field_by_field():
    homes, edges = _chain([120, 120])
    homes2, edges2 = _chain([120, 120], prefix="k", unit="u2")
    both = pd.concat([homes, homes2], ignore_index=True)
    plan = _plan(both, pd.concat([edges, edges2, pd.DataFrame({"home_a": ["h01"], "home_b": ["k00"]})]),
                 ["a", "a", "a", "b"])
    [v] = plan.violations(["within_unit"])
    clause = load_policy().param("grid.within_unit").clause
    assert (v.rule, v.clause, v.grid_id, v.unit_id, v.value, v.limit) == ("within_unit", clause, "a", "u1,u2", 2, 1)
    assert v.message == f"网格 a 跨越 2 个村社 ['u1', 'u2']（{clause}）(grid spans several units)"
    homes, edges = _chain([60, 60, 60])
    [v] = _plan(homes, edges, ["a", "b", "a"]).violations(["contiguous"])
    clause = load_policy().param("grid.contiguous").clause
    assert (v.rule, v.clause, v.grid_id, v.unit_id, v.value, v.limit) == ("contiguous", clause, "a", "u1", 2, 1)
    assert v.message == f"网格 a（u1）不连片，分成 2 块（{clause}）(grid is not contiguous: 2 pieces)"
