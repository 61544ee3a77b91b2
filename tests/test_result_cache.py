"""The report's result cache: a stored simulation is served only for the very inputs and code it was made from."""

from __future__ import annotations

import hashlib
import json
import pickle

import pandas as pd
import pytest

from gridsim import result_cache
from gridsim.assessment import simulate_assessment
from gridsim.graph import build_graph
from gridsim.partition.instances import register
from gridsim.plan import Plan
from gridsim.policy import load_policy
from gridsim.result_cache import cache_key, cached, code_digest, scenario_budget
from gridsim.scenario_plan import plan_key

DRAWS = 40


@pytest.fixture(scope="module")
def small():
    """A generated register (1 village, 1 community, ~900 homes) and today's map of it."""
    homes = register(7, villages=1, communities=1)
    graph = build_graph(homes)
    policy = load_policy()
    return homes, graph, policy, Plan.from_column(homes, graph, "current_grid_id", policy)


def _entries(folder):
    return sorted(p.name for p in folder.glob("budget-*.pkl"))


def test_a_budget_is_made_once_and_served_equal(small, tmp_path):
    homes, graph, policy, plan = small
    first = scenario_budget(plan, policy, draws=DRAWS, seed=3, cache_dir=tmp_path)
    again = scenario_budget(plan, policy, draws=DRAWS, seed=3, cache_dir=tmp_path)
    assert len(_entries(tmp_path)) == 1
    pd.testing.assert_frame_equal(first.summary, again.summary)
    pd.testing.assert_frame_equal(first.grids, again.grids)
    assert again is not first  # a copy: a page changing it cannot change what the next page gets
    # the stored result is what simulate_budget gives without the cache
    plain = scenario_budget(plan, policy, draws=DRAWS, seed=3)
    pd.testing.assert_frame_equal(plain.summary, again.summary)


def test_the_assessment_of_the_stored_budget_is_simulate_assessment(small, tmp_path):
    """Page 05 shows the assessment of the budget pages' simulation: it must be what simulate_assessment gives."""
    homes, graph, policy, plan = small
    got = scenario_budget(plan, policy, draws=DRAWS, seed=5, cache_dir=tmp_path).assessment
    want = simulate_assessment(plan, policy, DRAWS, 5)
    pd.testing.assert_frame_equal(got.grids, want.grids)
    pd.testing.assert_frame_equal(got.monthly, want.monthly)
    pd.testing.assert_frame_equal(got.score_distribution, want.score_distribution)
    assert got.rates() == want.rates()


@pytest.mark.parametrize("change", ["money_value", "range_only", "seed", "draws", "years", "household", "names"])
def test_any_input_changed_is_recomputed(small, tmp_path, change):
    homes, graph, policy, plan = small
    base = scenario_budget(plan, policy, draws=DRAWS, seed=0, cache_dir=tmp_path)
    kw = dict(draws=DRAWS, seed=0, cache_dir=tmp_path)
    if change == "money_value":  # a value the optimizer never reads (so the plan key keeps it) still counts here
        pol = policy.with_overrides({"funding.district_share": 0.55})
        other = scenario_budget(plan, pol, **kw)
        assert other.summary.set_index("item").loc["funder:district", "p50"] != \
            base.summary.set_index("item").loc["funder:district", "p50"]
    elif change == "range_only":  # same values, another drawn range: the draws differ
        key = next(k for k in policy.keys() if policy.param(k).drawn)
        param = policy.param(key)
        lo, hi = param.range
        from dataclasses import replace

        params = {k: policy.param(k) for k in policy.keys()}
        params[key] = replace(param, range=(lo, param.value + (hi - param.value) / 2))
        pol = type(policy)(params, policy.scenario, policy.service_items, principles=policy.principles)
        scenario_budget(plan, pol, **kw)
    elif change == "seed":
        scenario_budget(plan, policy, **{**kw, "seed": 1})
    elif change == "draws":
        scenario_budget(plan, policy, **{**kw, "draws": DRAWS + 1})
    elif change == "years":
        scenario_budget(plan, policy, **kw, years=2)
    elif change == "household":  # one household more in one home: another register, same assignment
        changed = homes.copy()
        changed.loc[changed.index[11], "households"] += 1
        other_plan = Plan.from_column(changed, graph, "current_grid_id", policy)
        other = scenario_budget(other_plan, policy, **kw)
        assert other.grids["households"].sum() == base.grids["households"].sum() + 1
    elif change == "names":
        scenario_budget(plan, policy, **kw, unit_names={u: f"名{u}" for u in homes["unit_id"].unique()})
    assert len(_entries(tmp_path)) == 2


def test_cases_count_only_for_todays_map(small, tmp_path):
    """simulate_budget reads the cases only for today's map: only there do other cases give another entry."""
    from gridsim.report_inputs import load_inputs

    data = load_inputs()  # the embedded set: its cases are of today's grids
    homes, policy = data.homes, load_policy()
    graph = build_graph(homes, data.barriers)
    today = Plan.from_column(homes, graph, "current_grid_id", policy)
    moved = homes["current_grid_id"].copy()
    same_unit = homes.index[(homes["unit_id"] == homes["unit_id"].iloc[0]) & (moved != moved.iloc[0])]
    moved.iloc[0] = moved.loc[same_unit[0]]  # one home moved to another grid of its unit
    other = Plan(homes, graph, moved.to_numpy(), policy)
    cases = data.cases
    fewer = cases.iloc[:-1]
    kw = dict(draws=DRAWS, seed=0)
    for c in (cases, fewer):
        scenario_budget(other, policy, cases=c, cache_dir=tmp_path / "other", **kw)
        scenario_budget(today, policy, cases=c, cache_dir=tmp_path / "today", **kw)
    assert len(_entries(tmp_path / "other")) == 1
    assert len(_entries(tmp_path / "today")) == 2


def test_a_code_change_changes_every_key(small, tmp_path, monkeypatch):
    """The package's source is part of every key (the version alone does not change while code does)."""
    homes, graph, policy, plan = small
    extra = tmp_path / "code"
    extra.mkdir()
    (extra / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(result_cache, "CODE_GLOBS", (*result_cache.CODE_GLOBS, (extra, "*.py")))
    before = code_digest(), cache_key("budget", {"a": 1}), plan_key(homes, graph, policy, seed=0, time_limit=5)
    (extra / "module.py").write_text("x = 2\n")  # same size: the digest reads the bytes, not only the stamp
    after = code_digest(), cache_key("budget", {"a": 1}), plan_key(homes, graph, policy, seed=0, time_limit=5)
    assert all(a != b for a, b in zip(before, after))
    calls = []
    cached(tmp_path / "c", "t", {"a": 1}, lambda: calls.append(1) or "v")
    assert cached(tmp_path / "c", "t", {"a": 1}, lambda: calls.append(1) or "v") == ("v", True)
    (extra / "module.py").write_text("x = 3\n")
    assert cached(tmp_path / "c", "t", {"a": 1}, lambda: calls.append(1) or "w") == ("w", False)
    assert len(calls) == 2


def test_a_damaged_or_foreign_entry_is_recomputed(tmp_path):
    value, hit = cached(tmp_path, "t", {"a": 1}, lambda: [1, 2])
    assert (value, hit) == ([1, 2], False)
    (entry,) = tmp_path.glob("t-*.pkl")
    entry.write_bytes(b"not a pickle")
    assert cached(tmp_path, "t", {"a": 1}, lambda: [3]) == ([3], False)
    entry.write_bytes(pickle.dumps(("another key", [9])))  # a file under this name made for other inputs
    assert cached(tmp_path, "t", {"a": 1}, lambda: [4]) == ([4], False)
    assert cached(tmp_path, "t", {"a": 1}, lambda: [5]) == ([4], True)


def test_no_cache_folder_computes_every_time(tmp_path):
    calls = []
    for _ in range(2):
        assert cached("", "t", {"a": 1}, lambda: calls.append(1) or 7) == (7, False)
    assert len(calls) == 2 and not list(tmp_path.iterdir())


def test_home_cells_are_stored_by_homes_and_outlines(small, tmp_path):
    """The map cells: served for the same homes and outlines; a home moved or an outline changed, recomputed."""
    import geopandas as gpd
    from shapely.affinity import translate

    from gridsim import maps
    from gridsim.report_inputs import drawn_units

    homes = gpd.GeoDataFrame(small[0], geometry=gpd.points_from_xy(small[0]["x"], small[0]["y"]), crs="EPSG:4548")
    units = drawn_units(homes)
    first = result_cache.home_cells(homes, units, cache_dir=tmp_path)
    assert first.geom_equals(maps.home_cells(homes, units)).all()
    assert result_cache.home_cells(homes, units, cache_dir=tmp_path).geom_equals(first).all()
    assert len(list(tmp_path.glob("cells-*.pkl"))) == 1
    wider = units.copy()
    wider["geometry"] = wider.buffer(30)  # same ids and names, other outlines
    result_cache.home_cells(homes, wider, cache_dir=tmp_path)
    moved = homes.copy()
    moved["geometry"] = [translate(g, 5, 0) if i == 0 else g for i, g in enumerate(moved.geometry)]
    result_cache.home_cells(moved, units, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("cells-*.pkl"))) == 3


def test_a_stored_file_is_written_again_for_the_same_inputs_only(tmp_path):
    calls = []

    def make(text):
        def write(path):
            calls.append(text)
            path.write_text(text, encoding="utf-8")
        return write

    cache, out = tmp_path / "cache", tmp_path / "out" / "summary.pdf"
    result_cache.stored_file(cache, "f", ({"a": 1}, "页脚"), out, make("一"))
    out.unlink()
    assert result_cache.stored_file(cache, "f", ({"a": 1}, "页脚"), out, make("二")).read_text(encoding="utf-8") == "一"
    assert calls == ["一"]  # written from the stored bytes, not made again
    result_cache.stored_file(cache, "f", ({"a": 2}, "页脚"), out, make("三"))
    assert out.read_text(encoding="utf-8") == "三" and calls == ["一", "三"]


def test_the_summary_figures_key_alike_in_two_processes_and_differ_for_other_figures(small, tmp_path):
    """The summary PDF is keyed by the content of its figures: the same figures made in another process
    give the same key (a pickle would not), other figures another key."""
    import subprocess
    import sys

    from gridsim import summary

    homes, graph, policy, plan = small
    code = ("import json,hashlib,sys;from gridsim import summary;from gridsim.result_cache import _plain;"
            "from gridsim.partition.instances import register;from gridsim.graph import build_graph;"
            "from gridsim.plan import Plan;from gridsim.policy import load_policy;h=register(7,villages=1,communities=1);"
            "p=load_policy();pl=Plan.from_column(h,build_graph(h),'current_grid_id',p);"
            f"s=summary.summarize(pl,p,draws={DRAWS},seed=0);"
            "print(hashlib.sha256(json.dumps(_plain((s,'f')),sort_keys=True).encode()).hexdigest())")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    key = lambda s: hashlib.sha256(json.dumps(result_cache._plain((s, "f")), sort_keys=True).encode()).hexdigest()
    here = summary.summarize(plan, policy, draws=DRAWS, seed=0)
    assert key(here) == there
    assert key(summary.summarize(plan, policy, draws=DRAWS, seed=1)) != there


def test_maps_are_drawn_once_per_inputs(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from gridsim import maps
    from gridsim.registers import read_homes, read_layer

    homes, units = read_homes(), read_layer("units")
    sel = homes[homes["unit_id"].isin(["guanshan", "wanfo"])]
    cells = maps.home_cells(sel, units)
    drawn = []
    real = maps.before_after_map
    monkeypatch.setattr(maps, "before_after_map", lambda *a, **k: drawn.append(k["unit_id"]) or real(*a, **k))
    today = sel["current_grid_id"]
    first = maps.before_after_images(sel, today, today, units, ["guanshan", None], cells=cells, cache_dir=str(tmp_path))
    assert drawn == ["guanshan", None] and all(png.startswith(b"\x89PNG") for png in first)
    again = maps.before_after_images(sel, today, today, units, ["guanshan", None], cells=cells, cache_dir=str(tmp_path))
    assert again == first and drawn == ["guanshan", None]  # read, not drawn
    # another plan for one home: drawn again, and a different picture
    other = today.copy()
    home = other.index[other.index.isin(sel.index[sel["unit_id"] == "guanshan"])][0]
    other[home] = next(g for g in today[sel["unit_id"] == "guanshan"].unique() if g != other[home])
    moved = maps.before_after_images(sel, today, other, units, ["guanshan"], cells=cells, cache_dir=str(tmp_path))
    assert drawn[-1] == "guanshan" and len(drawn) == 3 and moved[0] != first[0]
    # without a cache every call draws
    maps.before_after_images(sel, today, today, units, ["guanshan"], cells=cells)
    assert len(drawn) == 4


def test_prune_removes_the_least_recently_used_results(tmp_path):
    import os
    import time

    sizes = {}
    for i, kind in enumerate(["a", "b", "c", "d"]):
        cached(tmp_path, kind, {"i": i}, lambda i=i: b"x" * (1000 * (i + 1)))
        path = next(tmp_path.glob(f"{kind}-*.pkl"))
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))  # a oldest … d newest
        sizes[kind] = path.stat().st_size
    _, hit = cached(tmp_path, "a", {"i": 0}, lambda: pytest.fail("must be read"))
    assert hit  # read now: a becomes the most recently used
    removed, freed = result_cache.prune(tmp_path, keep_bytes=sizes["a"] + sizes["d"] + sizes["c"])
    assert (removed, freed) == (1, sizes["b"])
    assert sorted(p.name[0] for p in tmp_path.glob("*.pkl")) == ["a", "c", "d"]
    assert not list(tmp_path.glob("b-*.lock"))
    assert result_cache.prune(tmp_path, keep_bytes=0) == (3, sizes["a"] + sizes["c"] + sizes["d"])
    assert result_cache.prune(tmp_path / "none") == (0, 0)
