"""The grid roster (网格划分表) a village or community prints and posts: an Excel workbook from a plan.

After the grids are redrawn each 村/社区 publishes them (公示) and hands every grid worker his list. The
workbook has a 汇总 sheet for the subdistrict (one row per unit) and one sheet per unit listing each
grid with its households (规划户数 in a community, 以房定户 in a village), resident households, 五必访
households, homes, the 村民组/小区 it covers — whole, or which 楼栋/房屋 (ranges of door numbers where the
register has ``building``/``door`` columns) — and blank columns for the 网格长 and 网格员 names and
phones, which the unit fills in. Counts and rule status come from :meth:`gridsim.plan.Plan.summary`.

Every sheet prints on A4 (landscape for the units, portrait for the summary) fitted to the page width,
with a title row naming the unit and the plan date, the header rows repeated on every page, a print
area and page numbers. The workbook is written with XlsxWriter under a fixed creation time (the plan
date), so the same plan gives the same bytes; it is written to a temporary name and renamed, so an
existing roster is replaced whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, Problem
from .plan import Plan
from .plan_gpkg import status_text, unit_names

SUMMARY_SHEET = "汇总"
SUBDISTRICT = "史河街道"
FONT = "宋体"  # the usual face of Chinese government forms; viewers substitute a CJK font if absent
UNIT_TYPE_ZH = {"village": "村", "community": "社区"}
#: characters Excel forbids in sheet names, and its name length limit
SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
SHEET_MAX = 31

#: columns of a unit sheet: (key, header, width in Excel character units)
UNIT_COLUMNS = (
    ("n", "序号", 5),
    ("grid_id", "网格编号", 14),
    ("households", "户数", 8),
    ("resident_households", "常住户数", 8),
    ("key_households", "五必访户数", 8),
    ("homes", "楼栋/房屋数", 8),
    ("coverage", "覆盖范围（村民组/小区、楼栋/门牌）", 52),
    ("leader_name", "姓名", 9),
    ("leader_phone", "电话", 13),
    ("worker_name", "姓名", 9),
    ("worker_phone", "电话", 13),
    ("note", "备注", 14),
)
SUMMARY_COLUMNS = (
    ("n", "序号", 5),
    ("unit_name", "村（社区）", 18),
    ("unit_type", "类型", 6),
    ("grids", "网格数", 7),
    ("households", "户数", 8),
    ("resident_households", "常住户数", 8),
    ("key_households", "五必访户数", 8),
    ("homes", "楼栋/房屋数", 8),
    ("bad_grids", "不合规网格数", 8),
)
BLANK_COLUMNS = ("leader_name", "leader_phone", "worker_name", "worker_phone")  # filled in by hand
COUNTS = ("households", "resident_households", "key_households", "homes")
TITLE_ROWS = 4  # title, subtitle, two header rows
LINE_HEIGHT = 15.0  # points per text line at 10.5 pt
#: separator of listed homes: a comma and a space, so a wrapped line breaks between items, never inside
#: an id (LibreOffice breaks long runs joined by 、 anywhere)
LIST_SEP = ", "
BUILDING_SEP = "; "  # between buildings, whose door lists use LIST_SEP


@dataclass(frozen=True)
class UnitRoster:
    """One unit's sheet: its id, Chinese name (or id), type, sheet name and one row per grid."""

    unit_id: str
    name: str
    unit_type: str
    sheet: str
    grids: pd.DataFrame  # columns: the keys of UNIT_COLUMNS except the blank name/phone columns


# ----------------------------------------------------------------------------------------- coverage
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


def compress(labels) -> str:
    """Labels in natural order with runs of consecutive numbers shown as ranges: ``h001~h004, h007``
    (an ASCII tilde, where no line breaks, rather than a dash, where LibreOffice and Excel may break)."""
    parsed = []
    for label in {str(x) for x in labels}:
        m = _TRAILING_NUMBER.match(label)
        parsed.append((m.group(1), int(m.group(2)), label) if m else (label, -1, label))
    parsed.sort()
    runs: list[list] = []
    for prefix, num, label in parsed:
        last = runs[-1] if runs else None
        if last and num >= 0 and last[0] == prefix and last[1] >= 0 and num == last[2] + 1:
            last[2], last[4] = num, label
        else:
            runs.append([prefix, num, num, label, label])
    out = []
    for prefix, lo, hi, first, last in runs:
        if hi - lo >= 2:
            out.append(f"{first}~{last}")
        elif hi - lo == 1:
            out.append(f"{first}{LIST_SEP}{last}")
        else:
            out.append(first)
    return LIST_SEP.join(out)


def _home_labels(homes: pd.DataFrame) -> pd.Series:
    """Short label of each home: its id without the ``<group_id>-`` prefix it usually starts with."""
    ids = homes["home_id"].astype(str)
    if "group_id" not in homes.columns:
        return ids
    groups = homes["group_id"].fillna("").astype(str) + "-"
    return pd.Series([h[len(g):] if g != "-" and h.startswith(g) and len(h) > len(g) else h
                      for h, g in zip(ids, groups)], index=homes.index)


def _building_word(building: str) -> str:
    b = str(building).strip()
    return b if b.endswith(("栋", "楼", "幢", "座", "号")) else f"{b}栋"


def _detail(part: pd.DataFrame, whole: pd.DataFrame) -> str:
    """Which homes of a group ``part`` holds: buildings (whole, or door ranges) when the register has
    ``building``/``door`` columns, else the homes' short labels."""
    if "building" not in part.columns or part["building"].isna().all():
        return compress(part["label"])
    out = []
    has_door = "door" in part.columns
    for b, rows in sorted(part.groupby(part["building"].fillna("")), key=lambda kv: _natural(kv[0])):
        word = _building_word(b) if b else "未标楼栋"
        if has_door and len(rows) < int((whole["building"].fillna("") == b).sum()):
            doors = rows["door"].dropna().astype(str)
            out.append(f"{word} {compress(doors)}" if len(doors) else word)
        else:
            out.append(word)
    return BUILDING_SEP.join(out)


def _natural(label) -> tuple:
    m = _TRAILING_NUMBER.match(str(label))
    return (m.group(1), int(m.group(2)), str(label)) if m else (str(label), -1, str(label))


def grid_coverage(plan: Plan, groups=None) -> dict[str, str]:
    """grid_id → the 村民组/小区 it covers, one line each: ``名称（全部 N 栋）`` for a whole group, else
    ``名称（N 栋）：楼栋/房屋``. Group names come from ``groups`` (``group_id``, ``name``) when given,
    else the group ids; a register without ``group_id`` lists the homes themselves."""
    homes = pd.DataFrame(plan.homes).drop(columns=["geometry"], errors="ignore").copy()
    homes["grid_id"] = plan.assignment.to_numpy(dtype=object)
    homes["label"] = _home_labels(homes)
    names = {}
    if groups is not None and {"group_id", "name"} <= set(groups.columns):
        names = {str(g): str(n) for g, n in zip(groups["group_id"], groups["name"]) if pd.notna(n)}
    has_doors = "door" in homes.columns
    if "group_id" not in homes.columns:
        homes["group_id"] = None
    out: dict[str, str] = {}
    group_key = homes["group_id"].fillna("")
    sizes = group_key.groupby([homes["unit_id"], group_key]).size()
    for gid, rows in homes.groupby("grid_id", sort=True):
        word = "栋" if rows["unit_type"].iat[0] == "community" and not has_doors else ("户" if has_doors else "处")
        lines = []
        keys = rows["group_id"].fillna("")
        for key, part in sorted(rows.groupby(keys), key=lambda kv: _natural(kv[0])):
            unit = part["unit_id"].iat[0]
            name = names.get(key, key) if key else "未分组"
            n = len(part)
            if key and n == sizes[(unit, key)]:
                lines.append(f"{name}（全部 {n} {word}）")
            else:
                whole = homes[(homes["unit_id"] == unit) & (group_key == key)]
                lines.append(f"{name}（{n} {word}）：{_detail(part, whole)}")
        out[str(gid)] = "\n".join(lines)
    return out


# ------------------------------------------------------------------------------------------- tables
def sheet_names(labels: list[str]) -> list[str]:
    """Excel-safe, unique sheet names for ``labels``: forbidden characters ``[]:*?/\\`` become ``_``,
    names are cut to 31 characters, and never equal the summary sheet, ``History`` or each other
    (compared case-insensitively, as Excel does)."""
    taken = {SUMMARY_SHEET.casefold(), "history"}
    out = []
    for label in labels:
        base = SHEET_FORBIDDEN.sub("_", str(label)).strip().strip("'") or "_"
        name, k = base[:SHEET_MAX], 1
        while name.casefold() in taken:
            k += 1
            suffix = f"({k})"
            name = base[:SHEET_MAX - len(suffix)] + suffix
        taken.add(name.casefold())
        out.append(name)
    return out


def roster_tables(plan: Plan, units=None, groups=None) -> tuple[list[UnitRoster], pd.DataFrame]:
    """The roster's content: one :class:`UnitRoster` per unit (in the units layer's order when given,
    else by id) and the summary (one row per unit). Counts are :meth:`Plan.summary`'s."""
    summary = plan.summary()
    names = unit_names(units)
    coverage = grid_coverage(plan, groups)
    present = list(pd.unique(summary["unit_id"]))
    order = [str(u) for u in units["unit_id"] if str(u) in present] if units is not None else []
    order += sorted(u for u in present if u not in order)
    labels = [names.get(u, u) for u in order]
    sheets = sheet_names(labels)
    rosters, rows = [], []
    for k, (uid, label, sheet) in enumerate(zip(order, labels, sheets), start=1):
        grids = summary[summary["unit_id"] == uid].sort_values("grid_id", kind="stable").reset_index(drop=True)
        table = pd.DataFrame({"n": np.arange(1, len(grids) + 1), "grid_id": grids["grid_id"],
                              **{c: grids[c].astype(np.int64) for c in COUNTS},
                              "coverage": grids["grid_id"].map(coverage),
                              "note": [("" if ok else status_text(v)) for ok, v in zip(grids["ok"], grids["violations"])]})
        utype = str(grids["unit_type"].iat[0])
        rosters.append(UnitRoster(uid, label, utype, sheet, table))
        rows.append({"n": k, "unit_id": uid, "unit_name": label, "unit_type": UNIT_TYPE_ZH.get(utype, utype),
                     "grids": len(grids), **{c: int(grids[c].sum()) for c in COUNTS},
                     "bad_grids": int((~grids["ok"]).sum())})
    return rosters, pd.DataFrame(rows)


# -------------------------------------------------------------------------------------------- excel
def _text_width(text: str) -> int:
    """Display width in Excel character units: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _lines(text: str, width: float) -> int:
    """Printed lines a wrapped cell of ``width`` character units needs, counted generously: CJK fonts
    substituted for 宋体 run wider, and lines break only between list items."""
    usable = max(0.8 * (width - 1), 1.0)
    return sum(max(1, math.ceil(_text_width(line) / usable)) for line in str(text).split("\n"))


def _widths(columns, table: pd.DataFrame) -> list[float]:
    """Column widths that fit the headers and the (single-line) values, coverage kept at its width."""
    out = []
    for key, header, width in columns:
        if key == "coverage" or key not in table.columns:
            out.append(width)
            continue
        longest = max([_text_width(header) // 2 + 1] + [_text_width(v) for v in table[key].astype(str)])
        out.append(max(width, min(longest + 2, 30)))
    return out


class _Formats:
    def __init__(self, wb):
        base = {"font_name": FONT, "font_size": 10.5, "valign": "vcenter"}
        cell = {**base, "border": 1}
        self.title = wb.add_format({**base, "font_size": 16, "bold": True, "align": "center"})
        self.subtitle = wb.add_format({**base, "align": "center"})
        self.header = wb.add_format({**cell, "bold": True, "align": "center", "text_wrap": True, "bg_color": "#E8EEF5"})
        self.text = wb.add_format({**cell, "align": "center"})
        self.wrap = wb.add_format({**cell, "text_wrap": True, "align": "left"})
        self.number = wb.add_format({**cell, "num_format": "0", "align": "center"})
        self.total = wb.add_format({**cell, "bold": True, "num_format": "0", "align": "center"})
        self.note = wb.add_format({**base, "font_size": 9})


def _page_setup(ws, n_cols: int, last_row: int, landscape: bool, footer: str) -> None:
    ws.set_paper(9)  # A4
    ws.set_landscape() if landscape else ws.set_portrait()
    ws.fit_to_pages(1, 0)  # one page wide, as many tall as needed
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    ws.center_horizontally()
    ws.repeat_rows(0, TITLE_ROWS - 1)
    ws.print_area(0, 0, last_row, n_cols - 1)
    ws.set_footer(f"&L&9{footer}&R&9第 &P 页，共 &N 页")


def _write_unit(ws, f: _Formats, roster: UnitRoster, plan_date: str, subdistrict: str) -> None:
    table = roster.grids
    ncol = len(UNIT_COLUMNS)
    widths = _widths(UNIT_COLUMNS, table)
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    kind = UNIT_TYPE_ZH.get(roster.unit_type, roster.unit_type)
    ws.merge_range(0, 0, 0, ncol - 1, f"{roster.name} 网格划分表", f.title)
    ws.set_row(0, 26)
    totals = {c: int(table[c].sum()) for c in COUNTS}
    ws.merge_range(1, 0, 1, ncol - 1,
                   f"{subdistrict}　{kind}　方案日期：{plan_date}　网格 {len(table)} 个　户数 {totals['households']}　"
                   f"常住户 {totals['resident_households']}　五必访户 {totals['key_households']}", f.subtitle)
    for c, (key, header, _) in enumerate(UNIT_COLUMNS):
        if key in BLANK_COLUMNS:
            ws.write(3, c, header, f.header)
        else:
            ws.merge_range(2, c, 3, c, header, f.header)
    keys = [k for k, _, _ in UNIT_COLUMNS]
    for who, first in (("网格长", "leader_name"), ("网格员", "worker_name")):
        ws.merge_range(2, keys.index(first), 2, keys.index(first) + 1, who, f.header)
    ws.set_row(2, 20)
    ws.set_row(3, 20)
    cov_col, note_col = keys.index("coverage"), keys.index("note")
    for i, rec in enumerate(table.itertuples(index=False)):
        r = TITLE_ROWS + i
        row = rec._asdict()
        for c, (key, _, _) in enumerate(UNIT_COLUMNS):
            value = row.get(key, "")
            if key in COUNTS or key == "n":
                ws.write_number(r, c, int(value), f.number)
            elif key in ("coverage", "note") and value:
                ws.write_string(r, c, str(value), f.wrap)
            elif key in BLANK_COLUMNS or not value:
                ws.write_blank(r, c, None, f.text)
            else:
                ws.write_string(r, c, str(value), f.text)
        lines = max(_lines(row["coverage"], widths[cov_col]), _lines(row["note"] or " ", widths[note_col]), 2)
        ws.set_row(r, LINE_HEIGHT * lines + 8)
    r = TITLE_ROWS + len(table)
    ws.merge_range(r, 0, r, 1, "合计", f.total)
    for c, (key, _, _) in enumerate(UNIT_COLUMNS):
        if key in COUNTS:
            col = chr(ord("A") + c)
            ws.write_formula(r, c, f"=SUM({col}{TITLE_ROWS + 1}:{col}{r})", f.total, totals[key])
        elif c >= 2:
            ws.write_blank(r, c, None, f.total)
    ws.set_row(r, 22)
    notes = ["说明：1. 社区网格的“户数”为规划住户数（方案三(一)1），村网格的“户数”为以房定户的户数（方案三(一)2）。",
             "2. 网格长、网格员的姓名和电话由村（社区）填写后公示。3. 备注栏列出不符合方案三(一)规定的情况，合规网格为空。"]
    for k, text in enumerate(notes):
        ws.write_string(r + 1 + k, 0, text, f.note)
    last = r + len(notes)
    ws.freeze_panes(TITLE_ROWS, 2)
    _page_setup(ws, ncol, last, landscape=True, footer=f"{subdistrict} {roster.name} 网格划分表（{plan_date}）")


def _write_summary(ws, f: _Formats, table: pd.DataFrame, plan_date: str, subdistrict: str) -> None:
    ncol = len(SUMMARY_COLUMNS)
    for c, w in enumerate(_widths(SUMMARY_COLUMNS, table)):
        ws.set_column(c, c, w)
    ws.merge_range(0, 0, 0, ncol - 1, f"{subdistrict} 网格划分汇总表", f.title)
    ws.set_row(0, 26)
    ws.merge_range(1, 0, 1, ncol - 1, f"方案日期：{plan_date}　村（社区）{len(table)} 个　网格 {int(table['grids'].sum())} 个",
                   f.subtitle)
    for c, (_, header, _) in enumerate(SUMMARY_COLUMNS):
        ws.merge_range(2, c, 3, c, header, f.header)
    for i, rec in enumerate(table.to_dict("records")):
        r = TITLE_ROWS + i
        for c, (key, _, _) in enumerate(SUMMARY_COLUMNS):
            value = rec[key]
            if isinstance(value, (int, np.integer)):
                ws.write_number(r, c, int(value), f.number)
            else:
                ws.write_string(r, c, str(value), f.text)
        ws.set_row(r, 20)
    r = TITLE_ROWS + len(table)
    ws.merge_range(r, 0, r, 2, "合计", f.total)
    for c, (key, _, _) in enumerate(SUMMARY_COLUMNS[3:], start=3):
        col = chr(ord("A") + c)
        ws.write_formula(r, c, f"=SUM({col}{TITLE_ROWS + 1}:{col}{r})", f.total, int(table[key].sum()))
    ws.set_row(r, 22)
    ws.write_string(r + 1, 0, "说明：各村（社区）网格明细见同名工作表；社区“户数”为规划住户数，村“户数”为以房定户的户数。", f.note)
    ws.freeze_panes(TITLE_ROWS, 0)
    _page_setup(ws, ncol, r + 1, landscape=False, footer=f"{subdistrict} 网格划分汇总表（{plan_date}）")


def write_roster(plan: Plan, path, *, units=None, groups=None, plan_date: dt.date | str | None = None,
                 subdistrict: str = SUBDISTRICT) -> Path:
    """Write the roster workbook for ``plan`` to ``path`` (``.xlsx``) and return the path.

    ``units``: a units layer (``unit_id``, ``name``) for the units' Chinese names (ids otherwise);
    ``groups``: a groups layer (``group_id``, ``name``) for 村民组/小区 names (ids otherwise);
    ``plan_date``: the date printed in the titles and stored as the file's creation time (today if None);
    ``subdistrict``: the name in the summary title.
    """
    import xlsxwriter

    path = Path(path)
    day = (dt.date.fromisoformat(plan_date) if isinstance(plan_date, str)
           else plan_date if plan_date is not None else dt.date.today())
    shown = f"{day.year}年{day.month}月{day.day}日"
    rosters, summary = roster_tables(plan, units, groups)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the workbook creates it afresh, with the usual permissions
    try:
        wb = xlsxwriter.Workbook(str(tmp))
        wb.set_properties({"title": f"{subdistrict}网格划分表", "subject": "网格划分表 (grid roster)",
                           "author": "gridsim", "created": dt.datetime(day.year, day.month, day.day)})
        f = _Formats(wb)
        _write_summary(wb.add_worksheet(SUMMARY_SHEET), f, summary, shown, subdistrict)
        for roster in rosters:
            _write_unit(wb.add_worksheet(roster.sheet), f, roster, shown, subdistrict)
        wb.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ------------------------------------------------------------------------------------------- input
def refuse_grids_across_units(path, homes: pd.DataFrame, grid: pd.Series) -> None:
    """三(一): a grid lies inside one unit. Raise :class:`InputError` naming the plan file's rows (and
    CSV lines) of the homes that put a grid into a second unit. ``grid``: the plan's grid id per home,
    aligned with ``homes`` (as :func:`gridsim.registers.read_plan` returns it)."""
    frame = pd.DataFrame({"home_id": homes["home_id"].to_numpy(), "unit_id": homes["unit_id"].to_numpy(),
                          "grid_id": grid.to_numpy()})
    spans = frame.groupby("grid_id")["unit_id"].nunique()
    bad = spans[spans > 1].index
    if not len(bad):
        return
    source = str(path)
    row_of = {}  # data rows (1-based) of a CSV plan; other formats are named without rows
    if Path(path).suffix.lower() == ".csv":
        rows = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", usecols=["home_id"])
        row_of = {h.strip(): i + 1 for i, h in enumerate(rows["home_id"])}
    problems = []
    for gid in bad:
        members = frame[frame["grid_id"] == gid].assign(row=lambda d: d["home_id"].map(row_of)).sort_values("row")
        counts = members["unit_id"].value_counts(sort=False)
        main_unit = counts.index[int(np.argmax(counts.to_numpy()))]  # most of its homes; the first row on a tie
        n_main = int(counts[main_unit])
        for rec in members[members["unit_id"] != main_unit].itertuples():
            row = None if pd.isna(rec.row) else int(rec.row)
            line = "" if row is None else f"（文件第 {row + 1} 行 line {row + 1}）"
            problems.append(Problem(source, row, "grid_id（网格编号）", gid,
                                    f"网格 {gid} 跨越村社：住户 {rec.home_id} 属于 {rec.unit_id}，而该网格另有 {n_main} 个"
                                    f"住户属于 {main_unit}（方案三(一)：网格不跨村社）{line}(grid spans several units)"))
    shown = problems[:50]
    if len(problems) > 50:
        shown.append(Problem(source, None, "grid_id（网格编号）", None, f"另有 {len(problems) - 50} 行跨村社 (more rows)"))
    err = InputError(source, shown)
    err.headline = "网格方案校验失败 (plan is invalid)"
    raise err
