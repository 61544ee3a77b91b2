"""Reading the tables that registers really arrive in: Excel workbooks and CSVs saved by Excel.

A 村委 or 社区 exports its register from the 人口/网格 systems as ``.xlsx`` (sometimes the old ``.xls``), or
saves it from Excel as CSV in GBK/GB18030, with Chinese headers, a title line above the header, a
semicolon or tab between the columns. This module turns such a file into a frame of text cells (nothing
is converted to numbers here, so the register's validation sees exactly what the user typed) and
remembers, for every data row, its line in the file or its row in the sheet, so that error messages
point where the user looks. Workbooks are read with python-calamine (a maintained Rust reader) and the
text encoding of a CSV is detected with charset-normalizer.

It also holds the table of common Chinese (and English) headers and the field each one means
(:data:`HEADER_ALIASES`), so that ``户数`` or ``村（社区）`` read as ``households`` or ``unit_id``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd

from .errors import InputError, Problem

TEXT_SUFFIXES = (".csv", ".tsv")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SEPARATORS = {",": "逗号 comma", ";": "分号 semicolon", "\t": "制表符 tab"}
HEADER_SEARCH_ROWS = 10  # a title block above the header is at most this many rows in the exports seen

#: Headers as they appear in registers, by the field they mean. Matching ignores case, spaces and the
#: difference between full-width and half-width characters (``村（社区）`` = ``村(社区)``). A header may
#: also carry the field name beside a Chinese label, as the template writes it (``户数 households``).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "home_id": ("住户编号", "房屋编号", "户编号", "住户id", "房屋id", "房屋代码", "住户代码"),
    "unit_id": ("村(社区)", "村社", "村社编号", "村社区", "村/社区", "社区/村", "村居", "村(居)", "所属村(社区)",
                "所属村社", "村(社区)编号"),
    "unit_type": ("村社类型", "类型", "村/社区类型", "村(社区)类型"),
    "households": ("户数", "规划户数", "登记户数", "总户数", "规划住户", "规划住户数"),
    "resident_households": ("常住户数", "常住户", "常住住户", "常住住户数"),
    "key_households": ("五必访户数", "重点户数", "五必访户", "重点户", "五必访"),
    "group_id": ("村民组/小区", "村民组", "小区", "村民小组", "组/小区", "小区/村民组", "村民组(小区)", "小区(村民组)"),
    "current_grid_id": ("现网格", "网格编号", "现网格编号", "所属网格", "现所属网格", "网格"),
    "building": ("楼栋", "楼栋号", "楼号", "栋号"),
    "door": ("门牌", "门牌号", "门牌号码"),
    "x": ("x坐标", "东坐标", "横坐标"),
    "y": ("y坐标", "北坐标", "纵坐标"),
    "lon": ("经度", "longitude", "lng"),
    "lat": ("纬度", "latitude"),
}


def normalize_header(name: object) -> str:
    """The form headers are compared in: NFKC (full-width → half-width), lower case, no spaces at all."""
    text = unicodedata.normalize("NFKC", str(name))
    return re.sub(r"\s+", "", text).lower()


_ALIAS_TO_FIELD = {normalize_header(f): f for f in HEADER_ALIASES}
_ALIAS_TO_FIELD.update({normalize_header(a): f for f, aliases in HEADER_ALIASES.items() for a in aliases})
_LABEL_AND_FIELD = re.compile(r"^(?P<label>.*?)[(\[]?(?P<field>[a-z_]+)[)\]]?$")


def header_field(name: object) -> str | None:
    """The register field a header means, or ``None``: ``" 户 数 "`` → ``households``,
    ``"村（社区）"`` → ``unit_id``, ``"户数\\nhouseholds"`` → ``households``."""
    key = normalize_header(name)
    if key in _ALIAS_TO_FIELD:
        return _ALIAS_TO_FIELD[key]
    m = _LABEL_AND_FIELD.match(key)
    if m and m.group("label") and m.group("field") in HEADER_ALIASES:
        label_field = _ALIAS_TO_FIELD.get(m.group("label"))
        if label_field in (None, m.group("field")):
            return m.group("field")
    return None


def map_headers(columns: Iterable[object]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Which column is which field: ``({header: field} for headers that change, {field: [headers]}
    for fields claimed by more than one column})``. Headers naming no known field are left alone."""
    claims: dict[str, list[str]] = {}
    for col in columns:
        f = header_field(col)
        if f is not None:
            claims.setdefault(f, []).append(str(col))
    mapping = {cols[0]: f for f, cols in claims.items() if len(cols) == 1 and cols[0] != f}
    conflicts = {f: cols for f, cols in claims.items() if len(cols) > 1}
    return mapping, conflicts


def count_known_headers(cells: Iterable[object]) -> int:
    """How many cells of a row read as register headers (used to find the header below a title)."""
    return sum(header_field(c) is not None for c in cells if str(c).strip())


@dataclass
class Table:
    """Text cells of one sheet or CSV, with where each data row sits in the file."""

    frame: pd.DataFrame
    lines: list[int]  # 1-based line in the file / row in the sheet of each data row
    line_label: str  # how to say "line N" for this file: "文件第 {n} 行 line {n}"
    info: dict[str, object] = field(default_factory=dict)  # encoding, separator, sheet, header_line


def _fail(path: Path, message: str, value: object = None) -> InputError:
    err = InputError(str(path), [Problem(str(path), None, None, value, message)])
    err.headline = "无法读取登记册 (cannot read the register)"
    return err


# ----------------------------------------------------------------------------------------- text files

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_CHINESE_ENCODINGS = {"gb18030", "gbk", "gb2312", "hz", "cp936", "euc_cn"}


def detect_encoding(raw: bytes) -> str | None:
    """The text encoding of a file's bytes, or ``None`` if no encoding reads them.

    A byte-order mark decides; otherwise UTF-8 if the bytes are valid UTF-8; otherwise the guesses of
    charset-normalizer, where any Chinese family (GB2312/GBK, as Excel saves "CSV" on a Chinese Windows)
    is read as GB18030, its superset. Short GBK text is often guessed as Big5 or a Japanese or Korean
    code page as well; for a register of an Anhui subdistrict GB18030 wins whenever it is among them.
    """
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    guesses = [m.encoding.lower().replace("-", "_") for m in from_bytes(raw)]
    if any(g in _CHINESE_ENCODINGS for g in guesses):
        return "gb18030"
    return guesses[0] if guesses else None


def _split(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep), [])


def detect_separator(lines: list[str]) -> str | None:
    """The column separator of a CSV among comma, semicolon and tab, from its first non-empty lines.

    The separator that splits the most lines into the same number (> 1) of fields wins; ties go to more
    fields. ``None`` when none of them splits the lines into more than one field.
    """
    sample = [ln for ln in lines if ln.strip()][:HEADER_SEARCH_ROWS * 2]
    best, best_key = None, (0, 0)
    for sep in SEPARATORS:
        counts = Counter(len(_split(ln, sep)) for ln in sample)
        width, agree = max(counts.items(), key=lambda kv: (kv[1], kv[0])) if counts else (1, 0)
        if width > 1 and (agree, width) > best_key:
            best, best_key = sep, (agree, width)
    return best


def read_text(path: Path, header_score: Callable[[list[str]], int] | None = None) -> Table:
    """A CSV as text cells: encoding and separator detected, blank lines skipped, line numbers kept."""
    raw = path.read_bytes()
    encoding = detect_encoding(raw)
    if encoding is None:
        raise _fail(path, "无法识别文件编码，请另存为 UTF-8 或 GBK 的 CSV (cannot detect the text encoding)")
    text = raw.decode(encoding)
    physical = text.splitlines()
    sep = detect_separator(physical)
    if sep is None:
        head = next((ln for ln in physical if ln.strip()), "")
        odd = sorted({c for c in head if c in "|:/ 、，；"}) if head else []
        hint = f"；表头里出现的可能分隔符 (separator-like characters in the header): {odd}" if odd else ""
        raise _fail(path, "无法识别列分隔符：表头只有一列；请用逗号、分号或制表符分隔各列 "
                          f"(cannot detect the column separator: comma, semicolon or tab){hint}", head[:80] or None)
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    start = 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _fail(path, f"第 {start} 行无法解析，引号可能不成对 (line {start} cannot be parsed: {exc})") from None
    table = _frame(path, rows, header_score, "文件第 {n} 行 line {n}")
    table.info.update(encoding=encoding, separator=sep)
    return table


# ------------------------------------------------------------------------------------------ workbooks

def _cell_text(value: object) -> str:
    """A workbook cell as the text a user sees: whole numbers without ``.0``, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _visible_sheets(wb) -> list[str]:
    """The visible worksheets of a calamine workbook, in order (all sheets if none is marked visible)."""
    return [m.name for m in wb.sheets_metadata if str(m.visible).endswith("Visible")
            and str(m.typ).endswith("WorkSheet")] or list(wb.sheet_names)


def read_workbook(path: Path, sheet: str | None = None,
                  header_score: Callable[[list[str]], int] | None = None, *, first_if_missing: bool = False) -> Table:
    """One sheet of a workbook as text cells: the sheet named ``sheet``, else the first visible sheet
    when ``sheet`` is ``None`` or ``first_if_missing`` (a default name the workbook does not use)."""
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
        visible = _visible_sheets(wb)
    except Exception as exc:  # a corrupt or encrypted workbook is one readable problem
        raise _fail(path, f"无法读取工作簿 (cannot read workbook): {type(exc).__name__}: {exc}") from None
    name = sheet if sheet is not None and (sheet in wb.sheet_names or not first_if_missing) else visible[0]
    if name not in wb.sheet_names:
        raise _fail(path, f"缺少工作表 (missing sheet); 可用 (available): {visible}", name)
    grid = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    rows = [(i + 1, [_cell_text(v) for v in cells]) for i, cells in enumerate(grid)
            if any(_cell_text(v).strip() for v in cells)]
    table = _frame(path, rows, header_score, f"工作表「{name}」第 {{n}} 行 (sheet row {{n}})")
    table.info.update(sheet=name, sheets=visible)
    return table


# --------------------------------------------------------------------------------------------- common

def _column_letter(j: int) -> str:
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _frame(path: Path, rows: list[tuple[int, list[str]]], header_score, line_label: str) -> Table:
    """Pick the header row (the first, or the best-scoring of the first few under a title), build the frame."""
    if not rows:
        raise _fail(path, "文件没有表头和数据 (file is empty)")
    h = 0
    if header_score is not None:
        scores = [header_score(cells) for _, cells in rows[:HEADER_SEARCH_ROWS]]
        if scores[0] < 2 and max(scores) >= 2:
            h = scores.index(max(scores))
    header_line, header = rows[h]
    width = len(header)
    while width and not header[width - 1].strip():
        width -= 1
    names = [c.strip() or f"列{_column_letter(j)} (column {_column_letter(j)})" for j, c in enumerate(header[:width])]
    dup = [n for n, k in Counter(names).items() if k > 1]
    if dup:
        raise _fail(path, f"表头第 {header_line} 行有重复列名 (duplicate column names in the header)", dup)
    problems = []
    data, lines = [], []
    for line, cells in rows[h + 1:]:
        extra = [c for c in cells[width:] if c.strip()]
        if extra:
            problems.append(Problem(str(path), None, None, extra[:3], f"{line_label.format(n=line)}：本行的列数 "
                                    f"({len(cells)}) 多于表头 ({width})，分隔符或引号可能有误 "
                                    "(more fields than the header: separator or quotes wrong?)"))
        padded = (cells + [""] * width)[:width]
        data.append([c if c.strip() else None for c in padded])
        lines.append(line)
    if problems:
        if len(problems) > 20:
            problems = problems[:20] + [Problem(str(path), None, None, None,
                                                f"另有 {len(problems) - 20} 行同样的问题 (more rows alike)")]
        err = InputError(str(path), problems)
        err.headline = "无法读取登记册 (cannot read the register)"
        raise err
    frame = pd.DataFrame(data, columns=names, dtype=object)
    return Table(frame, lines, line_label, {"header_line": header_line})
