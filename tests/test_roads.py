"""Walking along the user's road network: network distances, measured circuity, and bad road files."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from gridsim.cli import main
from gridsim.errors import InputError
from gridsim.graph import graph_from_edges
from gridsim.partition.instances import ORIGIN
from gridsim.plan import Plan
from gridsim.policy import load_policy
from gridsim.roads import RoadNetwork, read_roads
from gridsim.workload import workload

X0, Y0 = ORIGIN


def test_distances_follow_the_roads_and_add_the_access_walk():
    # an L: along x for 300 m, then up y for 400 m
    net = RoadNetwork([LineString([(0, 0), (300, 0)]), LineString([(300, 0), (300, 400)])])
    d = net.distances(np.array([[0.0, 10.0], [300.0, 400.0]]))  # 10 m off the road at the start
    assert d[0, 1] == pytest.approx(10 + 300 + 400)
    assert d[1, 0] == d[0, 1] and d[0, 0] == 0.0
    # lines that cross are joined where they cross
    cross = RoadNetwork([LineString([(0, 0), (200, 0)]), LineString([(100, -100), (100, 100)])])
    assert cross.distances(np.array([[0.0, 0.0], [100.0, 100.0]]))[0, 1] == pytest.approx(200.0)
    # two pieces the file does not join: infinite, and the circuity of such a pair is not measured
    apart = RoadNetwork([LineString([(0, 0), (10, 0)]), LineString([(500, 0), (510, 0)])])
    assert np.isinf(apart.distances(np.array([[0.0, 0.0], [510.0, 0.0]]))[0, 1])
    assert np.isnan(apart.circuity(np.array([[0.0, 0.0], [510.0, 0.0]])))


def _two_hamlets():
    """Two hamlets of 12 houses facing each other 150 m apart across a stream; one grid holds both."""
    rows = []
    for side, x in (("a", 0.0), ("b", 150.0)):
        for k in range(12):
            rows.append({"home_id": f"{side}{k:02d}", "unit_id": "v", "unit_type": "village", "households": 2,
                         "resident_households": 2, "key_households": 1 if k % 4 == 0 else 0,
                         "x": X0 + x + 10.0 * (k % 4), "y": Y0 + 12.0 * (k // 4)})
    homes = pd.DataFrame(rows)
    homes = gpd.GeoDataFrame(homes, geometry=gpd.points_from_xy(homes["x"], homes["y"]), crs="EPSG:4548")
    edges = pd.DataFrame({"home_a": homes["home_id"][:-1].to_numpy(), "home_b": homes["home_id"][1:].to_numpy()})
    plan = Plan(homes, graph_from_edges(homes, edges), ["g1"] * len(homes), load_policy())
    lanes = [LineString([(X0 + x - 5, Y0 + y), (X0 + x + 35, Y0 + y)]) for x in (0.0, 150.0) for y in (0.0, 12.0, 24.0)]
    spines = [LineString([(X0 + x + 15, Y0 + 24), (X0 + x + 15, Y0 - 600)]) for x in (0.0, 150.0)]
    bridge = [LineString([(X0 + 15, Y0 - 600), (X0 + 165, Y0 - 600)])]  # the only crossing, 600 m downstream
    return homes, plan, lanes + spines + bridge


def test_a_detour_to_the_only_bridge_makes_the_walk_longer():
    homes, plan, roads = _two_hamlets()
    net = RoadNetwork(roads)
    assumed = workload(plan)
    along = workload(plan, roads=net)
    assert assumed["circuity"].iat[0] == pytest.approx(load_policy()["workload.circuity"])
    assert along["circuity"].iat[0] > 3.0  # crossing pairs walk ~1,350 m for 150 m as the crow flies
    assert along["walk_km"].iat[0] > 2 * assumed["walk_km"].iat[0]
    assert along["hours_month"].iat[0] > assumed["hours_month"].iat[0]
    assert along["visit_hours"].iat[0] == assumed["visit_hours"].iat[0]  # visits do not depend on roads
    # with a bridge between the hamlets, the measured circuity comes down to a plain street pattern
    direct = RoadNetwork(roads + [LineString([(X0 + 15, Y0 + 12), (X0 + 165, Y0 + 12)])])
    assert workload(plan, roads=direct)["circuity"].iat[0] < 1.6


def test_road_files_are_read_in_any_crs_and_bad_ones_are_refused(tmp_path):
    homes, _, roads = _two_hamlets()
    good = tmp_path / "roads.geojson"
    gpd.GeoDataFrame({"name": [f"r{i}" for i in range(len(roads))]}, geometry=roads, crs="EPSG:4548").to_crs(
        "EPSG:4326").to_file(good, driver="GeoJSON")
    net = read_roads(good, homes)
    assert net.distances(homes[["x", "y"]].to_numpy()[[0, 12]])[0, 1] > 1000  # reprojected back, still the detour
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame({"k": [1]}, geometry=[Point(X0, Y0)], crs="EPSG:4548").to_file(points, driver="GeoJSON")
    with pytest.raises(InputError, match="no lines"):
        read_roads(points, homes)
    far = tmp_path / "far.geojson"
    gpd.GeoDataFrame({"k": [1]}, geometry=[LineString([(X0 + 90_000, Y0), (X0 + 91_000, Y0)])],
                     crs="EPSG:4548").to_file(far, driver="GeoJSON")
    with pytest.raises(InputError, match="another area"):
        read_roads(far, homes)


def test_partition_cli_reports_hours_along_the_roads(tmp_path, capsys):
    homes, _, roads = _two_hamlets()
    register = tmp_path / "homes.csv"
    pd.DataFrame(homes.drop(columns="geometry")).to_csv(register, index=False)
    road_file = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame({"name": [f"r{i}" for i in range(len(roads))]}, geometry=roads, crs="EPSG:4548").to_file(
        road_file, layer="roads")
    out = tmp_path / "out" / "plan.csv"
    args = ["partition", str(register), "--crs", "EPSG:4548", "--out", str(out), "--workers", "1",
            "--scenario", "village_registered_households"]
    assert main(args + ["--roads", str(road_file)]) == 0
    summary = pd.read_csv(out.with_name("plan_summary.csv"), encoding="utf-8-sig")
    circuity = [c for c in summary.columns if c.startswith("绕行系数")]
    assert circuity and (summary[circuity[0]] > 1.5).all()
    bad = tmp_path / "far.geojson"
    gpd.GeoDataFrame({"k": [1]}, geometry=[LineString([(X0 + 90_000, Y0), (X0 + 91_000, Y0)])],
                     crs="EPSG:4548").to_file(bad, driver="GeoJSON")
    again = tmp_path / "again" / "plan.csv"
    assert main(args[:4] + ["--out", str(again), "--roads", str(bad)]) == 2
    assert "far.geojson" in capsys.readouterr().err and not again.parent.exists()
