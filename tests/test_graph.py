"""Adjacency of homes: trimmed Delaunay, bridging links, barriers, and the edge-list input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString

import geopandas as gpd

from gridsim.errors import InputError
from gridsim.graph import KIND_LINK, KIND_NEAR, build_graph, graph_from_edges


def _cluster(cx, cy, n, spacing, prefix, unit="u1", unit_type="village"):
    side = int(np.ceil(np.sqrt(n)))
    rows = []
    for k in range(n):
        rows.append({"home_id": f"{prefix}{k:03d}", "unit_id": unit, "unit_type": unit_type, "households": 2,
                     "resident_households": 1, "key_households": 0, "group_id": prefix,
                     "x": cx + (k % side) * spacing + 0.1 * k, "y": cy + (k // side) * spacing})
    return rows


def _homes(*clusters):
    return pd.DataFrame([r for c in clusters for r in c])


def test_two_hamlets_are_joined_by_one_link_only():
    homes = _homes(_cluster(0, 0, 25, 20, "a"), _cluster(600, 0, 25, 20, "b"))
    g = build_graph(homes)
    a = homes["group_id"].eq("a").to_numpy()
    across = a[g.edges[:, 0]] != a[g.edges[:, 1]]
    assert across.sum() == 1
    assert g.kind[across][0] == KIND_LINK
    assert (g.kind[~across] == KIND_NEAR).all()
    assert g.components()[0] == 1
    assert (g.weight == 1).all()


def test_neighbouring_hamlets_are_all_linked_but_not_across_one():
    # a triangle of hamlets: each pair is linked; a fourth hamlet far out links to the first, not past it
    homes = _homes(_cluster(0, 0, 16, 20, "a"), _cluster(500, 0, 16, 20, "b"), _cluster(250, 430, 16, 20, "c"),
                   _cluster(-1200, 0, 16, 20, "d"))
    g = build_graph(homes)
    grp = homes["group_id"].to_numpy()
    pairs = {tuple(sorted((grp[i], grp[j]))) for i, j in g.edges if grp[i] != grp[j]}
    assert {("a", "b"), ("a", "c"), ("b", "c"), ("a", "d")} <= pairs
    assert ("b", "d") not in pairs


def test_max_link_leaves_remote_hamlet_as_island():
    homes = _homes(_cluster(0, 0, 16, 20, "a"), _cluster(3000, 0, 16, 20, "b"))
    assert build_graph(homes).components()[0] == 1
    assert build_graph(homes, max_link=1000).components()[0] == 2


def test_river_is_never_crossed_and_roads_are_flagged():
    homes = _homes(_cluster(0, 0, 16, 20, "a"), _cluster(0, 200, 16, 20, "b"), _cluster(200, 0, 16, 20, "c"))
    barriers = gpd.GeoDataFrame({"kind": ["river", "road"]},
                                geometry=[LineString([(-50, 130), (120, 130)]), LineString([(130, -50), (130, 120)])])
    g = build_graph(homes, barriers)
    grp = homes["group_id"].to_numpy()
    pairs = {tuple(sorted((grp[i], grp[j]))) for i, j in g.edges}
    assert ("a", "b") not in pairs  # the river separates a from b: not even a bridging link
    assert ("a", "c") in pairs  # the road between a and c is crossed ...
    ac = np.array([tuple(sorted((grp[i], grp[j]))) == ("a", "c") for i, j in g.edges])
    assert g.crosses_road[ac].all() and not g.crosses_road[~ac].any()  # ... and flagged
    assert set(g.edge_frame().columns) >= {"home_a", "home_b", "kind", "crosses_road", "weight", "length_m"}


def test_units_are_never_linked_and_degenerate_layouts_work():
    line = [{"home_id": f"l{k}", "unit_id": "u2", "unit_type": "village", "households": 1, "resident_households": 1,
             "key_households": 0, "x": 10.0 * k, "y": 0.0} for k in range(6)]
    homes = pd.concat([_homes(_cluster(0, 0, 9, 20, "a")), pd.DataFrame(line),
                       pd.DataFrame([{"home_id": "solo", "unit_id": "u3", "unit_type": "village", "households": 1,
                                      "resident_households": 1, "key_households": 0, "x": 5.0, "y": 5.0}])],
                      ignore_index=True)
    g = build_graph(homes)
    assert (g.unit_codes[g.edges[:, 0]] == g.unit_codes[g.edges[:, 1]]).all()
    n, lab = g.components()
    assert n == 3
    assert g.degree()[homes.index[homes.home_id == "solo"][0]] == 0
    nxg = g.to_networkx()
    assert nxg.number_of_edges() == g.m and nxg.nodes[0]["home_id"] == "a000"


def test_embedded_data_edges_stay_in_units_and_off_the_river(shihe):
    homes, barriers = shihe
    g = build_graph(homes, barriers)
    assert (g.unit_codes[g.edges[:, 0]] == g.unit_codes[g.edges[:, 1]]).all()
    river = barriers[barriers["kind"] == "river"].geometry.union_all()
    xy = homes[["x", "y"]].to_numpy()
    segs = gpd.GeoSeries([LineString([xy[i], xy[j]]) for i, j in g.edges])
    assert not segs.intersects(river).any()
    assert g.crosses_road.any()


@pytest.fixture(scope="module")
def shihe():
    from gridsim.registers import read_homes, read_layer

    return read_homes(), read_layer("barriers")


def test_edge_list_valid_and_cross_unit_dropped(tmp_path):
    homes = _homes(_cluster(0, 0, 4, 20, "a"), _cluster(0, 0, 2, 20, "b", unit="u2"))
    f = tmp_path / "edges.csv"
    f.write_text("home_a,home_b\na000,a001\na001,a000\na001,a002\na002,b000\nb000,b001\n", encoding="utf-8")
    g = graph_from_edges(homes, f)
    assert g.m == 3 and g.dropped_cross_unit == 1
    assert g.components()[0] == 3  # a003 has no edge: an island
    w = pd.DataFrame({"home_a": ["a000", "a001"], "home_b": ["a001", "a002"], "weight": [2.5, 1]})
    assert graph_from_edges(homes, w).weight.tolist() == [2.5, 1.0]
    bad = pd.DataFrame({"home_a": ["a000", "a001"], "home_b": ["a001", "a002"], "weight": ["x", "-1"]})
    with pytest.raises(InputError) as exc:
        graph_from_edges(homes, bad)
    assert [(p.row, p.field) for p in exc.value.problems] == [(1, "weight"), (2, "weight")]


def test_edge_list_errors_name_the_row(tmp_path):
    homes = _homes(_cluster(0, 0, 4, 20, "a"))
    f = tmp_path / "edges.csv"
    f.write_text("home_a,home_b\na000,a001\na001,zzz\n,a002\na003,a003\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        graph_from_edges(homes, f)
    rows = {(p.row, p.field) for p in exc.value.problems}
    assert rows == {(2, "home_b"), (3, "home_a"), (4, "home_b")}
    assert "zzz" in str(exc.value)
    g = tmp_path / "bad.csv"
    g.write_text("a,b\nx,y\n", encoding="utf-8")
    with pytest.raises(InputError, match="home_a"):
        graph_from_edges(homes, g)
    with pytest.raises(InputError, match="不存在"):
        graph_from_edges(homes, tmp_path / "missing.csv")
