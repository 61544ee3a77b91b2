"""The grid roster workbook (网格划分表): a sheet per unit with Chinese headers, sums equal to the plan's,
print settings for A4, the same bytes for the same plan; `gridsim roster` refuses a plan that does not
match the register (file, row, field; exit 2; nothing written, an existing file kept)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest

from gridsim.cli import main
from gridsim.graph import build_graph
from gridsim.plan import Plan
from gridsim.registers import read_layer
from gridsim.roster import (SUMMARY_SHEET, compress, grid_coverage, roster_tables, sheet_names,
                            write_roster)

HEADERS = ["序号", "网格编号", "户数", "常住户数", "五必访户数", "楼栋/房屋数", "覆盖范围（村民组/小区、楼栋/门牌）"]
COUNT_COLS = {"户数": "households", "常住户数": "resident_households", "五必访户数": "key_households",
              "楼栋/房屋数": "homes"}


@pytest.fixture(scope="module")
def shihe_plan(shihe_homes):
    return Plan.from_column(shihe_homes, build_graph(shihe_homes, read_layer("barriers")), "current_grid_id")


@pytest.fixture(scope="module")
def shihe_roster(shihe_plan, tmp_path_factory):
    path = tmp_path_factory.mktemp("roster") / "roster.xlsx"
    write_roster(shihe_plan, path, units=read_layer("units"), groups=read_layer("groups"), plan_date="2024-02-29")
    return path


def _grid_rows(ws):
    """The grid rows of a unit sheet as a frame with the header row's labels (rows 5.. up to 合计)."""
    header = [c.value for c in ws[3]]
    rows = []
    for row in ws.iter_rows(min_row=5, values_only=True):
        if row[0] == "合计":
            return pd.DataFrame(rows, columns=header), row
        rows.append(row)
    raise AssertionError("no 合计 row")


def test_a_sheet_per_unit_named_in_chinese(shihe_roster):
    wb = openpyxl.load_workbook(shihe_roster)
    units = read_layer("units")
    assert wb.sheetnames == [SUMMARY_SHEET] + list(units["name"])  # in the units layer's order


def test_unit_sheets_sum_to_the_plan(shihe_roster, shihe_plan):
    wb = openpyxl.load_workbook(shihe_roster, data_only=True)  # cached values of the 合计 formulas
    summary = shihe_plan.summary()
    names = dict(zip(read_layer("units")["name"], read_layer("units")["unit_id"]))
    for sheet in wb.sheetnames[1:]:
        ws = wb[sheet]
        assert [c.value for c in ws[3]][:7] == HEADERS
        assert [c.value for c in ws[4]][7:11] == ["姓名", "电话", "姓名", "电话"]
        assert {ws.cell(3, 8).value, ws.cell(3, 10).value} == {"网格长", "网格员"}
        assert sheet in ws["A1"].value and "2024年2月29日" in ws["A2"].value
        table, total = _grid_rows(ws)
        mine = summary[summary["unit_id"] == names[sheet]].set_index("grid_id")
        assert sorted(table["网格编号"]) == sorted(mine.index)
        for zh, col in COUNT_COLS.items():
            assert list(table[zh]) == list(mine.loc[table["网格编号"], col]), (sheet, zh)
            assert total[HEADERS.index(zh)] == mine[col].sum()
        assert table.iloc[:, 7:11].isna().all().all()  # names and phones left blank for the unit to fill in
        bad = table["网格编号"].map(~mine["ok"])
        assert table.loc[bad, "备注"].notna().all() and table.loc[~bad, "备注"].isna().all()


def test_summary_sheet_totals_equal_the_plan(shihe_roster, shihe_plan):
    ws = openpyxl.load_workbook(shihe_roster, data_only=True)[SUMMARY_SHEET]
    header = [c.value for c in ws[3]]
    rows = [r for r in ws.iter_rows(min_row=5, values_only=True)]
    total = next(r for r in rows if r[0] == "合计")
    summary = shihe_plan.summary()
    assert total[header.index("网格数")] == len(summary) == len(shihe_plan.grid_ids)
    for zh, col in COUNT_COLS.items():
        assert total[header.index(zh)] == summary[col].sum()
    assert total[header.index("不合规网格数")] == (~summary["ok"]).sum()
    units = [r for r in rows if isinstance(r[0], int)]
    assert len(units) == 19 and {r[header.index("类型")] for r in units} == {"村", "社区"}


def test_print_settings_for_a4(shihe_roster):
    wb = openpyxl.load_workbook(shihe_roster)
    for ws in wb.worksheets:
        assert ws.print_title_rows == "$1:$4"
        assert ws.print_area.endswith(f"$A$1:${'I' if ws.title == SUMMARY_SHEET else 'L'}${ws.max_row}")
        assert ws.page_setup.paperSize == 9  # A4
        assert ws.page_setup.orientation == ("portrait" if ws.title == SUMMARY_SHEET else "landscape")
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
        assert ws.page_setup.fitToWidth in (None, 1)  # 1 is the default and may be omitted
        assert "&P" in ws.oddFooter.right.text
        assert all(ws.column_dimensions[c].width >= 5 for c in "ABCDEFG")
    assert wb.properties.created == dt.datetime(2024, 2, 29)


def test_same_plan_same_bytes(shihe_plan, shihe_roster, tmp_path):
    again = write_roster(shihe_plan, tmp_path / "again.xlsx", units=read_layer("units"), groups=read_layer("groups"),
                         plan_date=dt.date(2024, 2, 29))
    assert again.read_bytes() == shihe_roster.read_bytes()


# ------------------------------------------------------------------ coverage and names
def test_compress_ranges():
    assert compress(["h003", "h001", "h002", "h004", "h007", "h009", "h010"]) == "h001~h004, h007, h009, h010"
    assert compress(["b2", "b10", "b3", "a1", "gate"]) == "a1, b2, b3, b10, gate"
    assert compress(["101", "102", "103", "201", "202", "203", "204"]) == "101~103, 201~204"


def test_sheet_names_are_excel_safe_and_unique():
    names = sheet_names(["东楼社区", "a/b:c*d?[e]\\f", "x" * 40, "x" * 40, "汇总", "History", "'quoted'", "東楼社区"])
    assert names[0] == "东楼社区"
    assert names[1] == "a_b_c_d__e__f"
    assert names[2] == "x" * 31 and names[3] == "x" * 28 + "(2)"
    assert names[4] == "汇总(2)" and names[5] == "History(2)"
    assert names[6] == "quoted"
    assert all(len(n) <= 31 for n in names) and len({n.casefold() for n in names}) == len(names)


def _register(rows, columns):
    df = pd.DataFrame(rows, columns=columns)
    df["x"] = 395000.0 + df["dx"]
    df["y"] = 3524000.0 + df["dy"]
    for c in ("households", "resident_households", "key_households"):
        df[c] = df[c].astype(np.int64)
    return gpd.GeoDataFrame(df.drop(columns=["dx", "dy"]), geometry=gpd.points_from_xy(df["x"], df["y"]),
                            crs="EPSG:4548")


def test_coverage_with_buildings_and_doors():
    """A register of flats (building, door): whole buildings by name, partial ones by door ranges."""
    cols = ["home_id", "unit_id", "unit_type", "group_id", "building", "door", "households",
            "resident_households", "key_households", "dx", "dy"]
    rows = []
    for b, doors in (("1", ["101", "102", "201", "202"]), ("2号楼", ["101", "102", "103", "104", "105"])):
        for d in doors:
            rows.append((f"q1-{b}-{d}".replace("号楼", ""), "c1", "community", "q1", b, d, 1, 1, 0,
                         len(rows) * 7.3, (len(rows) % 3) * 11.0))
    rows.append(("q2-1-101", "c1", "community", "q2", "1", "101", 1, 0, 0, 200.0, 50.0))
    homes = _register(rows, cols)
    grid = ["A"] * 4 + ["A", "A", "A", "B", "B", "B"]
    plan = Plan(homes, build_graph(homes), grid)
    cover = grid_coverage(plan, groups=pd.DataFrame({"group_id": ["q1"], "name": ["幸福小区"]}))
    assert cover["A"] == "幸福小区（7 户）：1栋; 2号楼 101~103"
    assert cover["B"] == "幸福小区（2 户）：2号楼 104, 105\nq2（全部 1 户）"


def test_coverage_without_groups_lists_homes(tmp_path):
    cols = ["home_id", "unit_id", "unit_type", "households", "resident_households", "key_households", "dx", "dy"]
    homes = _register([(f"h{i:02d}", "v1", "village", 2, 1, 0, i * 13.0, (i % 2) * 9.0) for i in range(1, 8)], cols)
    plan = Plan(homes, build_graph(homes), ["A", "A", "A", "B", "B", "A", "B"])
    cover = grid_coverage(plan)
    assert cover == {"A": "未分组（4 处）：h01~h03, h06", "B": "未分组（3 处）：h04, h05, h07"}
    rosters, summary = roster_tables(plan)
    assert [r.sheet for r in rosters] == ["v1"] and summary["households"].tolist() == [14]


# ------------------------------------------------------------------ the command
@pytest.fixture
def small(tmp_path):
    """A two-unit register CSV (GBK-free, odd spacing) and a matching plan CSV."""
    rows = []
    for unit, n in (("v1", 9), ("v2", 6)):
        for i in range(n):
            rows.append({"home_id": f"{unit}-z01-h{i:03d}", "unit_id": unit, "unit_type": "village",
                         "group_id": f"{unit}-z01", "households": 1 + i % 3, "resident_households": i % 2,
                         "key_households": 0, "x": 395000.0 + (i ** 1.3) * 17 + (0 if unit == "v1" else 4000),
                         "y": 3524000.0 + (i % 4) * 23.0})
    reg = tmp_path / "homes.csv"
    pd.DataFrame(rows).to_csv(reg, index=False)
    plan = pd.DataFrame({"home_id": [r["home_id"] for r in rows],
                         "grid_id": [f"{r['unit_id']}-g0{1 + (int(r['home_id'][-3:]) >= 4)}" for r in rows]})
    plan_csv = tmp_path / "plan.csv"
    plan.to_csv(plan_csv, index=False)
    return reg, plan_csv, plan


def _run(reg, plan_csv, out, *extra):
    return main(["roster", str(plan_csv), "--homes", str(reg), "--crs", "EPSG:4548", "--out", str(out), *extra])


def test_cli_writes_the_roster(small, tmp_path, capsys):
    reg, plan_csv, plan = small
    out = tmp_path / "out" / "网格划分表.xlsx"
    assert _run(reg, plan_csv, out, "--date", "2024-02-29", "--subdistrict", "测试街道") == 0
    wb = openpyxl.load_workbook(out, data_only=True)
    assert wb.sheetnames == [SUMMARY_SHEET, "v1", "v2"]  # no units layer: sheets named by unit id
    assert wb[SUMMARY_SHEET]["A1"].value == "测试街道 网格划分汇总表"
    table, total = _grid_rows(wb["v1"])
    assert list(table["网格编号"]) == ["v1-g01", "v1-g02"] and total[2] == sum(1 + i % 3 for i in range(9))
    assert "v1-z01（4 处）：h000~h003" in table["覆盖范围（村民组/小区、楼栋/门牌）"].iat[0]
    assert "已写出" in capsys.readouterr().out


def test_cli_date_defaults_to_the_plan_file(small, tmp_path):
    reg, plan_csv, _ = small
    import os

    stamp = dt.datetime(2024, 3, 5, 12, 0).timestamp()
    os.utime(plan_csv, (stamp, stamp))
    out = tmp_path / "r.xlsx"
    assert _run(reg, plan_csv, out) == 0
    assert "2024年3月5日" in openpyxl.load_workbook(out)["v1"]["A2"].value


@pytest.mark.parametrize("case", ["unknown_home", "missing_home", "across_units"])
def test_cli_refuses_a_plan_that_does_not_match(small, tmp_path, capsys, case):
    reg, plan_csv, plan = small
    bad = plan.copy()
    if case == "unknown_home":
        bad.loc[3, "home_id"] = "nobody"
        row, field, value = 4, "home_id", "nobody"
    elif case == "missing_home":
        bad = bad.drop(index=5)
        row, field, value = None, "home_id", "v1-z01-h005"
    else:
        bad.loc[11, "grid_id"] = "v1-g01"  # a v2 home put into a v1 grid
        row, field, value = 12, "grid_id", "v1-g01"
    bad_csv = tmp_path / "bad.csv"
    bad.to_csv(bad_csv, index=False)
    out = tmp_path / "kept.xlsx"
    out.write_bytes(b"an earlier roster")
    capsys.readouterr()
    assert _run(reg, bad_csv, out, "--date", "2024-02-29") == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and f"field={field}" in err and repr(value) in err
    if row is not None:
        assert f"row={row}," in err and f"line {row + 1}" in err
    assert out.read_bytes() == b"an earlier roster"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "homes.csv", "kept.xlsx", "plan.csv"]


def test_cli_bad_date_and_output_name(small, tmp_path, capsys):
    reg, plan_csv, _ = small
    assert _run(reg, plan_csv, tmp_path / "r.xlsx", "--date", "29.02.2024") == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert _run(reg, plan_csv, tmp_path / "r.csv") == 2
    assert not (tmp_path / "r.xlsx").exists() and not (tmp_path / "r.csv").exists()


def test_cli_replaces_an_existing_roster(small, tmp_path):
    reg, plan_csv, plan = small
    out = tmp_path / "r.xlsx"
    assert _run(reg, plan_csv, out, "--date", "2024-02-29") == 0
    plan.assign(grid_id=plan["home_id"].str[:2] + "-all").to_csv(plan_csv, index=False)
    assert _run(reg, plan_csv, out, "--date", "2024-02-29") == 0
    table, _ = _grid_rows(openpyxl.load_workbook(out)["v2"])
    assert list(table["网格编号"]) == ["v2-all"]
