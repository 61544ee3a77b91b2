"""``gridsim report --homes``: the whole suite on a register that is not the embedded one (issue 14.4).

The register is generated (2 villages, 2 communities near 叶集, EPSG:4548) and written to CSV; it has no
units file and no cases, so outlines are drawn round the homes and named by id. Every page must be made
from it: its unit ids appear, no embedded unit name does, and every page shows the same plan.
"""

from __future__ import annotations

import html
import json
import re

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from gridsim import cli
from gridsim.partition.instances import register
from gridsim.registers import read_layer

def embedded_unit_names() -> list[str]:
    return [str(n) for n in read_layer("units")["name"]]


@pytest.fixture(scope="module")
def user_register(tmp_path_factory):
    d = tmp_path_factory.mktemp("user")
    homes = register(11, villages=2, communities=2)
    path = d / "我们的登记册.csv"
    homes.to_csv(path, index=False, encoding="utf-8")
    return path, homes


@pytest.fixture(scope="module")
def user_report(user_register, tmp_path_factory):
    path, homes = user_register
    out = tmp_path_factory.mktemp("report")
    code = cli.main(["report", "--homes", str(path), "--crs", "EPSG:4548", "--out", str(out), "--no-progress",
                     "-p", "draws=40", "-p", "years=1"])
    return code, out, homes


def test_every_page_is_made_from_the_users_register(user_report):
    code, out, homes = user_report
    assert code == 0
    manifest = json.loads((out / "baseline" / "manifest.json").read_text(encoding="utf-8"))
    pages = {r["notebook"]: r for r in manifest["notebooks"]}
    assert set(pages) >= {"00_summary", "01_data", "02_partition", "04_budget", "05_assessment", "06_scenarios"}
    assert all(r["status"] == "ok" for r in pages.values()), [(r["notebook"], r["message"]) for r in pages.values()]
    names = embedded_unit_names()
    units = sorted(homes["unit_id"].unique())
    for nb, r in pages.items():
        page = (out / "baseline" / r["html"]).read_text(encoding="utf-8")
        leaked = [n for n in names if n in page]
        assert not leaked, (nb, leaked)
        assert "我们的登记册.csv" in page, nb  # every page says which register it was made from
    for nb in ("01_data", "02_partition"):  # the unit tables list the user's units by id
        page = (out / "baseline" / pages[nb]["html"]).read_text(encoding="utf-8")
        assert all(u in page for u in units), nb
    # the workbook is priced on the user's units, named by their ids
    book = pd.read_excel(out / "baseline" / "budget.xlsx", sheet_name=None)
    text = " ".join(df.to_string() for df in book.values())
    assert all(u in text for u in units) and not [n for n in names if n in text]
    assert (out / "baseline" / "summary.pdf").stat().st_size > 10_000


def test_every_page_of_the_scenario_shows_the_same_plan(user_report):
    _, out, homes = user_report
    manifest = json.loads((out / "baseline" / "manifest.json").read_text(encoding="utf-8"))
    plan_id = manifest["plan"]["plan_id"]
    assert re.fullmatch(r"[0-9a-f]{12}", plan_id)
    shown = {r["notebook"]: r["plan_id"] for r in manifest["notebooks"] if r["notebook"] != "01_data"}
    assert shown and set(shown.values()) == {plan_id}, shown
    todays = {r["today_id"] for r in manifest["notebooks"] if r["today_id"]}
    assert len(todays) == 1 and len([r for r in manifest["notebooks"] if r["today_id"]]) >= 4
    stored = pd.read_csv(out / "baseline" / "plan" / "plan.csv")
    assert sorted(stored["home_id"]) == sorted(homes["home_id"])
    index = (out / "index.html").read_text(encoding="utf-8")
    assert plan_id in index and index.index("00_summary.html") < index.index("01_data.html")
    assert "史河" not in index.split("<style>")[0] + index.split("</style>")[-1]  # no embedded place named


def test_pages_needing_todays_grids_are_skipped_with_the_reason(user_register, tmp_path):
    path, homes = user_register
    bare = tmp_path / "no_current.csv"
    homes.drop(columns=["current_grid_id"]).to_csv(bare, index=False)
    out = tmp_path / "out"
    code = cli.main(["report", "--homes", str(bare), "--crs", "EPSG:4548", "--out", str(out), "--no-progress",
                     "--notebook", "00", "--notebook", "01", "-p", "draws=30"])
    assert code == 0
    manifest = json.loads((out / "baseline" / "manifest.json").read_text(encoding="utf-8"))
    pages = {r["notebook"]: r for r in manifest["notebooks"]}
    assert pages["00_summary"]["status"] == "ok"
    assert pages["01_data"]["status"] == "skipped" and "--current" in pages["01_data"]["message"]
    assert not (out / "baseline" / "01_data.html").exists()
    index = html.unescape((out / "index.html").read_text(encoding="utf-8"))
    assert "跳过 skipped" in index and "today's grids" in index


def test_units_file_is_checked_before_any_page_runs(user_register, tmp_path, capsys):
    path, homes = user_register
    # outlines that miss the first unit's homes: every home of that unit lies outside → exit 2, nothing run
    rows = []
    for u, sub in homes.groupby("unit_id"):
        x0, y0 = sub["x"].min(), sub["y"].min()
        geom = box(x0 - 50000, y0 - 50000, x0 - 49000, y0 - 49000) if u == "gv1" else \
            box(sub["x"].min() - 10, sub["y"].min() - 10, sub["x"].max() + 10, sub["y"].max() + 10)
        rows.append({"unit_id": u, "geometry": geom})
    units = tmp_path / "units.gpkg"
    gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4548").to_file(units, layer="units")
    out = tmp_path / "out"
    code = cli.main(["report", "--homes", str(path), "--crs", "EPSG:4548", "--units", str(units), "--out", str(out),
                     "--no-progress", "--notebook", "00"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unit_id" in err and "gv1" in err
    assert not (out / "index.html").exists()


def test_embedded_options_need_a_register(tmp_path, capsys):
    assert cli.main(["report", "--cases", "x.csv", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--homes" in capsys.readouterr().err


def test_data_page_and_editor_name_the_registers_units_not_the_embedded_place(user_report, user_register, tmp_path):
    _, out, homes = user_report
    page = (out / "baseline" / "01_data.html").read_text(encoding="utf-8")
    assert "史河" not in page and "19 个" not in page
    n = homes["unit_id"].nunique()
    assert f"本登记册 this register：{n} 个村（社区）units" in html.unescape(page)

    from gridsim.editor.model import EditorModel
    from gridsim.editor.widgets import data_title

    gpkg = tmp_path / "our_register.gpkg"
    gpd.GeoDataFrame(homes, geometry=gpd.points_from_xy(homes["x"], homes["y"]), crs="EPSG:4548").to_file(
        gpkg, layer="homes")
    title = data_title(EditorModel.open(homes_path=gpkg))
    assert title == f"our_register.gpkg，{n} 个村社 units"
    assert data_title(EditorModel.open()) == "史河街道，19 个村社 units"  # the embedded set is 史河's


def test_inputs_read_again_only_when_a_file_changes_and_each_page_gets_its_own_copy(user_register, tmp_path):
    from gridsim.report_inputs import load_inputs

    path, homes = user_register
    mine = tmp_path / "登记册.csv"
    mine.write_bytes(path.read_bytes())
    first = load_inputs(str(mine), crs="EPSG:4548")
    first.homes.loc[:, "households"] = 0  # a page changing its data in place
    again = load_inputs(str(mine), crs="EPSG:4548")
    assert again.homes is not first.homes and int(again.homes["households"].sum()) == int(homes["households"].sum())
    edited = homes.copy()
    edited.loc[edited.index[0], "households"] += 5
    edited.to_csv(mine, index=False, encoding="utf-8")  # the same file name, new content
    changed = load_inputs(str(mine), crs="EPSG:4548")
    assert int(changed.homes["households"].sum()) == int(homes["households"].sum()) + 5
