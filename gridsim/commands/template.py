"""``gridsim template``: an empty homes-register workbook that a 村委 or 社区 fills in and ``validate`` accepts.

The workbook has the register's columns under Chinese headers with the field name beside
(``户数 households``, read back by :func:`gridsim.register_formats.header_field`), a sheet 字段说明 that
says what each field means, whether it is required and its limits, and Excel data validation that
stops the commonest typing errors at entry (counts that are not whole, negative or above the plausible
maximum; resident or key households above the households; a type other than 村/社区; a repeated id).
The same input always gives the same bytes: the document's creation time is fixed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import InputError, Problem
from ..register_formats import HEADER_ALIASES
from ..registers import MAX_HOUSEHOLDS_PER_HOME

DATA_SHEET = "住户登记"
HELP_SHEET = "字段说明"
CREATED = datetime(2024, 1, 31)  # the plan's date; fixed so that reruns write identical files
CHINA_LON = (73.62, 134.77)  # CGCS2000's area of use (EPSG:4490), the bounds read_homes checks
CHINA_LAT = (16.7, 53.56)
LAST_ROW = 1_048_575  # validation covers the whole column below the header


@dataclass(frozen=True)
class Column:
    field: str
    zh: str
    required: str
    kind: str
    meaning: str
    example: str
    width: int


COLUMNS = (
    Column("home_id", "住户编号", "必填 required", "文本，字母数字与 - _，不重复 (ASCII text, unique)",
           "一条记录一处房屋：村为一户房屋（以房定户），社区为一栋楼或一个单元 (one house, or one building/entrance)",
           "pinggang-0001", 18),
    Column("unit_id", "村（社区）", "必填 required", "文本 (text)", "所属村或社区的编号或名称 (village or community)",
           "pinggang", 14),
    Column("unit_type", "村社类型", "必填 required", "村 或 社区 (list: 村 / 社区)", "村（village）或社区（community）",
           "村", 11),
    Column("households", "户数", "必填 required", f"整数 0–{MAX_HOUSEHOLDS_PER_HOME} (whole number)",
           "社区为规划户数，村为以房定户的户数 (planned households; one house is one 户 in villages)", "2", 9),
    Column("resident_households", "常住户数", "必填 required", "整数 0–户数 (whole number ≤ households)",
           "其中常住的户数 (households living there)", "1", 11),
    Column("key_households", "五必访户数", "选填 optional", "整数 0–户数，空为 0 (whole number ≤ households)",
           "五必访等重点走访户数 (key households to visit)", "0", 11),
    Column("group_id", "村民组/小区", "选填 optional", "文本 (text)", "村民组或小区 (villager group or compound)",
           "pinggang-zu03", 14),
    Column("current_grid_id", "现网格", "选填 optional", "文本 (text)", "现在所属网格的编号 (today's grid)",
           "pinggang-g02", 14),
    Column("building", "楼栋", "选填 optional", "文本 (text)", "楼栋号 (building)", "3栋", 9),
    Column("door", "门牌", "选填 optional", "文本 (text)", "门牌号 (door plate)", "史河路12号", 14),
    Column("lon", "经度", "必填 required", f"小数 {CHINA_LON[0]}–{CHINA_LON[1]} (decimal degrees)",
           "CGCS2000/WGS84 经度（天地图、GPS）；高德/腾讯/百度地图坐标有数百米偏移，勿直接使用 "
           "(longitude; not GCJ-02/BD-09 map-app coordinates)", "115.9012", 12),
    Column("lat", "纬度", "必填 required", f"小数 {CHINA_LAT[0]}–{CHINA_LAT[1]} (decimal degrees)",
           "CGCS2000/WGS84 纬度 (latitude)", "31.8503", 12),
)

NOTES = (
    "每行一处房屋（村）或一栋楼/一个单元（社区）；不要加合计行，不要合并单元格。"
    "(One row per house or building; no totals rows, no merged cells.)",
    "也可用米制坐标：把 经度/纬度 两列换成 x（东坐标）与 y（北坐标），校验时用 --crs 指明坐标系，如 EPSG:4548。"
    "(Metre coordinates: replace lon/lat by x/y and pass --crs.)",
    "填好后运行 gridsim validate 住户登记表.xlsx 校验；每一处问题都会列出行与字段。"
    "(Check with gridsim validate; every problem names its row and field.)",
)


def header(col: Column) -> str:
    """The header cell: the Chinese label with the field name on a second line."""
    return f"{col.zh}\n{col.field}"


def _letter(j: int) -> str:
    return chr(ord("A") + j)


def _validations(ws, fmt_index: dict[str, int]) -> None:
    """Excel data validation on every data row (rows 2… of the sheet)."""
    def cell(field: str) -> str:
        return f"{_letter(fmt_index[field])}2"

    def on(field: str, options: dict) -> None:
        j = fmt_index[field]
        ws.data_validation(1, j, LAST_ROW, j, {"ignore_blank": True, "error_type": "stop", **options})

    h = cell("households")
    on("home_id", {"validate": "custom", "value": f"=COUNTIF($A:$A,{cell('home_id')})=1",
                   "error_title": "住户编号重复", "error_message": "住户编号不能重复 (home_id must be unique)"})
    on("unit_type", {"validate": "list", "source": ["村", "社区"],
                     "error_title": "村社类型", "error_message": "请选 村 或 社区 (village or community)"})
    on("households", {"validate": "integer", "criteria": "between", "minimum": 0, "maximum": MAX_HOUSEHOLDS_PER_HOME,
                      "input_title": "户数", "input_message": f"整数 0–{MAX_HOUSEHOLDS_PER_HOME}",
                      "error_title": "户数", "error_message": f"户数须为 0 到 {MAX_HOUSEHOLDS_PER_HOME} 的整数 (whole number)"})
    for field, label in (("resident_households", "常住户数"), ("key_households", "五必访户数")):
        c = cell(field)
        on(field, {"validate": "custom", "value": f"=AND(ISNUMBER({c}),{c}=INT({c}),{c}>=0,{c}<={h})",
                   "input_title": label, "input_message": "整数，不大于户数",
                   "error_title": label, "error_message": f"{label}须为 0 到户数之间的整数 (whole number ≤ households)"})
    for field, label, (lo, hi) in (("lon", "经度", CHINA_LON), ("lat", "纬度", CHINA_LAT)):
        on(field, {"validate": "decimal", "criteria": "between", "minimum": lo, "maximum": hi,
                   "error_title": label, "error_message": f"{label}应在 {lo} 到 {hi} 之间 (decimal degrees in China)"})


def write_template(path: str | Path) -> Path:
    """Write the empty register workbook to ``path`` (via a temporary file, so nothing half-written stays)."""
    import xlsxwriter

    path = Path(path)
    fd, tmp = tempfile.mkstemp(suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        wb = xlsxwriter.Workbook(tmp)
        wb.set_properties({"title": "住户登记表 (homes register)", "author": "gridsim", "created": CREATED})
        head = wb.add_format({"bold": True, "text_wrap": True, "valign": "vcenter", "align": "center",
                              "bg_color": "#DDEBF7", "border": 1})
        text = wb.add_format({"num_format": "@"})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})

        ws = wb.add_worksheet(DATA_SHEET)
        index = {c.field: j for j, c in enumerate(COLUMNS)}
        for j, c in enumerate(COLUMNS):
            ws.write_string(0, j, header(c), head)
            is_text = "文本" in c.kind or c.field == "unit_type"
            ws.set_column(j, j, c.width, text if is_text else None)
        ws.set_row(0, 36)
        ws.freeze_panes(1, 0)
        _validations(ws, index)
        ws.activate()

        info = wb.add_worksheet(HELP_SHEET)
        cols = ("表头 header", "字段 field", "必填 required", "类型与限制 type / limits", "含义 meaning",
                "也认的表头 also accepted", "示例 example")
        for j, (name, width) in enumerate(zip(cols, (14, 20, 13, 34, 60, 34, 16))):
            info.write_string(0, j, name, head)
            info.set_column(j, j, width, wrap)
        for i, c in enumerate(COLUMNS, start=1):
            accepted = "、".join(HEADER_ALIASES.get(c.field, ()))
            for j, value in enumerate((c.zh, c.field, c.required, c.kind, c.meaning, accepted, c.example)):
                info.write_string(i, j, value)
        for k, note in enumerate(NOTES, start=len(COLUMNS) + 2):
            info.write_string(k, 0, note)
        info.freeze_panes(1, 0)
        wb.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("template", help="生成空白住户登记表 (write an empty homes-register workbook)",
                       description="写出空白住户登记表 .xlsx：中文表头（英文字段名在旁）、字段说明工作表与数据有效性校验；"
                                   "填好后 gridsim validate 可直接读取。Write an empty register workbook to fill in.")
    p.add_argument("--out", required=True, help="输出文件 .xlsx，如 住户登记表.xlsx (output workbook)")
    p.add_argument("--force", action="store_true", help="覆盖已有文件 (overwrite an existing file)")
    p.set_defaults(handler=_template)


def _template(args) -> int:
    out = Path(args.out)
    problem = None
    if out.suffix.lower() != ".xlsx":
        problem = "输出文件须以 .xlsx 结尾 (the output must be an .xlsx file)"
    elif out.is_dir():
        problem = "输出路径是一个文件夹 (the output is a folder)"
    elif not out.parent.is_dir():
        problem = "输出目录不存在 (the output folder does not exist)"
    elif out.exists() and not args.force:
        problem = "文件已存在，不会覆盖已填写的登记表；用 --force 覆盖 (file exists; --force to overwrite)"
    if problem:
        err = InputError(str(out), [Problem(str(out), None, "--out", str(out), problem)])
        err.headline = "无法写出登记表模板 (cannot write the template)"
        raise err
    try:
        write_template(out)
    except OSError as exc:
        err = InputError(str(out), [Problem(str(out), None, "--out", str(out), f"无法写出 (cannot write): {exc}")])
        err.headline = "无法写出登记表模板 (cannot write the template)"
        raise err from None
    print(f"已写出 (written): {out}")
    print(f"工作表 (sheets): {DATA_SHEET}（填写 fill in）、{HELP_SHEET}（字段说明 field descriptions）")
    return 0
