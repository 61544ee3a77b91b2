"""Homes that share one position (a register geocoded to the building or door plate) are neighbours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.cli import main
from gridsim.graph import KIND_SAME, SAME_SITE_M, build_graph
from gridsim.partition import partition
from gridsim.partition.instances import village
from gridsim.plan import Plan
from gridsim.registers import read_homes


def _nbrs(g, i):
    return set(g.neighbors(i).tolist())


def _stacked_village(seed: int, plate: float) -> pd.DataFrame:
    """A generated village whose houses are geocoded to the nearest door plate on a ``plate``-metre
    lattice: many positions hold several homes, in stacks of uneven size."""
    homes = village(np.random.default_rng(seed), "sv", 6)
    homes[["x", "y"]] = (homes[["x", "y"]] / plate).round() * plate
    homes["key_households"] = 0
    return homes


def test_stacks_of_2_to_20_are_cliques_sharing_their_positions_neighbours():
    rng = np.random.default_rng(11)
    pts = np.column_stack([rng.uniform(0, 300, 25), rng.uniform(0, 180, 25)])  # odd spacing
    sizes = np.r_[np.arange(2, 21), np.ones(6, dtype=int)]  # one stack of each size 2..20, six single homes
    rows = []
    for s, ((x, y), k) in enumerate(zip(pts, sizes)):
        for h in range(k):
            jitter = 0.2 if h % 3 == 1 else 0.0  # within the tolerance: still one position
            rows.append({"home_id": f"s{s:02d}h{h:02d}", "unit_id": "u", "unit_type": "village", "households": 1,
                         "resident_households": 1, "x": x + jitter, "y": y - jitter / 2, "site": s})
    homes = pd.DataFrame(rows)
    g = build_graph(homes)
    assert g.components()[0] == 1  # no island
    site = homes["site"].to_numpy()
    for s in range(len(pts)):
        members = np.flatnonzero(site == s)
        outside = set().union(*(_nbrs(g, i) for i in members)) - set(members.tolist())
        for i in members:
            assert _nbrs(g, i) == (set(members.tolist()) - {i}) | outside  # whole stack and all its neighbours
    same = site[g.edges[:, 0]] == site[g.edges[:, 1]]
    assert (g.kind[same] == KIND_SAME).all() and not (g.kind[~same] == KIND_SAME).any()
    assert np.isfinite(g.weight).all() and (g.weight > 0).all() and np.isfinite(g.length).all()
    assert g.length[same].max() < SAME_SITE_M
    # cutting between two positions costs 1, whatever the size of the stacks there
    pair = pd.DataFrame({"a": site[g.edges[~same, 0]], "b": site[g.edges[~same, 1]], "w": g.weight[~same]})
    pair[["a", "b"]] = np.sort(pair[["a", "b"]].to_numpy(), axis=1)
    assert np.allclose(pair.groupby(["a", "b"])["w"].sum(), 1.0)


def test_tolerance_is_half_a_metre():
    base = {"unit_id": "u", "unit_type": "village", "households": 1, "resident_households": 1}
    far = [(0, 0), (0.4, 0), (0.8, 0), (40, 5), (80, -3), (35, 60)]  # 0.4 m apart: one site; 0.8: separate
    homes = pd.DataFrame([{**base, "home_id": f"h{i}", "x": x, "y": y} for i, (x, y) in enumerate(far)])
    g = build_graph(homes)
    kinds = {(int(a), int(b)): int(k) for (a, b), k in zip(g.edges, g.kind)}
    assert kinds[(0, 1)] == KIND_SAME and kinds[(1, 2)] == KIND_SAME  # a chain of pairs within 0.5 m
    g0 = build_graph(homes, same_site=0.0)
    assert {(0, 1), (1, 2)} <= {(int(a), int(b)) for a, b in g0.edges}
    assert not (g0.kind == KIND_SAME).any()  # nothing exactly coincides: no site merged


def test_units_with_every_home_on_one_or_three_points():
    rows = []
    for unit, pts in (("three", [(0, 0), (30, 4), (12, 41)]), ("one", [(500, 500)])):
        for p, (x, y) in enumerate(pts):
            for h in range(7):
                rows.append({"home_id": f"{unit}{p}{h}", "unit_id": unit, "unit_type": "village", "households": 1,
                             "resident_households": 1, "x": float(x), "y": float(y)})
    homes = pd.DataFrame(rows)
    g = build_graph(homes)
    for unit, n in (("three", 21), ("one", 7)):
        idx = np.flatnonzero(homes["unit_id"].eq(unit).to_numpy())
        for i in idx:
            assert _nbrs(g, i) == set(idx.tolist()) - {i}  # every home neighbours every other in its unit
        assert len(idx) == n
    assert g.components()[0] == 2


@pytest.fixture()
def stacked_register(tmp_path):
    village_part = _stacked_village(5, 40.0)
    # a community whose 60 homes (flat entries of 12 households) sit on 3 door plates only
    rows = []
    from gridsim.partition.instances import ORIGIN

    plates = [(ORIGIN[0] + 9000.0 + dx, ORIGIN[1] + dy) for dx, dy in ((0.0, 0.0), (37.5, 3.0), (16.0, 33.0))]
    for p, (x, y) in enumerate(plates):
        for h in range(20):
            rows.append({"home_id": f"c-p{p}-{h:02d}", "unit_id": "c", "unit_type": "community", "households": 12,
                         "resident_households": 9, "key_households": 0, "x": x, "y": y})
    homes = pd.concat([village_part, pd.DataFrame(rows)], ignore_index=True)
    path = tmp_path / "stacked.csv"
    homes.to_csv(path, index=False)
    return path


def test_stacked_register_partitions_without_false_islands(stacked_register, tmp_path, capsys):
    homes = read_homes(stacked_register, crs="EPSG:4548")
    pos = homes[["x", "y"]].round(3).astype(str).agg(",".join, axis=1)
    stack = pos.map(pos.value_counts())
    v = homes["unit_id"].eq("sv")
    assert stack[v].max() >= 5 and (stack[v] > 1).mean() > 0.5  # most village homes share their position
    g = build_graph(homes)
    assert g.components()[0] == 2  # one piece per unit: no home is an island
    result = partition(homes, g, seed=0, workers=1)
    assert result.plan.violations_frame().empty
    assert result.plan.n_grids("c") == 2  # the community needs two grids: one door plate is shared by both
    assert not any(d.code == "island" for d in result.diagnoses)
    out = tmp_path / "plan.csv"
    code = main(["partition", str(stacked_register), "--crs", "EPSG:4548", "--out", str(out), "--strict",
                 "--workers", "1"])
    assert code == 0, capsys.readouterr()
    assert Plan.from_csv(out, homes, g).violations_frame().empty
