"""The optimizer's per-unit cache: the same plan with it as without, re-solving only the units a change
touches, and never serving a solution for other inputs, a timed-out one or an unreadable file."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import threading
import time

import numpy as np
import pandas as pd
import pytest

import gridsim.partition.run as run
import gridsim.partition.unit_cache as unit_cache
from gridsim.graph import build_graph
from gridsim.partition import Effort, partition
from gridsim.partition.instances import community, village
from gridsim.partition.problem import unit_problems
from gridsim.partition.unit_cache import Claims
from gridsim.policy import load_policy
from gridsim.scenario_plan import UNIT_CACHE, fingerprint, scenario_plan

FAST = Effort(trees=8, polish=2, anneal_per_home=2.0, min_anneal=300, recombinations=100, penalty_steps=3000)
VILLAGES, COMMUNITIES = {"v1", "v2"}, {"c1", "c2"}


@pytest.fixture(scope="module")
def homes():
    """Two villages (2 grids each, one of them with a 村民组 too big to keep whole) and two communities
    (3 grids each at the 500 cap, 4 at 400), odd shapes, about 1,050 homes."""
    rng = np.random.default_rng(11)
    parts = [village(rng, "v1", 11, "strip"), village(rng, "v2", 8, "ring", origin=(9000.0, 0.0)),
             community(rng, "c1", 4, "blob", origin=(0.0, 9000.0)),
             community(rng, "c2", 3, "strip", origin=(9000.0, 9000.0))]
    out = pd.concat(parts, ignore_index=True)
    out["key_households"] = rng.binomial(out["resident_households"].to_numpy(), 0.08)
    return out


def _same(a, b):
    """Two results give the same plan: grid per home, diagnoses, and the unit table but for timing/cache."""
    assert a.plan.to_frame().equals(b.plan.to_frame())
    assert [dataclasses.astuple(d) for d in a.diagnoses] == [dataclasses.astuple(d) for d in b.diagnoses]
    drop = ["seconds", "from_cache"]
    pd.testing.assert_frame_equal(a.units.drop(columns=drop), b.units.drop(columns=drop))


def _cached(result) -> set[str]:
    return set(result.units.loc[result.units["from_cache"], "unit_id"])


def test_cold_and_warm_cache_give_the_plan_made_without_it(homes, tmp_path):
    plain = partition(homes, seed=5, effort=FAST)
    cold = partition(homes, seed=5, effort=FAST, unit_cache=tmp_path, workers=2)  # solved in a process pool
    warm = partition(homes, seed=5, effort=FAST, unit_cache=tmp_path)
    assert len(plain.diagnoses) >= 1  # the village with an unsplittable group is diagnosed, from the cache too
    _same(plain, cold)
    _same(plain, warm)
    assert (plain.units_cached, cold.units_cached, warm.units_cached) == (0, 0, 4)
    assert _cached(warm) == VILLAGES | COMMUNITIES and not cold.units["from_cache"].any()
    assert len(list(tmp_path.glob("*.pkl"))) == 4
    assert not list(tmp_path.glob("*.tmp"))  # written through temporary files, none left over


def test_changed_community_cap_re_solves_only_the_communities(homes, tmp_path):
    partition(homes, seed=5, effort=FAST, unit_cache=tmp_path)
    cap400 = load_policy("community_cap_400")
    assert cap400["grid.community.max_planned_households"] == 400
    again = partition(homes, seed=5, effort=FAST, policy=cap400, unit_cache=tmp_path)
    assert _cached(again) == VILLAGES and again.units_cached == 2
    plain = partition(homes, seed=5, effort=FAST, policy=cap400)
    _same(again, plain)
    # the communities really changed: more grids under the lower cap
    base = partition(homes, seed=5, effort=FAST)
    grids = lambda r: dict(zip(r.units["unit_id"], r.units["grids"]))  # noqa: E731
    assert all(grids(again)[u] > grids(base)[u] for u in COMMUNITIES)
    # a cap written as an override is the same problem as the scenario's: all four come from the cache
    custom = load_policy().with_overrides({"grid.community.max_planned_households": 400})
    assert partition(homes, seed=5, effort=FAST, policy=custom, unit_cache=tmp_path).units_cached == 4


def test_village_count_basis_re_solves_only_the_villages(homes, tmp_path):
    partition(homes, seed=5, effort=FAST, unit_cache=tmp_path)
    registered = load_policy("village_registered_households")
    again = partition(homes, seed=5, effort=FAST, policy=registered, unit_cache=tmp_path)
    assert _cached(again) == COMMUNITIES
    _same(again, partition(homes, seed=5, effort=FAST, policy=registered))


def test_scenario_plan_shares_units_between_scenarios(homes, tmp_path):
    graph = build_graph(homes)
    base, _ = scenario_plan(homes, graph, load_policy(), seed=2, cache_dir=tmp_path, workers=1)
    cap, source = scenario_plan(homes, graph, load_policy("community_cap_400"), seed=2, cache_dir=tmp_path,
                                workers=1)
    assert source == "" and base.units_cached == 0 and _cached(cap) == VILLAGES
    assert len(list((tmp_path / UNIT_CACHE).glob("*.pkl"))) == 6
    plain = partition(homes, graph, policy=load_policy("community_cap_400"), seed=2)
    assert fingerprint(cap.plan) == fingerprint(plain.plan)
    # the whole plan is then served by the plan cache, not rebuilt from units
    again, source = scenario_plan(homes, graph, load_policy("community_cap_400"), seed=2, cache_dir=tmp_path)
    assert source.startswith("缓存 cache") and fingerprint(again.plan) == fingerprint(plain.plan)


def test_each_input_of_the_solver_is_in_the_key(homes, tmp_path):
    partition(homes, seed=5, effort=FAST, unit_cache=tmp_path)
    assert partition(homes, seed=6, effort=FAST, unit_cache=tmp_path).units_cached == 0
    assert partition(homes, seed=5, effort=dataclasses.replace(FAST, trees=9), unit_cache=tmp_path).units_cached == 0
    assert partition(homes, seed=5, effort=FAST, mode="repair", unit_cache=tmp_path).units_cached == 0
    fixed3 = partition(homes, seed=5, effort=FAST, mode="fixed", grids=3, unit_cache=tmp_path)
    assert fixed3.units_cached == 0
    assert partition(homes, seed=5, effort=FAST, mode="fixed", grids=3, unit_cache=tmp_path).units_cached == 4
    fixed4 = partition(homes, seed=5, effort=FAST, mode="fixed", grids={"v1": 4, "v2": 3, "c1": 3, "c2": 3},
                       unit_cache=tmp_path)
    assert _cached(fixed4) == {"v2", "c1", "c2"}  # only v1's grid count changed
    # one home of v2 with one household more: v2 is another problem, the other units are not
    changed = homes.copy()
    row = changed.index[changed["unit_id"] == "v2"][7]
    changed.loc[row, ["households", "resident_households"]] += 1
    moved = partition(changed, seed=5, effort=FAST, unit_cache=tmp_path)
    assert _cached(moved) == {"v1", "c1", "c2"}
    _same(moved, partition(changed, seed=5, effort=FAST))


def test_changed_code_misses(homes, tmp_path, monkeypatch):
    partition(homes, seed=5, effort=FAST, unit_cache=tmp_path)
    real = unit_cache.code_digest()
    monkeypatch.setattr(unit_cache, "code_digest", lambda: real[:-1] + ("0" if real[-1] != "0" else "1"))
    assert partition(homes, seed=5, effort=FAST, unit_cache=tmp_path).units_cached == 0
    monkeypatch.setattr(unit_cache, "code_digest", lambda: real)
    assert partition(homes, seed=5, effort=FAST, unit_cache=tmp_path).units_cached == 4


def test_key_covers_every_field_of_the_problem(homes):
    """Any one field of a unit's problem changed, the key changes (arrays by content, not identity)."""
    policy = load_policy("workload_ceiling")  # so the workload inputs are part of the problem too
    prob = unit_problems(homes, build_graph(homes), policy, homes["current_grid_id"].to_numpy(dtype=object))[2]
    seq = np.random.SeedSequence(5).spawn(4)[2]
    key = unit_cache.unit_key(prob, "fewest", seq, None, FAST)
    copy = dataclasses.replace(prob, xy=prob.xy.copy(), home_ids=prob.home_ids.copy())
    assert unit_cache.unit_key(copy, "fewest", np.random.SeedSequence(5).spawn(4)[2], None, FAST) == key
    for f in dataclasses.fields(prob):
        value = getattr(prob, f.name)
        if isinstance(value, np.ndarray):
            other = value.copy()
            flat = other.reshape(-1)
            if other.dtype == object:
                flat[0] = "h-other"
            elif other.dtype == bool:
                flat[0] = not flat[0]
            else:
                flat[0] = -1 if flat[0] != -1 else -2  # NaN included
        elif isinstance(value, list):
            other = [list(value[0])[::-1] + [0]] + value[1:]
        elif isinstance(value, int):
            other = value + 1
        elif isinstance(value, str):
            other = value + "x"
        elif f.name == "rules":
            other = dataclasses.replace(value, floor=dataclasses.replace(value.floor, clause="其他"))
        elif f.name == "workload":
            other = value.calibrated(1.5)
        else:
            assert value is None, f.name  # pin: None outside repair
            other = np.zeros(prob.n, dtype=np.int64)
        changed = dataclasses.replace(prob, **{f.name: other})
        assert unit_cache.unit_key(changed, "fewest", seq, None, FAST) != key, f.name
    assert unit_cache.unit_key(prob, "repair", seq, None, FAST) != key
    assert unit_cache.unit_key(prob, "fewest", np.random.SeedSequence(5).spawn(4)[1], None, FAST) != key
    assert unit_cache.unit_key(prob, "fewest", np.random.SeedSequence(6).spawn(4)[2], None, FAST) != key
    assert unit_cache.unit_key(prob, "fewest", seq, 3, FAST) != key
    assert unit_cache.unit_key(prob, "fewest", seq, None, dataclasses.replace(FAST, anneal_per_home=2.5)) != key
    with pytest.raises(TypeError, match="cannot digest"):
        unit_cache.digest(object())


def test_solution_cut_by_the_deadline_is_not_stored(homes, tmp_path, monkeypatch):
    real = run.solve_unit
    monkeypatch.setattr(run, "solve_unit", lambda *a, **k: dataclasses.replace(real(*a, **k), hit_deadline=True))
    cut = partition(homes, seed=5, effort=FAST, unit_cache=tmp_path, workers=1)
    assert cut.hit_time_limit and not list(tmp_path.glob("*.pkl"))
    monkeypatch.setattr(run, "solve_unit", real)
    assert partition(homes, seed=5, effort=FAST, unit_cache=tmp_path).units_cached == 0
    # a real deadline: a run with no time at all stores only the units it did not cut short
    timed = tmp_path / "timed"
    zero = partition(homes, seed=7, effort=FAST, time_limit=0.0, unit_cache=timed)
    assert zero.hit_time_limit
    stored = len(list(timed.glob("*.pkl")))
    assert stored < 4
    assert partition(homes, seed=7, effort=FAST, unit_cache=timed).units_cached == stored


def test_unreadable_files_are_recomputed(homes, tmp_path):
    first = partition(homes, seed=5, effort=FAST, unit_cache=tmp_path)
    files = sorted(tmp_path.glob("*.pkl"))
    files[0].write_bytes(b"not a pickle")
    files[1].write_bytes(files[1].read_bytes()[:40])  # truncated
    key2 = files[2].stem
    with open(files[2], "wb") as fh:  # a pickle of the right kind under another key
        pickle.dump(("0" * 64, pickle.loads(files[3].read_bytes())[1]), fh)
    again = partition(homes, seed=5, effort=FAST, unit_cache=tmp_path)
    assert again.units_cached == 1
    _same(first, again)
    assert partition(homes, seed=5, effort=FAST, unit_cache=tmp_path).units_cached == 4  # overwritten
    assert pickle.loads((tmp_path / f"{key2}.pkl").read_bytes())[0] == key2


def test_solution_that_does_not_fit_the_unit_is_a_miss(homes, tmp_path):
    prob = unit_problems(homes, build_graph(homes), load_policy(), None)[0]
    seq = np.random.SeedSequence(0)
    key = unit_cache.unit_key(prob, "fewest", seq, None, FAST)
    sol = run.solve_unit(prob, "fewest", np.random.default_rng(seq), effort=FAST)
    assert unit_cache.store(tmp_path, key, sol)
    assert np.array_equal(unit_cache.lookup(tmp_path, key, prob).labels, sol.labels)
    assert unit_cache.store(tmp_path, key, dataclasses.replace(sol, labels=sol.labels[:-1]))
    assert unit_cache.lookup(tmp_path, key, prob) is None
    assert not unit_cache.store(tmp_path, key, dataclasses.replace(sol, hit_deadline=True))
    assert unit_cache.lookup(tmp_path, "f" * 64, prob) is None


def _hold_while_solving(shared, key, store_from=None):
    """Another run's claim on unit ``key`` in ``shared``: held until the run under test has stored its
    other three units (so it must wait for this one), then the unit is stored (from ``store_from``) or not,
    and the claim released."""
    holder = Claims(shared)
    assert holder.take(key)

    def finish():
        end = time.monotonic() + 60
        while len(list(shared.glob("*.pkl"))) < 3 and time.monotonic() < end:
            time.sleep(0.02)
        if store_from is not None:
            shutil.copy(store_from, shared / store_from.name)
        holder.release(key)

    thread = threading.Thread(target=finish)
    thread.start()
    return thread


def test_a_unit_another_run_is_solving_is_waited_for_and_read(homes, tmp_path):
    plain = partition(homes, seed=5, effort=FAST, unit_cache=tmp_path / "elsewhere")
    made = sorted((tmp_path / "elsewhere").glob("*.pkl"))[0]
    shared = tmp_path / "shared"
    thread = _hold_while_solving(shared, made.stem, store_from=made)
    got = partition(homes, seed=5, effort=FAST, unit_cache=shared, workers=1)
    thread.join()
    assert got.units_cached == 1  # the other three were solved here while the fourth was held
    _same(plain, got)


def test_a_unit_the_other_run_did_not_store_is_solved_after_waiting(homes, tmp_path):
    plain = partition(homes, seed=5, effort=FAST, unit_cache=tmp_path / "elsewhere")
    made = sorted((tmp_path / "elsewhere").glob("*.pkl"))[0]
    shared = tmp_path / "shared"
    thread = _hold_while_solving(shared, made.stem)  # e.g. its deadline cut it short: nothing stored
    got = partition(homes, seed=5, effort=FAST, unit_cache=shared, workers=1)
    thread.join()
    assert got.units_cached == 0 and (shared / made.name).is_file()
    _same(plain, got)


def test_plan_cache_is_pruned_least_recently_used_first_and_a_claimed_unit_is_left(homes, tmp_path):
    import os

    from gridsim.scenario_plan import prune_plan_cache

    graph = build_graph(homes)
    base, _ = scenario_plan(homes, graph, load_policy(), seed=2, cache_dir=tmp_path, workers=1)
    scenario_plan(homes, graph, load_policy("community_cap_400"), seed=2, cache_dir=tmp_path, workers=1)
    plans = sorted(d for d in tmp_path.iterdir() if d.is_dir() and d.name != UNIT_CACHE)
    units = sorted((tmp_path / UNIT_CACHE).glob("*.pkl"))
    assert len(plans) == 2 and len(units) == 6
    past = time.time() - 1000
    for f in plans + units:
        os.utime(f, (past, past))
    scenario_plan(homes, graph, load_policy(), seed=2, cache_dir=tmp_path)  # read now: the baseline plan is newest
    newest = max(plans, key=lambda d: d.stat().st_mtime)
    size = sum(f.stat().st_size for f in newest.rglob("*") if f.is_file())
    held = Claims(tmp_path / UNIT_CACHE)
    assert held.take(units[0].stem)  # another run is storing or reading this unit
    try:
        removed, freed = prune_plan_cache(tmp_path, keep_bytes=size)
    finally:
        held.release_all()
    assert removed == 6 and freed > 0  # the other plan and 5 units; the claimed unit stays
    assert [d for d in tmp_path.iterdir() if d.is_dir() and d.name != UNIT_CACHE] == [newest]
    assert [f.name for f in (tmp_path / UNIT_CACHE).glob("*.pkl")] == [units[0].name]
    again, source = scenario_plan(homes, graph, load_policy(), seed=2, cache_dir=tmp_path)
    assert source.startswith("缓存 cache") and fingerprint(again.plan) == fingerprint(base.plan)
    assert prune_plan_cache(tmp_path / "none") == (0, 0)
