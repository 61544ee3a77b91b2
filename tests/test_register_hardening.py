"""Bad-input sweep cases: each bad register exits 2 from every command, names file/row/field, writes nothing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pyproj import CRS, Transformer

from gridsim.errors import InputError
from gridsim.registers import MAX_HOUSEHOLDS_PER_HOME, RegisterWarning, parse_count, read_homes

HEAD = "home_id,unit_id,unit_type,households,resident_households,x,y\n"
NEAR = "395000,3525000"  # EPSG:4548 metres in 叶集


def run(*args):
    return subprocess.run([sys.executable, "-m", "gridsim", *args], capture_output=True, text=True, timeout=300)


def register(tmp_path, rows: str, head: str = HEAD):
    p = tmp_path / "homes.csv"
    p.write_text(head + rows, encoding="utf-8")
    return p


COMMANDS = {
    "validate": ["validate", "{homes}"],
    "partition": ["partition", "{homes}", "--out", "{out}/plan.csv", "--workers", "1"],
}

# name: (rows, --crs or None, texts the message must hold (row, field, what))
CASES = {
    "overflow": (f"h1,u1,village,3,2,{NEAR}\nh2,u1,village,99999999999999999999,2,395030,3525010\n",
                 "EPSG:4548", ["行 row=2", "households", "plausible maximum", "99999999999999999999"]),
    "infinite": (f"h1,u1,village,inf,2,{NEAR}\nh2,u1,village,3,nan,395030,3525010\n",
                 "EPSG:4548", ["行 row=1", "行 row=2", "resident_households", "not a finite number"]),
    "metres_as_degrees": (f"h1,u1,village,3,2,{NEAR}\n", "EPSG:4326",
                          ["行 row=1", "x/y", "area of use of EPSG:4326", "--crs EPSG:4548"]),
    "unknown_crs": (f"h1,u1,village,3,2,{NEAR}\n", "EPSG:999999", ["--crs", "EPSG:999999", "unknown or invalid CRS"]),
    "new_york": ("h1,u1,village,3,2,-74.006,40.7128\n", None,
                 ["行 row=1", "area of use of EPSG:4490", "--crs EPSG:4326"]),
    "lat_lon_swapped": ("h1,u1,village,3,2,31.85,115.9\nh2,u1,village,1,1,31.8503,115.9004\n", None,
                        ["x/y 可能填反", "swapped"]),
    "northing_easting_swapped": ("h1,u1,village,3,2,3525000,395000\n", "EPSG:4548",
                                 ["行 row=1", "x/y 可能填反", "area of use of EPSG:4548"]),
    "zone_prefix": ("h1,u1,village,3,2,39395000,3525000\n", "EPSG:4548", ["行 row=1", "--crs EPSG:4527"]),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES)
def test_bad_register_exits_2_names_it_and_writes_nothing(tmp_path, command, case):
    rows, crs, expected = CASES[case]
    homes = register(tmp_path, rows)
    out = tmp_path / "out"
    args = [a.format(homes=homes, out=out) for a in COMMANDS[command]]
    if crs:
        args += ["--crs", crs]
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "内部错误" not in result.stderr
    assert str(homes) in result.stderr
    for text in expected:
        assert text in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_unreadable_separator_exits_2(tmp_path, command):
    homes = register(tmp_path, "h1|u1|village|3|2|115.9|31.85\n", head=HEAD.replace(",", "|"))
    out = tmp_path / "out"
    result = run(*[a.format(homes=homes, out=out) for a in COMMANDS[command]])
    assert result.returncode == 2 and "separator" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_counts_at_and_past_the_maximum(tmp_path):
    m = MAX_HOUSEHOLDS_PER_HOME
    ok = register(tmp_path, f"h1,u1,community,{m},{m},{NEAR}\nh2,u1,community,{m}.0,0,395030,3525010\n")
    assert list(read_homes(ok, crs="EPSG:4548")["households"]) == [m, m]
    bad = register(tmp_path, f"h1,u1,community,{m + 1},0,{NEAR}\nh2,u1,community,1e30,0,395030,3525010\n"
                             f"h3,u1,community,-0.5,0,395060,3525020\nh4,u1,community,1_000,0,395090,3525030\n")
    with pytest.raises(InputError) as err:
        read_homes(bad, crs="EPSG:4548")
    got = {(p.row, p.message.split(" (")[0]) for p in err.value.problems}
    assert got == {(1, f"超过每条住户记录的合理上限 {m} 户"), (2, f"超过每条住户记录的合理上限 {m} 户"),
                   (3, "户数不能为负"), (4, "不是数字")}


@pytest.mark.parametrize("value,expected", [
    ("3", (3, None)), (" ３ ", (3, None)), ("3.0", (3, None)), ("1e3", (1000, None)), (7, (7, None)),
    (np.int64(5), (5, None)), (2.0, (2, None)), ("", (None, "missing")), (None, (None, "missing")),
    ("inf", (None, "infinite")), ("-Infinity", (None, "infinite")), ("NaN", (None, "infinite")),
    (float("inf"), (None, "infinite")), ("99999999999999999999", (None, "too_large")),
    (2**70, (None, "too_large")), ("2.5", (None, "fraction")), ("-1", (None, "negative")),
    ("3户", (None, "nan")), (True, (None, "nan")),
])
def test_parse_count(value, expected):
    assert parse_count(value) == expected


def _metres_at(lon, lat, crs="EPSG:4548"):
    return Transformer.from_crs("EPSG:4490", crs, always_xy=True).transform(lon, lat)


def test_coordinates_at_the_edge_of_the_crs_area(tmp_path):
    west = CRS.from_user_input("EPSG:4548").area_of_use.west  # 115.5°E
    inside = _metres_at(west + 1e-6, 31.85)
    outside = _metres_at(west - 1e-4, 31.85)
    ok = register(tmp_path, f"h1,u1,village,3,2,{inside[0]:.4f},{inside[1]:.4f}\n")
    assert len(read_homes(ok, crs="EPSG:4548")) == 1
    bad = register(tmp_path, f"h1,u1,village,3,2,{inside[0]:.4f},{inside[1]:.4f}\n"
                             f"h2,u1,village,3,2,{outside[0]:.4f},{outside[1]:.4f}\n")
    with pytest.raises(InputError) as err:
        read_homes(bad, crs="EPSG:4548")
    rows = {p.row for p in err.value.problems if p.row is not None}
    assert rows == {2}
    # lon/lat at the western edge of CGCS2000's area (China) pass, with a warning that 叶集 is far
    china_west = CRS.from_user_input("EPSG:4490").area_of_use.west
    edge = register(tmp_path, f"h1,u1,village,3,2,{china_west},39.5\n")
    with pytest.warns(RegisterWarning, match="km"):
        homes = read_homes(edge)
    assert np.isfinite(homes["x"]).all() and homes.crs.to_epsg() == 4534  # its own Gauss-Krüger zone
    past = register(tmp_path, f"h1,u1,village,3,2,{china_west - 0.01},39.5\n")
    with pytest.raises(InputError, match="EPSG:4490"):
        read_homes(past)


def test_far_from_yeji_is_a_warning_not_an_error(tmp_path):
    beijing = register(tmp_path, "h1,u1,village,3,2,116.40,39.90\nh2,u1,village,1,1,116.401,39.901\n")
    with pytest.warns(RegisterWarning, match="叶集"):
        homes = read_homes(beijing)
    assert len(homes) == 2
    out = run("validate", str(beijing))
    assert out.returncode == 0 and "警告 (warning)" in out.stdout and "km" in out.stdout
    ny = register(tmp_path, "h1,u1,village,3,2,-74.006,40.7128\n")
    with pytest.warns(RegisterWarning):
        homes = read_homes(ny, crs="EPSG:4326")
    assert homes.crs.to_epsg() == 32618  # New York's UTM zone, metres


def test_lat_lon_swapped_inside_china_names_the_swap(tmp_path):
    # a 叶集 register with lon/lat exchanged but both within China's degree ranges reads as far away
    near_swap = register(tmp_path, "h1,u1,village,3,2,31.85,115.9\n")
    with pytest.raises(InputError, match="x/y 可能填反"):
        read_homes(near_swap, crs="EPSG:4490")


def test_good_register_near_yeji_has_no_warning(tmp_path, recwarn):
    homes = read_homes(register(tmp_path, f"h1,u1,village,3,2,{NEAR}\n"), crs="EPSG:4548")
    assert homes.attrs["warnings"] == []
    assert not [w for w in recwarn if issubclass(w.category, RegisterWarning)]
