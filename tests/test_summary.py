"""The plan per scenario (its cache is never stale) and the leader's summary (numbers → sentences, table, PDF)."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from gridsim import summary
from gridsim.graph import build_graph
from gridsim.partition import partition
from gridsim.partition.instances import register
from gridsim.plan import Plan
from gridsim.policy import Policy, load_policy
from gridsim.scenario_plan import (StalePlanError, fingerprint, load_plan, optimizer_policy, plan_key, save_plan,
                                   scenario_plan, stored_key)


@pytest.fixture(scope="module")
def small():
    """A generated register (not the embedded one): 1 village and 1 community, about a thousand homes."""
    homes = register(5, villages=1, communities=1)
    return homes, build_graph(homes)


def test_cache_serves_the_same_inputs_and_recomputes_when_one_grid_rule_changes(small, tmp_path):
    homes, graph = small
    base = load_policy()
    first, src1 = scenario_plan(homes, graph, base, seed=0, time_limit=30, cache_dir=tmp_path)
    again, src2 = scenario_plan(homes, graph, base, seed=0, time_limit=30, cache_dir=tmp_path)
    assert src1 == "" and "cache" in src2  # computed, then served
    assert fingerprint(again.plan) == fingerprint(first.plan)
    assert again.units.equals(first.units) and again.diagnoses == first.diagnoses
    # one policy value the optimizer reads → another key, recomputed (a second entry in the cache)
    tighter = base.with_overrides({"grid.village.max_households": 150})
    other, src3 = scenario_plan(homes, graph, tighter, seed=0, time_limit=30, cache_dir=tmp_path)
    assert src3 == "" and sum(stored_key(p) is not None for p in tmp_path.iterdir()) == 2
    assert other.plan.n_grids() > first.plan.n_grids()
    # another seed, another register (one household more somewhere, one home fewer): other keys
    key = plan_key(homes, graph, base, seed=0, time_limit=30)
    assert plan_key(homes, graph, base, seed=1, time_limit=30) != key
    changed = homes.copy()
    changed.loc[changed.index[7], "households"] += 1
    assert plan_key(changed, graph, base, seed=0, time_limit=30) != key
    fewer = build_graph(homes.iloc[:-1].reset_index(drop=True))  # adjacency of another register
    assert plan_key(homes.iloc[:-1].reset_index(drop=True), fewer, base, seed=0, time_limit=30) != key
    # a policy change the optimizer does not read keeps the key (the plan cannot differ)
    assert plan_key(homes, graph, base.with_overrides({"funding.district_share": 0.5}), seed=0, time_limit=30) == key


def test_a_stored_plan_is_refused_for_other_inputs(small, tmp_path):
    homes, graph = small
    base = load_policy()
    result = partition(homes, graph, policy=base, seed=0, time_limit=30)
    folder = save_plan(result, tmp_path / "plan", plan_key(homes, graph, base, seed=0, time_limit=30))
    loaded = load_plan(folder, homes, graph, base, seed=0, time_limit=30)
    assert fingerprint(loaded.plan) == fingerprint(result.plan)
    with pytest.raises(StalePlanError):
        load_plan(folder, homes, graph, base.with_overrides({"grid.village.min_households": 80}), seed=0, time_limit=30)
    with pytest.raises(StalePlanError):
        load_plan(folder, homes, graph, base, seed=3, time_limit=30)
    (folder / "plan_units.csv").unlink()  # an incomplete folder is no plan at all
    with pytest.raises(Exception, match="no stored plan"):
        load_plan(folder, homes, graph, base, seed=0, time_limit=30)


def test_the_optimizer_reads_only_the_parameters_the_key_holds(small, monkeypatch):
    """The cache key holds the grid.*, workload.* and visits.* values; this fails if the optimizer starts
    reading another parameter (a stale plan would follow)."""
    homes, graph = small
    read: set[str] = set()
    get, param = Policy.__getitem__, Policy.param
    monkeypatch.setattr(Policy, "__getitem__", lambda self, k: (read.add(k), get(self, k))[1])
    monkeypatch.setattr(Policy, "param", lambda self, k: (read.add(k), param(self, k))[1])
    partition(homes, graph, policy=load_policy("workload_ceiling"), seed=0, time_limit=30)
    assert read and all(k.startswith(("grid.", "workload.", "visits.")) for k in read), sorted(read)
    assert set(read) <= set(optimizer_policy(load_policy()))


def test_fingerprint_changes_when_one_home_moves(small):
    homes, graph = small
    plan = Plan.from_column(homes, graph, "current_grid_id")
    before = fingerprint(plan)
    moved = plan.copy()
    home = homes["home_id"].iloc[0]
    target = next(g for g in moved.unit_grid_ids(homes["unit_id"].iloc[0]) if g != moved.grid_of(home))
    moved.move(home, target)
    assert fingerprint(moved) != before and fingerprint(plan) == before


# ---------------------------------------------------------------------------------------------------
# Sentences from numbers


def _figures(grids, per, p50, rates, violations=0):
    funding = pd.DataFrame({"p5": [p50 * 0.9, p50 * 0.45, p50 * 0.45], "p50": [p50, p50 / 2, p50 / 2],
                            "p95": [p50 * 1.1, p50 * 0.55, p50 * 0.55]},
                           index=["total", "funder:district", "funder:subdistrict"])
    return summary.PlanFigures(grids, per, funding, rates, violations)


def _summary(overrides=None, with_baseline=True):
    today = _figures({"community": 142, "village": 136, "total": 278}, {"community": 169, "village": 88, "total": 129},
                     876_000, {"unqualified": 0.0016, "criticism": 0.0034, "termination": 0.0014}, violations=274)
    plan = _figures({"community": 55, "village": 33, "total": 88}, {"community": 436, "village": 361, "total": 408},
                    632_500, {"unqualified": 0.0128, "criticism": 0.0371, "termination": 0.0225}, violations=6)
    plans = {summary.TODAY: today, summary.PLAN: plan}
    if overrides and with_baseline:
        plans[summary.BASELINE] = _figures({"community": 66, "village": 33, "total": 99},
                                           {"community": 363, "village": 361, "total": 363}, 727_000,
                                           {"unqualified": 0.0030, "criticism": 0.0074, "termination": 0.0035})
    labels = {k: "某参数" for k in overrides or {}}
    return summary.ScenarioSummary("x", "某情景", plans, overrides or {}, labels, 2024, 500)


def test_sentences_state_the_numbers_and_their_direction():
    text = "\n".join(summary.sentences(_summary()))
    for needle in ("278 个调整为 88 个", "社区 142→55", "村 136→33", "减少 190 个", "平均 408 户", "社区 436 户",
                   "6 个网格仍不符合", "63.2 万元", "56.9–69.6 万元", "区级 31.6 万元", "比现状网格少 24.4 万元",
                   "1.28%", "3.7%", "2.2%", "本情景为基线"):
        assert needle in text, needle
    variant = "\n".join(summary.sentences(_summary({"grid.community.max_planned_households": (500, 400)})))
    assert "改动了 1 项参数" in variant and "500→400" in variant
    # 88 grids against the baseline's 99; 63.25 against 72.7 万元; 1.28% against 0.30%
    assert "网格数比基线少 11 个" in variant and "经费中位数比基线少 9.4 万元（-13.0%）" in variant
    assert "不合格比例比基线多 0.98 个百分点" in variant


def test_sentences_without_todays_map_say_so():
    s = _summary()
    del s.plans[summary.TODAY]
    text = "\n".join(summary.sentences(s))
    assert "无法与现状比较" in text and "比现状" not in text


def test_table_has_one_column_per_plan_and_the_figures_asked_for():
    table = summary.summary_table(_summary({"k": (1, 2)}))
    assert list(table.columns) == [summary.TODAY, summary.PLAN, summary.BASELINE]
    assert table.loc["网格数（社区）grids", summary.PLAN] == "55"
    assert table.loc["全年经费 P5–P95（万元）", summary.TODAY] == "78.8–96.4"
    assert table.loc["月度考核不合格比例 unqualified share", summary.BASELINE] == "0.30%"


def test_summary_of_a_real_plan_and_its_pdf(small, tmp_path):
    homes, graph = small
    policy = load_policy("community_cap_400")
    base = load_policy()
    plan = partition(homes, graph, policy=policy, seed=0, time_limit=30).plan
    base_plan = partition(homes, graph, policy=base, seed=0, time_limit=30).plan
    today = Plan.from_column(homes, graph, "current_grid_id", policy)
    s = summary.summarize(plan, policy, today=today, baseline_plan=base_plan, baseline_policy=base, draws=60, seed=1)
    tallies = plan.tallies()
    assert s.plans[summary.PLAN].grids["total"] == plan.n_grids()
    assert s.plans[summary.PLAN].grids["village"] == int((tallies["unit_type"] == "village").sum())
    assert s.plans[summary.TODAY].grids["total"] == homes["current_grid_id"].nunique()
    assert np.isclose(s.plans[summary.PLAN].households_per_grid["total"], tallies["households"].mean())
    assert s.overrides == {"grid.community.max_planned_households": (500, 400)}
    again = summary.summarize(plan, policy, today=today, baseline_plan=base_plan, baseline_policy=base, draws=60,
                              seed=1)
    assert summary.sentences(again) == summary.sentences(s)  # same seed, same words
    pdf = summary.write_pdf(s, tmp_path / "summary.pdf", footer="测试 test")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True)
    if info.returncode == 0:
        assert "Pages:           1" in info.stdout and "A4" in info.stdout
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True)
    if fonts.returncode == 0:
        assert "NotoSansCJK" in fonts.stdout and " yes yes " in fonts.stdout
