"""PLAN.gpkg: three layers in the register's CRS; grid polygons cover their homes, do not overlap within
a unit and stay inside the unit outline — on the embedded data and on small registers made here (stacked
homes in different grids, homes outside their unit polygon, no units layer)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gridsim.cli import main
from gridsim.editor.model import EditorModel
from gridsim.errors import GridsimError
from gridsim.graph import build_graph
from gridsim.plan import Plan
from gridsim.plan_gpkg import LAYERS, write_plan_gpkg
from gridsim.registers import read_homes, read_layer

X0, Y0 = 395000.0, 3524000.0  # EPSG:4548 metres, inside the Shihe area


def _layers(path):
    return {name: gpd.read_file(path, layer=name, engine="pyogrio") for name in LAYERS}


def _overlap_area(grids: gpd.GeoDataFrame) -> float:
    """Total area of pairwise intersections between grids of the same unit."""
    geoms = grids.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = (left < right) & (grids["unit_id"].to_numpy()[left] == grids["unit_id"].to_numpy()[right])
    return float(shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]])).sum())


def _covers_homes(grids: gpd.GeoDataFrame, homes: gpd.GeoDataFrame) -> np.ndarray:
    shape = dict(zip(grids["grid_id"], grids.geometry))
    return np.array([shapely.covers(shape[g], pt) for g, pt in zip(homes["grid_id"], homes.geometry)])


def _small_register(rows):
    """A homes frame like read_homes returns: rows of (home_id, unit_id, unit_type, hh, resident, key, dx, dy)."""
    df = pd.DataFrame(rows, columns=["home_id", "unit_id", "unit_type", "households", "resident_households",
                                     "key_households", "dx", "dy"])
    df["x"], df["y"] = X0 + df.pop("dx"), Y0 + df.pop("dy")
    for c in ("households", "resident_households", "key_households"):
        df[c] = df[c].astype(np.int64)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x"], df["y"]), crs="EPSG:4548")


# ------------------------------------------------------------------ embedded data
@pytest.fixture(scope="module")
def shihe_gpkg(tmp_path_factory, shihe_homes):
    graph = build_graph(shihe_homes, read_layer("barriers"))
    plan = Plan.from_column(shihe_homes, graph, "current_grid_id")
    path = tmp_path_factory.mktemp("gpkg") / "PLAN.gpkg"
    write_plan_gpkg(plan, path, units=read_layer("units"))
    return plan, path


def test_shihe_three_layers_in_the_register_crs(shihe_gpkg, shihe_homes):
    plan, path = shihe_gpkg
    assert sorted(name for name, _ in pyogrio.list_layers(path)) == sorted(LAYERS)
    layers = _layers(path)
    for name, frame in layers.items():
        assert frame.crs == shihe_homes.crs, name
    grids, homes, units = layers["grids"], layers["homes"], layers["units"]
    assert sorted(grids["grid_id"]) == plan.grid_ids
    summary = plan.summary().set_index("grid_id")
    g = grids.set_index("grid_id").loc[summary.index]
    for col in ("households", "resident_households", "key_households", "homes", "ok", "unit_id"):
        assert (g[col] == summary[col]).all(), col
    assert g.loc["wanfo-g01", "unit_name"] == "万佛社区"
    assert (g["status"] == "合规").eq(g["ok"]).all()
    assert list(homes["home_id"]) == list(shihe_homes["home_id"])
    assert list(homes["grid_id"]) == list(plan.assignment)
    assert (homes["households"].to_numpy() == shihe_homes["households"].to_numpy()).all()
    assert len(units) == 19 and units["households"].sum() == shihe_homes["households"].sum()
    assert units.set_index("unit_id").loc["chapeng", "grids"] == plan.n_grids("chapeng")


def test_shihe_grids_cover_homes_tile_units_without_overlap(shihe_gpkg):
    _, path = shihe_gpkg
    layers = _layers(path)
    grids, homes, units = layers["grids"], layers["homes"], layers["units"]
    assert _covers_homes(grids, homes).all()
    total = grids.geometry.area.sum()
    assert _overlap_area(grids) < 1e-6 * total
    outline = dict(zip(units["unit_id"], units.geometry))
    outside = [shapely.area(shapely.difference(geom, outline[u])) for u, geom in zip(grids["unit_id"], grids.geometry)]
    assert sum(outside) < 1e-6 * total
    by_unit = grids.dissolve("unit_id").geometry.area  # the grids of a unit fill its outline
    assert by_unit.to_numpy() == pytest.approx(units.set_index("unit_id").geometry.area[by_unit.index].to_numpy(), rel=1e-6)


# ------------------------------------------------------------------ small registers made here
@pytest.fixture
def stacked():
    """Two units, odd spacing; three homes stacked on one point in three grids, two stacked in one grid."""
    rows = [
        ("a1", "v1", "village", 3, 2, 1, 0.0, 0.0), ("a2", "v1", "village", 1, 1, 0, 37.5, 4.0),
        ("s1", "v1", "village", 2, 1, 0, 80.0, 60.0), ("s2", "v1", "village", 1, 0, 0, 80.0, 60.0),
        ("s3", "v1", "village", 2, 2, 1, 80.0, 60.0), ("b1", "v1", "village", 1, 1, 0, 160.0, 10.0),
        ("b2", "v1", "village", 2, 1, 0, 161.0, 95.0), ("t1", "v1", "village", 1, 1, 0, 20.0, 130.0),
        ("t2", "v1", "village", 1, 0, 0, 20.0, 130.0), ("c1", "c9", "community", 120, 90, 4, 900.0, 0.0),
        ("c2", "c9", "community", 80, 70, 2, 990.0, 33.0), ("c3", "c9", "community", 60, 20, 1, 1011.0, 150.0),
    ]
    homes = _small_register(rows)
    grid = ["A", "A", "A", "B", "C", "B", "B", "C", "C", "X", "X", "Y"]
    return Plan(homes, build_graph(homes), grid)


def test_stacked_homes_in_different_grids_split_their_cell(stacked, tmp_path):
    path = write_plan_gpkg(stacked, tmp_path / "plan.gpkg")
    layers = _layers(path)
    grids, homes, units = layers["grids"], layers["homes"], layers["units"]
    assert grids.crs.to_epsg() == 4548 and sorted(grids["grid_id"]) == ["A", "B", "C", "X", "Y"]
    assert _covers_homes(grids, homes).all()
    assert _overlap_area(grids) < 1e-6 * grids.geometry.area.sum()
    # without a units layer, each unit outline is a hull of its homes, and the grids tile it
    assert sorted(units["unit_id"]) == ["c9", "v1"] and "unit_name" not in units.columns
    for uid, outline in zip(units["unit_id"], units.geometry):
        mine = grids[grids["unit_id"] == uid]
        assert shapely.area(shapely.difference(shapely.union_all(mine.geometry.to_numpy()), outline)) < 1e-6 * outline.area
        assert mine.geometry.area.sum() == pytest.approx(outline.area, rel=1e-6)
    # the stacked point is on the edge of the three grids that share it, and each has a real area there
    near = shapely.Point(X0 + 80, Y0 + 60).buffer(2.0)
    pieces = {g: shapely.area(shapely.intersection(geom, near)) for g, geom in zip(grids["grid_id"], grids.geometry)}
    assert all(pieces[g] > 0.5 for g in "ABC")
    assert units.set_index("unit_id").loc["c9", "households"] == 260


def test_home_outside_its_unit_polygon_is_still_covered(tmp_path):
    rows = [(f"h{i}", "v1", "village", 2, 1, 0, dx, dy)
            for i, (dx, dy) in enumerate([(10, 10), (60, 15), (30, 70), (85, 85), (130, 40)])]
    homes = _small_register(rows)  # h4 at x=130 lies outside the 100 m box below
    units = gpd.GeoDataFrame({"unit_id": ["v1"], "name": ["测试村"], "unit_type": ["village"]},
                             geometry=[shapely.box(X0, Y0, X0 + 100, Y0 + 100)], crs="EPSG:4548")
    plan = Plan(homes, build_graph(homes), ["A", "A", "B", "B", "B"])
    layers = _layers(write_plan_gpkg(plan, tmp_path / "p.gpkg", units=units))
    grids = layers["grids"]
    assert _covers_homes(grids, layers["homes"]).all()
    assert _overlap_area(grids) < 1e-6 * grids.geometry.area.sum()
    assert set(grids["unit_name"]) == {"测试村"}
    box = units.geometry.iat[0]
    inside = shapely.intersection(shapely.union_all(grids.geometry.to_numpy()), box)
    assert inside.area == pytest.approx(box.area, rel=1e-6)  # the unit is still tiled exactly


def test_units_in_another_crs_are_reprojected(stacked, tmp_path):
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(stacked.homes[["x", "y"]].to_numpy())), 200)
    units = gpd.GeoDataFrame({"unit_id": ["v1"]}, geometry=[hull], crs="EPSG:4548").to_crs("EPSG:4326")
    layers = _layers(write_plan_gpkg(stacked, tmp_path / "p.gpkg", units=units))
    assert layers["units"].crs.to_epsg() == 4548
    v1 = layers["units"].set_index("unit_id").geometry["v1"]
    assert v1.area == pytest.approx(hull.area, rel=1e-4)


def test_existing_file_is_replaced_whole_or_not_at_all(stacked, tmp_path):
    path = tmp_path / "plan.gpkg"
    write_plan_gpkg(stacked, path)
    stacked.move(["s1"], "B")
    write_plan_gpkg(stacked, path)
    homes = gpd.read_file(path, layer="homes")
    assert homes.set_index("home_id").loc["s1", "grid_id"] == "B"
    before = path.read_bytes()
    broken = Plan(stacked.homes, stacked.graph, [None] * len(stacked.homes))
    with pytest.raises(GridsimError, match="未分配"):
        write_plan_gpkg(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.gpkg"]  # no temporary left behind


# ------------------------------------------------------------------ writers that use it
def test_partition_cli_writes_plan_gpkg(tmp_path):
    from gridsim.partition.instances import village

    register = village(np.random.default_rng(11), "v7", 4)
    register["key_households"] = 0
    csv = tmp_path / "homes.csv"
    register.to_csv(csv, index=False)
    out = tmp_path / "out" / "PLAN.csv"
    assert main(["partition", str(csv), "--crs", "EPSG:4548", "--out", str(out), "--seed", "2"]) == 0
    gpkg = tmp_path / "out" / "PLAN.gpkg"
    layers = _layers(gpkg)
    plan = pd.read_csv(out)
    assert layers["grids"].crs.to_epsg() == 4548
    assert sorted(layers["grids"]["grid_id"]) == sorted(plan["grid_id"].unique())
    assert _covers_homes(layers["grids"], layers["homes"]).all()
    assert layers["units"]["households"].sum() == register["households"].sum()


def test_editor_save_writes_the_plan_gpkg_and_roster(tmp_path):
    model = EditorModel.open(unit="wanfo")
    result = model.save(tmp_path / "edited", allow_violations=True)
    assert result.paths["gpkg"].name == "edited.gpkg" and result.paths["roster"].name == "edited_roster.xlsx"
    layers = _layers(result.paths["gpkg"])
    assert len(layers["grids"]) == len(model.plan.grid_ids) and len(layers["units"]) == 19
    assert layers["grids"].set_index("grid_id").loc["wanfo-g01", "unit_name"] == "万佛社区"
    import openpyxl

    wb = openpyxl.load_workbook(result.paths["roster"])
    assert wb.sheetnames[0] == "汇总" and "万佛社区" in wb.sheetnames
    model.load(result.paths["gpkg"])  # the editor reads its own GeoPackage back
    assert model.plan.assignment.equals(Plan.from_column(model.homes, model.plan.graph).assignment)
