"""The editor's model without a browser: selection, move preview, locks, undo/redo, diff, save/load,
repair plumbing, outlines. Small hand-made registers pin exact numbers; the embedded data checks that
the session's incremental rule status always equals a full re-check."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridsim.editor.model import NEW_GRID, EditorModel
from gridsim.editor.repair import RepairOutput
from gridsim.errors import GridsimError, InputError
from gridsim.graph import graph_from_edges
from gridsim.plan import Plan

X0, Y0 = 395000.0, 3524000.0  # inside the Shihe area, EPSG:4548 metres


def _register(rows, unit_type="village", unit="v1"):
    """A homes frame like read_homes returns: rows of (home_id, households, resident, key, x)."""
    df = pd.DataFrame(rows, columns=["home_id", "households", "resident_households", "key_households", "dx"])
    df.insert(1, "unit_id", unit)
    df.insert(2, "unit_type", unit_type)
    df["x"] = X0 + df.pop("dx")
    df["y"] = Y0
    for c in ("households", "resident_households", "key_households"):
        df[c] = df[c].astype(np.int64)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x"], df["y"]), crs="EPSG:4548")


@pytest.fixture
def line_village(registered):
    """Six homes of 50 households on a line (neighbours linked): grid A = h1..h3, grid B = h4..h6."""
    homes = _register([(f"h{i}", 50, 40, 1, 50.0 * i) for i in range(1, 7)])
    edges = pd.DataFrame({"home_a": [f"h{i}" for i in range(1, 6)], "home_b": [f"h{i}" for i in range(2, 7)]})
    plan = Plan(homes, graph_from_edges(homes, edges), ["A", "A", "A", "B", "B", "B"], registered)
    return EditorModel(plan, unit="v1")


@pytest.fixture(scope="module")
def shihe_model():
    return EditorModel.open(unit="chapeng")


# ------------------------------------------------------------------ selection
def test_select_modes(line_village):
    m = line_village
    assert m.home_ids(m.select(["h1", "h2"])) == ["h1", "h2"]
    assert m.home_ids(m.select(["h3"], mode="add")) == ["h1", "h2", "h3"]
    assert m.home_ids(m.select(["h2"], mode="remove")) == ["h1", "h3"]
    assert m.home_ids(m.select(["h1", "h4"], mode="toggle")) == ["h3", "h4"]
    m.clear_selection()
    assert m.selection == []
    with pytest.raises(GridsimError):
        m.select(["nope"])
    with pytest.raises(GridsimError):
        m.select(["h1"], mode="lasso")


def test_select_refuses_homes_of_another_unit(shihe_model):
    other = shihe_model.homes.loc[shihe_model.homes["unit_id"] != "chapeng", "home_id"].iloc[0]
    with pytest.raises(GridsimError, match="不在当前村社"):
        shihe_model.select([other])


def test_select_polygon_metres_and_lonlat(line_village):
    m = line_village
    box = shapely.box(X0 + 70, Y0 - 10, X0 + 160, Y0 + 10)  # covers h2 (x=100) and h3 (x=150)
    assert m.home_ids(m.select_polygon(box, crs=None)) == ["h2", "h3"]
    lonlat = m.lonlat.geometry(box)
    assert m.home_ids(m.select_polygon(shapely.geometry.mapping(lonlat), mode="replace")) == ["h2", "h3"]
    far = shapely.box(X0 + 1000, Y0 - 10, X0 + 1100, Y0 + 10)
    assert m.select_polygon(far, crs=None, mode="add") != []  # add keeps the earlier selection
    assert m.select_polygon(far, crs=None) == []


# ------------------------------------------------------------------ preview
def test_check_move_counts_and_clean_move(line_village):
    m = line_village
    m.select(["h3"])
    before = m.plan.assignment.copy()
    check = m.check_move("B")
    assert check.allowed and check.clean and not check.splits
    assert check.counts.loc["A", "households_before"] == 150 and check.counts.loc["A", "households_after"] == 100
    assert check.counts.loc["B", "households_after"] == 200
    assert check.counts.loc["B", "resident_households_after"] == 160
    assert check.households_moved == 50
    pd.testing.assert_series_equal(m.plan.assignment, before)  # a preview never changes the plan


def test_check_move_reports_floor_and_split(line_village, registered):
    m = line_village
    m.select(["h2"])
    check = m.check_move("B")
    assert check.splits == {"A": 2}  # h1 and h3 lose their link
    assert {(v.rule, v.grid_id) for v in check.broken} >= {("contiguous", "A"), ("contiguous", "B")}
    m.select(["h2", "h3"])
    check = m.check_move("B")
    assert ("village_min_households", "A") in {(v.rule, v.grid_id) for v in check.broken}
    floor = registered["grid.village.min_households"]
    assert check.counts.loc["A", "households_after"] == 50 < floor
    assert not check.splits


def test_move_to_new_grid_and_undo_removes_it(line_village):
    m = line_village
    m.select(["h1"])
    check = m.move(NEW_GRID)
    assert check.new_grid and check.target == "v1-g01"
    assert m.plan.grid_of("h1") == "v1-g01"
    assert ("village_min_households", "v1-g01") in {(v.rule, v.grid_id) for v in check.broken}
    m.undo()
    assert m.plan.grid_of("h1") == "A" and "v1-g01" not in m.plan.grid_ids


def test_blocked_moves(line_village):
    m = line_village
    m.select(["h3"])
    assert "没有要移动" in m.check_move("A").blocked[0]  # already there
    assert m.check_move("Z").blocked  # not a grid of this unit
    m.lock_homes(["h3"])
    assert not m.check_move("B").allowed
    with pytest.raises(GridsimError, match="锁定"):
        m.move("B")
    m.lock_homes(["h3"], locked=False)
    m.lock_grids(["B"])
    assert any("网格已锁定" in b for b in m.check_move("B").blocked)
    m.lock_grids(["B"], locked=False)
    m.lock_grids(["A"])
    assert not m.check_move("B").allowed  # a locked grid loses no home either
    with pytest.raises(GridsimError):
        m.lock_grids(["nope"])
    assert m.plan.grid_of("h3") == "A"


# ------------------------------------------------------------------ undo / redo / diff
def test_undo_redo_diff(line_village):
    m = line_village
    start = m.plan.assignment.copy()
    m.select(["h3"])
    m.move("B")
    m.select(["h4"])
    m.move(NEW_GRID)
    d = m.diff()
    assert (d.homes, d.households) == (2, 100)
    assert d.households_optimizer == 100  # old A keeps h1, h2 (h3 counts); old B keeps h5, h6 (h4 counts)
    assert set(d.moved["home_id"]) == {"h3", "h4"}
    assert m.undo() is not None and m.undo() is not None and m.undo() is None
    pd.testing.assert_series_equal(m.plan.assignment, start)
    assert m.diff().homes == 0
    m.redo()
    assert m.plan.grid_of("h3") == "B" and m.diff().households == 50
    m.select(["h2"])
    m.move("B")  # a new step clears what could be redone
    assert m.redo() is None


def test_session_status_matches_full_recheck_after_random_edits(shihe_model):
    """Random moves to neighbouring grids, then undo/redo: the incremental status always equals a
    full re-check, and no home or household is lost."""
    m = shihe_model
    rng = np.random.default_rng(20240201)
    total = int(m.homes["households"].sum())
    start = m.plan.assignment.copy()

    def recheck():
        full = {}
        for v in m.plan.violations():
            if v.rule != "each_home_once":
                full.setdefault(v.grid_id, set()).add((v.rule, v.value))
        cached = {g: {(v.rule, v.value) for v in vs} for g, vs in m._status.items() if vs}
        assert cached == full

    graph = m.plan.graph
    moves = 0
    for _ in range(25):
        grid = dict(zip(m.unit_positions.tolist(), m.grid_of(m.unit_positions)))
        border = [p for p in grid if any(grid[q] != grid[p] for q in graph.neighbors(p).tolist())]
        p = int(rng.choice(border))
        targets = sorted({grid[q] for q in graph.neighbors(p).tolist()} - {grid[p]})
        m.select([p])
        m.move(targets[int(rng.integers(len(targets)))] if rng.random() > 0.1 else NEW_GRID)
        moves += 1
        recheck()
    assert moves == 25 and m.diff().homes > 0
    for _ in range(10):
        m.undo()
    recheck()
    for _ in range(4):
        m.redo()
    recheck()
    summary = m.plan.summary()
    assert int(summary["households"].sum()) == total and int(summary["homes"].sum()) == len(m.homes)
    while m.undo() is not None:
        pass
    pd.testing.assert_series_equal(m.plan.assignment, start)
    recheck()


def test_grid_table_reads_plan_and_status(line_village):
    m = line_village
    t = m.grid_table()
    assert list(t["grid_id"]) == ["A", "B"] and list(t["households"]) == [150, 150] and t["ok"].all()
    m.select(["h2", "h3"])
    m.move("B")
    t = m.grid_table().set_index("grid_id")
    assert not t.loc["A", "ok"] and "village_min_households" in t.loc["A", "rules"]
    assert "户数下限" in t.loc["A", "status"]


# ------------------------------------------------------------------ repair plumbing
def test_repair_applies_one_undoable_step_and_respects_locks(line_village):
    m = line_village
    m.select(["h2", "h3"])
    m.move("B")  # A = h1 (50), below the floor

    def give_back(plan, unit_id, fixed, **options):
        out = plan.assignment.to_numpy(dtype=object).copy()
        out[plan.positions(["h2", "h3"])] = "A"
        return RepairOutput(out, ["test"])

    m._repair = give_back
    result = m.repair()
    assert set(result.moved["home_id"]) == {"h2", "h3"} and result.violations_after == 0
    assert result.violations_before > 0
    assert m.plan.grid_of("h2") == "A" and m.grid_table()["ok"].all()
    m.undo()
    assert m.plan.grid_of("h2") == "B"
    m.lock_homes(["h2"])
    with pytest.raises(GridsimError, match="锁定"):
        m.repair()
    assert m.plan.grid_of("h2") == "B"


# ------------------------------------------------------------------ outlines, save, load
def test_outlines_tile_the_unit(shihe_model):
    m = shihe_model
    frame = m.grid_frame()
    assert sorted(frame["grid_id"]) == m.grids()
    unit_area = shapely.area(m.outlines.unit_shapes["chapeng"])
    assert frame.geometry.area.sum() == pytest.approx(unit_area, rel=1e-6)
    assert not frame.geometry.is_empty.any()
    overview = m.grid_frame("all")
    assert overview["unit_id"].nunique() == 19 and len(overview) == len(m.plan.grid_ids)


def test_save_needs_explicit_choice_and_writes_violations(line_village, tmp_path):
    m = line_village
    m.select(["h2", "h3"])
    m.move("B")
    with pytest.raises(GridsimError, match="未保存"):
        m.save(tmp_path / "p")
    assert list(tmp_path.iterdir()) == []
    result = m.save(tmp_path / "p", allow_violations=True)
    assert {p.name for p in tmp_path.iterdir()} == {"p.csv", "p_summary.csv", "p.gpkg", "p_roster.xlsx",
                                                     "p_violations.csv"}
    summary = pd.read_csv(tmp_path / "p_summary.csv", encoding="utf-8-sig")
    assert list(summary["网格编号 grid_id"]) == ["A", "B"] and list(summary["登记户数（社区为规划户数）households"]) == [50, 250]
    assert result.violations > 0
    viol = pd.read_csv(tmp_path / "p_violations.csv", encoding="utf-8-sig")
    assert "规则 rule" in viol.columns and "village_min_households" in set(viol["规则 rule"])
    grids = gpd.read_file(tmp_path / "p.gpkg", layer="grids")
    assert set(grids["grid_id"]) == {"A", "B"} and grids.crs.to_epsg() == 4548
    m.undo()
    m.save(tmp_path / "p")  # clean now: saved without asking, and the stale violations file goes
    assert not (tmp_path / "p_violations.csv").exists()


def test_save_load_roundtrip_csv_and_gpkg(line_village, tmp_path):
    m = line_village
    m.select(["h3"])
    m.move("B")
    saved = m.plan.assignment.copy()
    m.save(tmp_path / "plan.csv")
    m.undo()
    m.load(tmp_path / "plan.csv")
    pd.testing.assert_series_equal(m.plan.assignment, saved)
    assert m.diff().homes == 0 and m.undo_stack == []  # the loaded plan is the new start
    m.select(["h4"])
    m.move("A")
    m.load(tmp_path / "plan.gpkg")  # each home goes to the polygon containing it
    pd.testing.assert_series_equal(m.plan.assignment, saved)


def test_load_bad_csv_names_the_row(line_village, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("home_id,grid_id\nh1,A\nh2,A\nh3,A\nh4,B\nh5,B\nnot_a_home,B\n", encoding="utf-8")
    before = line_village.plan.assignment.copy()
    with pytest.raises(InputError) as err:
        line_village.load(bad)
    assert "not_a_home" in str(err.value) or any("not_a_home" in str(p.value) for p in err.value.problems)
    pd.testing.assert_series_equal(line_village.plan.assignment, before)


def test_repair_with_the_optimizer_from_the_current_state(line_village):
    m = line_village
    m.select(["h2", "h3"])
    m.move("B")  # A = h1 (50 households): below the village floor of 100
    result = m.repair(seed=1)
    assert result.violations_before == 1 and result.violations_after == 0
    assert 0 < int(result.moved["households"].sum()) <= 100  # at most h2 and h3 go back
    assert m.grid_table()["ok"].all() and m.all_violations() == []
    m.undo()
    assert m.plan.grid_of("h1") == "A" and m.plan.grid_of("h2") == "B"


def test_repair_keeps_locked_homes_in_their_grid_and_locked_grids_as_they_are(line_village):
    m = line_village
    m.select(["h2", "h3"])
    m.move("B")  # A = h1 (50 households, below the floor); B = h2..h6
    m.lock_homes(["h2", "h4"])  # pinned in B: the optimizer repairs around them
    result = m.repair(seed=1)
    assert any("锁定住户" in n for n in result.notes)
    assert result.violations_after == 0
    assert m.plan.grid_of("h2") == "B" and m.plan.grid_of("h4") == "B"
    assert m.plan.grid_of("h1") == "B"  # A cannot reach h3 past h2 any more: h1 joins B (300 households)
    m.undo()
    m.lock_homes(["h2", "h4"], locked=False)
    m.lock_grids(["B"])  # a locked grid neither gains nor loses: nothing can be done
    result = m.repair(seed=1)
    assert any("保持不变" in n for n in result.notes)
    assert result.moved.empty and result.violations_after == 1
    assert [m.plan.grid_of(h) for h in ("h2", "h3", "h4")] == ["B", "B", "B"]


# ------------------------------------------------------------------ the widgets' handlers, without a browser
def test_app_handlers_follow_the_model(tmp_path):
    pytest.importorskip("ipyleaflet")
    from gridsim.editor import build_app

    app = build_app(unit="wanfo", out_dir=tmp_path)
    m = app.model
    home = m.home_ids(m.unit_positions[:1])[0]
    source = m.grid_of(m.unit_positions[:1])[0]
    target = next(g for g in m.grids() if g != source)
    feature = next(f for f in app.homes_layer.data["features"] if f["properties"]["home_id"] == home)
    for event in ("mouseover", "click"):  # as the map's JavaScript reports them
        app.homes_layer._handle_mouse_events(None, {"event": event, "feature": feature,
                                                    "properties": feature["properties"]}, [])
    assert home in app.hover_html.value and source in app.hover_html.value
    assert home in app.selection_html.value
    app.target.value = target
    assert f"data-grid='{target}'" in app.preview_html.value
    colour = app._colour(target)
    app.move_btn.click()
    feature = next(f for f in app.homes_layer.data["features"] if f["properties"]["home_id"] == home)
    assert feature["properties"]["style"]["fillColor"] == colour
    assert "gs-diff-homes'>1<" in app.diff_html.value
    app.unit_select.value = "chapeng"  # undo in another unit brings the editor back to wanfo
    app.undo_btn.click()
    assert m.unit == "wanfo" and app.unit_select.value == "wanfo" and m.diff().homes == 0
    app.lock_grid.value = target  # a locked grid takes no home: the move is refused in the app
    app.lock_grid_btn.click()
    app._on_home_click(properties={"home_id": home})
    app.target.value = target
    assert "gs-blocked" in app.preview_html.value
    app.move_btn.click()
    assert "锁定" in app.message_html.value and m.diff().homes == 0
    app.unlock_grid_btn.click()
    app.save_name.value = "p"
    app.save_btn.click()
    assert "未保存" in app.message_html.value and not (tmp_path / "p.csv").exists()
    app.allow_violations.value = True
    app.save_btn.click()
    assert (tmp_path / "p.csv").exists() and (tmp_path / "p_violations.csv").exists()
    app.load_path.value = "p.csv"
    app.load_btn.click()
    assert "已载入" in app.message_html.value


def test_load_refuses_a_grid_across_units(baseline, tmp_path):
    village = _register([("a1", 150, 120, 1, 0.0), ("a2", 150, 120, 1, 50.0)], unit="v1")
    other = _register([("b1", 150, 120, 1, 500.0), ("b2", 150, 120, 1, 550.0)], unit="v2")
    homes = gpd.GeoDataFrame(pd.concat([village, other], ignore_index=True), crs="EPSG:4548")
    edges = pd.DataFrame({"home_a": ["a1", "b1"], "home_b": ["a2", "b2"]})
    m = EditorModel(Plan(homes, graph_from_edges(homes, edges), ["A", "A", "B", "B"], baseline), unit="v1")
    bad = tmp_path / "across.csv"
    bad.write_text("home_id,grid_id\na1,A\na2,X\nb1,X\nb2,B\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        m.load(bad)
    assert any(p.value == "X" for p in err.value.problems)
    assert m.plan.grid_of("a2") == "A"  # nothing changed
