"""Register validation: every bad row named with file, row and field; good data passes unchanged."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from gridsim.errors import InputError
from gridsim.registers import read_cases, read_homes, read_plan

GOOD = """home_id,unit_id,unit_type,households,resident_households,key_households,group_id,x,y
h1,u1,village,3,2,1,g1,395000,3525000
h2,u1,village,1,1,0,g1,395030,3525010
h3,c1,community,120,90,4,xq1,396000,3526000
"""


def write(tmp_path, text, name="homes.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_good_csv_reads_with_clean_types(tmp_path):
    homes = read_homes(write(tmp_path, GOOD), crs="EPSG:4548")
    assert list(homes["home_id"]) == ["h1", "h2", "h3"]
    assert homes["households"].dtype == "int64"
    assert homes["households"].sum() == 124
    assert homes.crs.to_epsg() == 4548
    assert homes.loc[0, "x"] == pytest.approx(395000)


def test_lonlat_csv_is_projected_to_metres(tmp_path):
    text = "home_id,unit_id,unit_type,households,resident_households,x,y\nh1,u1,village,2,1,115.9,31.85\n"
    homes = read_homes(write(tmp_path, text))
    assert homes.crs.to_epsg() == 4548
    assert 390_000 < homes.loc[0, "x"] < 400_000
    assert homes.loc[0, "key_households"] == 0


def test_bad_register_names_every_row_and_field(tmp_path):
    text = GOOD + "h1,u1,village,-2,0,0,g1,395050,3525020\nh5,u1,town,2.5,1,0,g1,395060,3525030\n" \
                  "h6,u1,village,2,3,0,g1,395070,3525040\nh7,u1,village,abc,1,0,g1,395080,\n"
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_homes(path, crs="EPSG:4548")
    probs = {(p.row, p.field.split("（")[0]) for p in err.value.problems}
    assert probs == {
        (4, "home_id"),  # duplicate of row 1
        (4, "households"),  # negative
        (5, "households"),  # not whole
        (5, "unit_type"),  # unknown type
        (6, "resident_households"),  # resident > households
        (7, "households"),  # not a number
        (7, "y"),  # missing coordinate
    }
    msg = str(err.value)
    assert str(path) in msg and "行 row=4" in msg and "duplicate" in msg and "negative" in msg
    assert "未写出任何文件" in msg


def test_missing_columns_and_crs(tmp_path):
    with pytest.raises(InputError, match="resident_households"):
        read_homes(write(tmp_path, "home_id,unit_id,unit_type,households,x,y\nh1,u,village,1,1,1\n"))
    with pytest.raises(InputError, match="--crs"):
        read_homes(write(tmp_path, GOOD))


def test_geopackage_with_bad_geometry_and_unit_type_clash(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"home_id": ["a", "b", "c"], "unit_id": ["u", "u", "u"], "unit_type": ["village", "community", "village"],
         "households": [1, 2, 3], "resident_households": [1, 1, 1]},
        geometry=[Point(395000, 3525000), Point(395010, 3525000), None], crs="EPSG:4548")
    path = tmp_path / "homes.gpkg"
    gdf.to_file(path, layer="homes")
    with pytest.raises(InputError) as err:
        read_homes(path)
    fields = {(p.row, p.field.split("（")[0]) for p in err.value.problems}
    assert fields == {(2, "unit_type"), (3, "geometry")}


def test_geojson_register(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"home_id": ["a", "b"], "unit_id": ["u", "u"], "unit_type": ["村", "村"],
         "households": [1, 2], "resident_households": [1, 1]},
        geometry=[Point(115.9, 31.85), Point(115.901, 31.85)], crs="EPSG:4490")
    path = tmp_path / "homes.geojson"
    gdf.to_file(path, driver="GeoJSON")
    homes = read_homes(path)
    assert list(homes["unit_type"]) == ["village", "village"]
    assert homes.crs.to_epsg() == 4548


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_homes(tmp_path / "nope.csv")
    p = tmp_path / "homes.txt"
    p.write_text("x")
    with pytest.raises(InputError, match="unsupported"):
        read_homes(p)
    bad = tmp_path / "broken.gpkg"
    bad.write_bytes(b"not a geopackage")
    with pytest.raises(InputError, match="cannot read"):
        read_homes(bad)


def test_embedded_register_is_valid(shihe_homes):
    assert shihe_homes["home_id"].is_unique
    assert (shihe_homes["resident_households"] <= shihe_homes["households"]).all()
    assert set(shihe_homes["unit_type"]) == {"village", "community"}
    assert shihe_homes["unit_id"].nunique() == 19


def test_embedded_cases_are_valid():
    cases = read_cases()
    assert cases["case_id"].is_unique
    assert cases["date"].dt.year.eq(2024).all()


def test_plan_must_cover_every_home_once(tmp_path, shihe_homes):
    homes = shihe_homes.head(3)
    p = write(tmp_path, f"home_id,grid_id\n{homes.home_id[0]},g1\n{homes.home_id[0]},g2\nzzz,g1\n", "plan.csv")
    with pytest.raises(InputError) as err:
        read_plan(p, homes)
    msgs = str(err.value)
    assert "assigned twice" in msgs and "not in the register" in msgs and "missing from the plan" in msgs
    ok = write(tmp_path, "home_id,grid_id\n" + "".join(f"{h},g1\n" for h in homes.home_id), "ok.csv")
    assert list(read_plan(ok, homes)) == ["g1"] * 3


def test_cli_validate_reports_without_traceback(tmp_path):
    text = GOOD + "h1,u1,village,-2,0,0,g1,395050,3525020\n"
    path = write(tmp_path, text)
    out = subprocess.run([sys.executable, "-m", "gridsim", "validate", str(path), "--crs", "EPSG:4548"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "行 row=4" in out.stderr and "home_id" in out.stderr and "households" in out.stderr
