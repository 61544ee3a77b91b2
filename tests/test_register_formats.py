"""Registers as they arrive: GBK/UTF-8 CSVs saved by Excel, semicolons and tabs, Chinese headers, workbooks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from gridsim.errors import InputError
from gridsim.register_formats import detect_encoding, detect_separator, header_field, map_headers
from gridsim.registers import read_homes

# Headers as a 村委 types them: full-width brackets, a space inside 户 数, stray spaces around, the
# group header with a full-width slash; values with full-width digits and padding.
GBK_TEXT = (" 住户编号 ,村（社区）, 类型 ,户 数,常住户数, 五必访户数 ,村民组／小区,楼栋,门牌,x,y\r\n"
            "pg-001,平岗村,村,3,2,0,一组,,,395000,3525000\r\n"
            "pg-002,平岗村,村, ２ ,1,,一组,,东街5号,395030,3525010\r\n"
            "\r\n"
            "sh-001,史河社区,社区,120,90,4,金桥小区,3栋,,396000,3526000\r\n")


def write_bytes(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_gbk_csv_with_chinese_headers_and_odd_spacing(tmp_path):
    path = write_bytes(tmp_path, "登记册.csv", GBK_TEXT.encode("gbk"))
    homes = read_homes(path, crs="EPSG:4548")
    assert list(homes["home_id"]) == ["pg-001", "pg-002", "sh-001"]
    assert list(homes["unit_id"]) == ["平岗村", "平岗村", "史河社区"]
    assert list(homes["unit_type"]) == ["village", "village", "community"]
    assert list(homes["households"]) == [3, 2, 120]
    assert list(homes["key_households"]) == [0, 0, 4]  # a blank optional count is none
    assert homes["building"].tolist()[2] == "3栋" and homes["door"].tolist()[1] == "东街5号"
    assert homes.attrs["read"]["encoding"] == "gb18030" and homes.attrs["read"]["separator"] == ","
    mapping = homes.attrs["header_mapping"]
    assert mapping["村（社区）"] == "unit_id" and mapping["户 数"] == "households"
    assert mapping["村民组／小区"] == "group_id" and mapping["类型"] == "unit_type"


def test_gbk_error_names_the_line_past_a_blank_line(tmp_path):
    text = GBK_TEXT.replace("sh-001,史河社区,社区,120,90", "sh-001,史河社区,社区,120,190")
    path = write_bytes(tmp_path, "bad.csv", text.encode("gbk"))
    with pytest.raises(InputError) as err:
        read_homes(path, crs="EPSG:4548")
    (p,) = err.value.problems
    assert p.row == 3 and p.field.startswith("resident_households")
    assert "文件第 5 行 line 5" in p.message  # the blank line 4 is counted in the file's lines


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "utf-16"])
def test_encodings_excel_saves(tmp_path, encoding):
    path = write_bytes(tmp_path, "homes.csv", GBK_TEXT.encode(encoding))
    assert read_homes(path, crs="EPSG:4548")["unit_id"].iloc[0] == "平岗村"


def test_detect_encoding_prefers_gb18030_for_short_gbk():
    # charset-normalizer alone guesses Big5 for this short GBK text
    assert detect_encoding("home_id,unit_id\nh1,平岗村\n".encode("gbk")) == "gb18030"
    assert detect_encoding("户数\n3\n".encode("utf-8")) == "utf-8"


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_files(tmp_path, sep):
    rows = [["home_id", "unit_id", "unit_type", "households", "resident_households", "x", "y"],
            ["h1", "u1", "village", "3", "2", "115.9", "31.85"],
            ["h2", "u1", "village", "1", "1", "115.9003", "31.8501"]]
    path = write_bytes(tmp_path, "homes.csv", "\n".join(sep.join(r) for r in rows).encode())
    homes = read_homes(path)
    assert homes.attrs["read"]["separator"] == sep
    assert list(homes["households"]) == [3, 1]


def test_unknown_separator_is_named(tmp_path):
    path = write_bytes(tmp_path, "homes.csv", b"home_id|unit_id|unit_type|households\nh1|u1|village|3\n")
    with pytest.raises(InputError, match="separator") as err:
        read_homes(path)
    assert "'|'" in str(err.value)


def test_row_with_more_fields_than_the_header(tmp_path):
    text = "home_id,unit_id,unit_type,households,resident_households,x,y\nh1,u1,village,3,2,115,9,31,85\n"
    with pytest.raises(InputError, match="文件第 2 行 line 2.*more fields than the header"):
        read_homes(write_bytes(tmp_path, "homes.csv", text.encode()))


def test_detect_separator_prefers_the_consistent_one():
    lines = ["a;b;c", "1,5;2;3", "4;5,5;6"]
    assert detect_separator(lines) == ";"
    assert detect_separator(["abc", "def"]) is None


@pytest.mark.parametrize("header,field", [
    (" 户 数 ", "households"), ("村（社区）", "unit_id"), ("村(社区)", "unit_id"), ("户数\nhouseholds", "households"),
    ("户数 (households)", "households"), ("Home_ID", "home_id"), ("经度", "lon"), ("ｘ坐标", "x"),
    ("五必访户数", "key_households"), ("现网格", "current_grid_id"), ("门牌号", "door"), ("楼栋", "building"),
    ("户主姓名", None), ("户数 resident_households", None),
])
def test_header_field(header, field):
    assert header_field(header) == field


def test_two_columns_for_one_field_is_an_error(tmp_path):
    mapping, conflicts = map_headers(["户数", "households", "常住户数"])
    assert conflicts == {"households": ["户数", "households"]}
    text = "home_id,unit_id,unit_type,户数,households,resident_households,x,y\nh1,u,village,1,1,1,115.9,31.85\n"
    with pytest.raises(InputError, match="same field"):
        read_homes(write_bytes(tmp_path, "homes.csv", text.encode()))


def _workbook(path, rows, title=True, sheet="导出数据", extra_sheet=None):
    wb = openpyxl.Workbook()
    if extra_sheet:
        wb.active.title = extra_sheet
        wb.active.append(["说明"])
        ws = wb.create_sheet(sheet)
    else:
        ws = wb.active
        ws.title = sheet
    if title:
        ws.append(["史河街道住户登记表（系统导出）"])
        ws.append([])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


XLSX_ROWS = [
    ["序号", "住户编号", "村（社区）", "村社类型", "户数", "常住户数", "五必访户数", "村民组/小区", "经度", "纬度"],
    [1, "pg-001", "pinggang", "村", 3, 2, 1, "zu1", 115.90012, 31.85003],
    [2, "pg-002", "pinggang", "村", 2.0, "1", None, "zu1", 115.90052, 31.85013],
    [3, "sh-001", "shihe", "社区", 150, 120, 3, "jinqiao", 115.9102, 31.8521],
    ["合计", None, None, None, 155, 123, 4, None, None, None],
]


def test_xlsx_with_title_rows_chinese_headers_and_a_totals_row(tmp_path):
    path = _workbook(tmp_path / "导出.xlsx", XLSX_ROWS)
    with pytest.warns(UserWarning, match="合计"):
        homes = read_homes(path)
    assert list(homes["home_id"]) == ["pg-001", "pg-002", "sh-001"]
    assert list(homes["households"]) == [3, 2, 150] and list(homes["key_households"]) == [1, 0, 3]
    assert homes.crs.to_epsg() == 4548
    assert homes.attrs["read"]["header_line"] == 3 and homes.attrs["read"]["sheet"] == "导出数据"
    assert homes.attrs["header_mapping"]["经度"] == "x"


def test_xlsx_errors_name_the_sheet_row(tmp_path):
    rows = [r[:] for r in XLSX_ROWS[:4]]
    rows[3][5] = 151  # resident > households on sheet row 6 (two title rows, the header, two homes)
    rows[2][4] = 2.5
    with pytest.raises(InputError) as err:
        read_homes(_workbook(tmp_path / "bad.xlsx", rows))
    got = {(p.row, p.field.split("（")[0]) for p in err.value.problems}
    assert got == {(2, "households"), (3, "resident_households")}
    msg = str(err.value)
    assert "工作表「导出数据」第 5 行 (sheet row 5)" in msg and "第 6 行 (sheet row 6)" in msg


def test_named_sheet_and_missing_sheet(tmp_path):
    path = _workbook(tmp_path / "two.xlsx", XLSX_ROWS[:3], title=False, sheet="住户", extra_sheet="封面")
    with pytest.raises(InputError, match="封面"):  # the first sheet has no register: the error lists the sheets
        read_homes(path)
    assert len(read_homes(path, layer="住户")) == 2
    with pytest.raises(InputError, match="missing sheet"):
        read_homes(path, layer="住房")


def test_cli_validate_says_how_it_read_the_file(tmp_path):
    path = write_bytes(tmp_path, "登记册.csv", GBK_TEXT.replace(",", ";").encode("gbk"))
    out = subprocess.run([sys.executable, "-m", "gridsim", "validate", str(path), "--crs", "EPSG:4548"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "编码 encoding gb18030" in out.stdout and "分隔符 separator ';'" in out.stdout
    assert "村（社区） → unit_id" in out.stdout


DATA = Path(__file__).parent / "data" / "registers"


@pytest.mark.parametrize("name", ["homes_cn.xls", "homes_cn.ods"])
def test_workbooks_saved_by_libreoffice(name):
    with pytest.warns(UserWarning, match="合计"):
        homes = read_homes(DATA / name)
    assert list(homes["home_id"]) == ["pg-001", "pg-002", "sh-001"]
    assert list(homes["households"]) == [3, 2, 150] and list(homes["key_households"]) == [1, 0, 3]
    assert homes["group_id"].iloc[2] == "金桥小区" and homes["door"].iloc[0] == "东街5号"
    assert homes.attrs["read"] == {"header_line": 3, "sheet": "导出数据", "sheets": ["导出数据"]}


def test_template_resaved_by_libreoffice():
    homes = read_homes(DATA / "template_filled_libreoffice.xlsx")
    assert list(homes["home_id"]) == ["pg-001", "sh-001"]
    assert list(homes["unit_type"]) == ["village", "community"] and homes["door"].iloc[1] == "史河路12号"


@pytest.mark.parametrize("kind", ["gbk_csv", "xlsx"])
def test_partition_end_to_end_on_a_chinese_register(tmp_path, shihe_homes, kind):
    """Two units of the embedded data, exported as a 村委 would: Chinese headers, lon/lat, GBK or Excel."""
    import pandas as pd

    sub = shihe_homes[shihe_homes["unit_id"].isin(["donglou", "synth_c1"])].to_crs("EPSG:4490")
    frame = pd.DataFrame({"住户编号": sub["home_id"], "村（社区）": sub["unit_id"], "类型": "社区",
                          "户 数": sub["households"], "常住户数": sub["resident_households"],
                          "五必访户数": sub["key_households"], "村民组/小区": sub["group_id"],
                          "经度": sub.geometry.x.round(7), "纬度": sub.geometry.y.round(7)})
    if kind == "gbk_csv":
        path = tmp_path / "登记册.csv"
        frame.to_csv(path, index=False, encoding="gbk", sep=";")
    else:
        path = tmp_path / "登记册.xlsx"
        frame.to_excel(path, index=False, sheet_name="导出", engine="openpyxl")
    out = tmp_path / "out" / "plan.csv"
    result = subprocess.run([sys.executable, "-m", "gridsim", "partition", str(path), "--out", str(out),
                             "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    plan = pd.read_csv(out)
    assert sorted(plan["home_id"]) == sorted(sub["home_id"])
    assert plan["grid_id"].notna().all()
