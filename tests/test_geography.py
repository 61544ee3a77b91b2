"""The user's own geography: unit polygons and river/road lines from GIS files in other CRSs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Polygon, box

import geopandas as gpd

from gridsim.cli import main
from gridsim.errors import InputError
from gridsim.geography import check_homes_in_units, read_barriers, read_units
from gridsim.graph import build_graph
from gridsim.partition import partition
from gridsim.policy import load_policy
from gridsim.registers import read_homes, read_plan

X0, Y0 = 395_000.0, 3_525_000.0  # near 叶集 in EPSG:4548 (CGCS2000 / 3-degree GK CM 117E)
RIVER_X = X0 + 205.0  # a river running north-south through the village, a third of the way across


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A village ``rv`` of 1-3-household houses over a 600 x 200 m field, its neighbour ``ov``, and the
    GIS files: units as a shapefile in Web Mercator, the river as GeoJSON in WGS 84, the same line as a
    road in a GeoPackage in CGCS2000 lon/lat."""
    d = tmp_path_factory.mktemp("geo")
    rng = np.random.default_rng(7)
    n = 260
    x = X0 + rng.uniform(5, 595, n)
    y = Y0 + rng.uniform(5, 195, n)
    near = np.abs(x - RIVER_X) < 4  # no house on the river itself
    x[near] += 10
    hh = rng.choice([1, 2, 3], size=n, p=[0.7, 0.22, 0.08])
    homes = pd.DataFrame({"home_id": [f"rv-h{i:03d}" for i in range(n)], "unit_id": "rv", "unit_type": "village",
                          "households": hh, "resident_households": hh, "x": x.round(2), "y": y.round(2)})
    ov = pd.DataFrame({"home_id": [f"ov-h{i}" for i in range(60)], "unit_id": "ov", "unit_type": "village",
                       "households": 2, "resident_households": 2, "x": X0 + 700 + 12.5 * (np.arange(60) % 8),
                       "y": Y0 + 20 + 15.3 * (np.arange(60) // 8)})
    register = pd.concat([homes, ov], ignore_index=True)
    register.to_csv(d / "homes.csv", index=False)
    units = gpd.GeoDataFrame({"unit_id": ["rv", "ov"], "name": ["河村", "外村"]},
                             geometry=[box(X0, Y0, X0 + 600, Y0 + 200), box(X0 + 600, Y0, X0 + 900, Y0 + 200)],
                             crs="EPSG:4548")
    units.to_crs("EPSG:3857").to_file(d / "units.shp", engine="pyogrio")
    line = LineString([(RIVER_X, Y0 - 50), (RIVER_X + 3, Y0 + 90), (RIVER_X - 2, Y0 + 250)])
    river = gpd.GeoDataFrame({"kind": ["river"], "name": ["史河支流"]}, geometry=[line], crs="EPSG:4548")
    river.to_crs("EPSG:4326").to_file(d / "river.geojson", driver="GeoJSON", engine="pyogrio")
    road = gpd.GeoDataFrame({"kind": ["道路"]}, geometry=[line], crs="EPSG:4548")
    road.to_crs("EPSG:4490").to_file(d / "road.gpkg", layer="barriers", engine="pyogrio")
    return d, line, (x < RIVER_X)


def _crossing(homes, graph, line):
    xy = homes[["x", "y"]].to_numpy()
    segs = shapely.linestrings(np.stack([xy[graph.edges[:, 0]], xy[graph.edges[:, 1]]], axis=1))
    return shapely.intersects(line, segs)


def test_river_file_in_another_crs_cuts_the_adjacency_and_the_grids(files, tmp_path):
    d, line, west = files
    homes = read_homes(d / "homes.csv", crs="EPSG:4548")
    plain = build_graph(homes)
    assert _crossing(homes, plain, line).sum() > 5  # without the river, the field is one mesh
    river = read_barriers(d / "river.geojson", homes.crs)
    assert river.crs == homes.crs and river["kind"].tolist() == ["river"]
    assert river.geometry.iloc[0].hausdorff_distance(line) < 0.01  # reprojected back within a centimetre
    g = build_graph(homes, river)
    assert not _crossing(homes, g, line).any()
    rv = np.flatnonzero(homes["unit_id"].eq("rv").to_numpy())
    sub_n, _ = g.components()
    assert sub_n == plain.components()[0] + 1  # the river splits rv in two
    registered = load_policy("village_registered_households")  # the field is sized in households, not houses
    result = partition(homes, g, policy=registered, seed=0, workers=1)
    assert result.plan.violations_frame().empty
    grid = result.plan.assignment
    sides = pd.Series(west[rv]).groupby(grid.iloc[rv].to_numpy()).nunique()
    assert (sides == 1).all() and len(sides) >= 2  # every grid keeps to one bank

    out = tmp_path / "plan.csv"
    code = main(["partition", str(d / "homes.csv"), "--crs", "EPSG:4548", "--units", str(d / "units.shp"),
                 "--barriers", str(d / "river.geojson"), "--out", str(out), "--strict", "--workers", "1",
                 "--scenario", "village_registered_households"])
    assert code == 0
    plan = read_plan(out, homes)
    assert (pd.Series(west[rv]).groupby(plan.iloc[rv].to_numpy()).nunique() == 1).all()


def test_road_file_only_flags_edges(files):
    d, line, _ = files
    homes = read_homes(d / "homes.csv", crs="EPSG:4548")
    road = read_barriers(d / "road.gpkg", homes.crs)
    assert road["kind"].tolist() == ["road"]  # 道路 read as road
    plain, g = build_graph(homes), build_graph(homes, road)
    assert np.array_equal(plain.edges, g.edges)
    crossing = _crossing(homes, g, line)
    assert crossing.any() and np.array_equal(g.crosses_road, crossing)


def test_home_outside_its_unit_is_named_by_row(files, tmp_path, capsys):
    d, _, _ = files
    reg = pd.read_csv(d / "homes.csv")
    reg.loc[17, ["x", "y"]] = [X0 + 750.0, Y0 + 100.0]  # a rv house placed in ov
    reg.loc[40, "unit_id"] = "nowhere"
    path = tmp_path / "moved.csv"
    reg.to_csv(path, index=False)
    homes = read_homes(path, crs="EPSG:4548")
    with pytest.raises(InputError) as exc:
        check_homes_in_units(homes, read_units(d / "units.shp", homes.crs))
    probs = {(p.row, p.field.split("（")[0]) for p in exc.value.problems}
    assert probs == {(18, "unit_id"), (41, "unit_id")}
    assert "ov" in str(exc.value) and str(path) in str(exc.value)
    out = tmp_path / "never.csv"
    code = main(["partition", str(path), "--crs", "EPSG:4548", "--units", str(d / "units.shp"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "行 row=18" in err and "unit_id" in err and "falls in ov" in err
    assert not out.exists()


def test_unit_polygons_and_barriers_are_read_from_any_supported_format(files, tmp_path):
    d, _, _ = files
    homes = read_homes(d / "homes.csv", crs="EPSG:4548")
    units = read_units(d / "units.shp", homes.crs)
    assert sorted(units["unit_id"]) == ["ov", "rv"] and units.crs == homes.crs
    assert abs(units.set_index("unit_id").area["rv"] - 600 * 200) < 1.0
    # two rows of one unit are merged into one polygon
    two = gpd.GeoDataFrame({"unit_id": ["rv", "rv"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4548")
    two.to_file(tmp_path / "two.geojson", driver="GeoJSON", engine="pyogrio")
    merged = read_units(tmp_path / "two.geojson", "EPSG:4548")
    assert len(merged) == 1 and abs(merged.area.iloc[0] - 2.0) < 1e-3


def _write(tmp_path, name, frame, **kw):
    path = tmp_path / name
    frame.to_file(path, engine="pyogrio", **kw)
    return path


BAD_CASES = {
    "no_crs": lambda t: _write(t, "nocrs.shp", gpd.GeoDataFrame({"unit_id": ["rv"]}, geometry=[box(X0, Y0, X0 + 9, Y0 + 9)])),
    "garbage": lambda t: (t / "broken.gpkg").write_bytes(b"not a geopackage at all" * 40) or t / "broken.gpkg",
    "bad_geometry": lambda t: (t / "badgeom.geojson").write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"unit_id":"rv"},'
        '"geometry":{"type":"Polygon","coordinates":[[[1,2]]]}}]}', encoding="utf-8") and t / "badgeom.geojson",
    "no_unit_id": lambda t: _write(t, "noid.geojson", gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(0, 0, 1, 1)],
                                                                        crs="EPSG:4548"), driver="GeoJSON"),
    "points": lambda t: _write(t, "points.gpkg", gpd.GeoDataFrame({"unit_id": ["rv"]}, geometry=gpd.points_from_xy([X0], [Y0]),
                                                                   crs="EPSG:4548")),
    "missing": lambda t: t / "nope.shp",
}


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # writing the file without a CRS is the point
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_units_file_is_exit_2_naming_the_file(files, tmp_path, capsys, case):
    d, _, _ = files
    bad = BAD_CASES[case](tmp_path)
    out = tmp_path / "out" / "plan.csv"
    code = main(["partition", str(d / "homes.csv"), "--crs", "EPSG:4548", "--units", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_barrier_kind_is_named_by_row(files, tmp_path, capsys):
    d, line, _ = files
    bad = gpd.GeoDataFrame({"kind": ["river", "canal", None]}, geometry=[line, line, line], crs="EPSG:4548")
    path = _write(tmp_path, "barriers.gpkg", bad)
    out = tmp_path / "plan.csv"
    code = main(["partition", str(d / "homes.csv"), "--crs", "EPSG:4548", "--barriers", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err
    assert "行 row=2" in err and "'canal'" in err and "行 row=3" in err
    assert not out.exists()


def test_barrier_polygon_cuts_like_a_river_line(files):
    d, line, _ = files
    homes = read_homes(d / "homes.csv", crs="EPSG:4548")
    area = gpd.GeoDataFrame({"kind": ["river"]}, geometry=[Polygon(line.buffer(2.0).exterior)], crs="EPSG:4548")
    g = build_graph(homes, area)
    assert not _crossing(homes, g, line).any()
