"""``gridsim template``: the empty workbook is readable, validated, described, and round-trips once filled."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import openpyxl
import pytest

from gridsim.commands.template import COLUMNS, DATA_SHEET, HELP_SHEET, write_template
from gridsim.errors import InputError
from gridsim.register_formats import header_field
from gridsim.registers import MAX_HOUSEHOLDS_PER_HOME, read_homes


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gridsim", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.fixture
def template(tmp_path):
    return write_template(tmp_path / "住户登记表.xlsx")


def test_layout_headers_validation_and_description(template):
    wb = openpyxl.load_workbook(template)
    assert wb.sheetnames == [DATA_SHEET, HELP_SHEET]
    ws = wb[DATA_SHEET]
    headers = [c.value for c in ws[1]]
    assert [header_field(h) for h in headers] == [c.field for c in COLUMNS]
    assert headers[3].startswith("户数")
    assert ws.freeze_panes == "A2" and ws.max_row == 1
    assert ws.column_dimensions["A"].width > 10
    rules = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    assert rules["C2"].type == "list" and "村" in rules["C2"].formula1 and "社区" in rules["C2"].formula1
    assert rules["D2"].type == "whole" and rules["D2"].formula1 == "0"
    assert rules["D2"].formula2 == str(MAX_HOUSEHOLDS_PER_HOME)
    assert "E2<=D2" in rules["E2"].formula1 and "INT(E2)" in rules["E2"].formula1
    assert "COUNTIF" in rules["A2"].formula1
    info = wb[HELP_SHEET]
    described = {info.cell(i, 2).value: info.cell(i, 3).value for i in range(2, len(COLUMNS) + 2)}
    assert described["households"].startswith("必填") and described["group_id"].startswith("选填")
    assert set(described) == {c.field for c in COLUMNS}


def test_filled_template_validates(template, tmp_path):
    wb = openpyxl.load_workbook(template)
    ws = wb[DATA_SHEET]
    ws.append(["pg-001", "pinggang", "村", 3, 2, None, "zu1", "pinggang-g01", None, None, 115.90012, 31.85003])
    ws.append(["pg-002", "pinggang", "村", 1, 1, 1, "zu1", "pinggang-g01", None, "东街5号", 115.90042, 31.85011])
    ws.append(["sh-001", "shihe", "社区", MAX_HOUSEHOLDS_PER_HOME, 120, 0, "jinqiao", None, "3栋", None,
               115.9102, 31.8521])
    filled = tmp_path / "已填写.xlsx"
    wb.save(filled)
    homes = read_homes(filled)
    assert list(homes["households"]) == [3, 1, MAX_HOUSEHOLDS_PER_HOME]
    assert list(homes["unit_type"]) == ["village", "village", "community"]
    assert homes["door"].iloc[1] == "东街5号" and homes["building"].iloc[2] == "3栋"
    assert homes.crs.to_epsg() == 4548
    out = run("validate", str(filled))
    assert out.returncode == 0, out.stderr
    assert "3 个住户" in out.stdout and "户数 households → households" in out.stdout


def test_filled_template_with_mistakes_is_refused_by_sheet_row(template, tmp_path):
    wb = openpyxl.load_workbook(template)
    ws = wb[DATA_SHEET]
    ws.append(["pg-001", "pinggang", "村", 3, 2, None, None, None, None, None, 115.9, 31.85])
    ws.append(["pg-001", "pinggang", "镇", 3, 4, None, None, None, None, None, 115.9, 31.85])
    bad = tmp_path / "bad.xlsx"
    wb.save(bad)
    with pytest.raises(InputError) as err:
        read_homes(bad)
    got = {(p.row, p.field.split("（")[0]) for p in err.value.problems}
    assert got == {(2, "home_id"), (2, "unit_type"), (2, "resident_households")}
    assert "工作表「住户登记」第 3 行 (sheet row 3)" in str(err.value)


def test_same_bytes_every_run(tmp_path):
    a = write_template(tmp_path / "a.xlsx").read_bytes()
    b = write_template(tmp_path / "b.xlsx").read_bytes()
    assert a == b
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert "2024-01-31T00:00:00Z" in z.read("docProps/core.xml").decode()


def test_cli_writes_to_a_chinese_path_and_never_overwrites(tmp_path):
    out = run("template", "--out", "住户登记表.xlsx", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    target = tmp_path / "住户登记表.xlsx"
    first = target.read_bytes()
    target.write_bytes(b"filled in by hand")
    again = run("template", "--out", "住户登记表.xlsx", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr
    assert target.read_bytes() == b"filled in by hand"
    assert run("template", "--out", "住户登记表.xlsx", "--force", cwd=tmp_path).returncode == 0
    assert target.read_bytes() == first


@pytest.mark.parametrize("out", ["registers.csv", "no_such_folder/t.xlsx"])
def test_cli_refuses_bad_out(tmp_path, out):
    result = run("template", "--out", out, cwd=tmp_path)
    assert result.returncode == 2 and "--out" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
