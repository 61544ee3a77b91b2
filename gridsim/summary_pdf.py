"""A one-page A4 summary as PDF: title, a few sentences, one figure, one table, Chinese glyphs embedded.

Leaders print the summary, on machines that may have no Chinese font, so the PDF must carry its own:
it is drawn with matplotlib's PDF backend (installed with the package, no browser needed) in the
packaged Noto Sans CJK SC, embedded as a TrueType font (``pdf.fonttype`` 42, so the text stays text:
searchable, copyable, sharp when printed). Matplotlib would embed the OpenType/CFF file itself under
a TrueType label, which strict readers refuse, so the characters the page uses are cut out of the
font and their outlines converted to TrueType first (fontTools).

The page is laid out here rather than by matplotlib's layout engines, so it is predictable: the table
gets the font size (9 pt down to 6 pt) at which its natural column widths fit the page; a table still
too wide gets columns by need and wraps their text (at spaces where it can, else between characters);
a table with many more columns than rows is transposed; rows that still do not fit are cut, with a
note. The figure, drawn at 200 dpi, takes the height left. Reruns write the same bytes (no creation
date, fixed metadata).

``write_summary_pdf(path, title, sentences, table, figure)`` is the one entry point.
"""

from __future__ import annotations

import functools
import io
import math
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

A4_IN = (8.27, 11.69)
MARGIN_PT = 42.0  # about 15 mm
TITLE_PT = 16.0
TEXT_PT = 10.5
NOTE_PT = 7.5
TABLE_PT = (9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 6.0)
CELL_PAD_PT = 3.0
LINE = 1.35  # line height in font sizes
FIGURE_DPI = 200
MIN_FIGURE_PT = 120.0
NO_LINE_START = set("，。、；：！？）》」』】,.;:!?)%")
MAX_COLUMNS = 10  # beyond this many columns (and more columns than rows) the table is transposed
METADATA = {"Creator": "gridsim", "Producer": "gridsim (matplotlib)", "CreationDate": None}


# ---------------------------------------------------------------------------------------------------
# The font


def _to_truetype(font) -> None:
    """Replace the CFF outlines of a fontTools ``TTFont`` by TrueType (quadratic) ones, in place."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():
        if hasattr(glyph, "xMin"):
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for attr in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                 "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, attr, 1 if attr == "maxZones" else 0)
    maxp.compile(font)
    post = font["post"]
    post.formatType, post.extraNames, post.mapping, post.glyphOrder = 2.0, [], {}, order
    font.sfntVersion = "\x00\x01\x00\x00"


def truetype_subset(chars: str, dst: Path) -> Path:
    """The packaged CJK font cut down to ``chars`` and the package's own characters
    (:func:`gridsim.webfont.package_characters`) as a TrueType file at ``dst``.

    Cutting and converting the outlines takes about a second; cut to the package's characters too, the font
    is the same for every scenario's summary (its text comes from the package and the numbers), so it is
    made once per process (:func:`_truetype_bytes`). The PDF embeds only the glyphs it draws: matplotlib cuts
    a Type 42 font down to them again."""
    from .webfont import package_characters

    dst.write_bytes(_truetype_bytes(frozenset(ch for ch in chars if ord(ch) > 127) | package_characters()))  # ASCII: always
    return dst


@functools.lru_cache(maxsize=2)
def _truetype_bytes(chars: frozenset[str]) -> bytes:
    """The packaged CJK font cut down to ``chars`` (and ASCII), its outlines converted to TrueType."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    from .plotting import cjk_font_path

    font = TTFont(str(cjk_font_path()), recalcTimestamp=False)  # the font's own date: same bytes every run
    options = subset.Options()
    options.desubroutinize = True
    options.notdef_outline = True
    options.name_IDs = ["*"]  # keep the licence
    options.layout_features = []  # the PDF places glyphs one by one; no shaping tables needed
    sub = subset.Subsetter(options)
    sub.populate(text="".join(sorted(set(chars) | {chr(c) for c in range(32, 127)})))
    sub.subset(font)
    _to_truetype(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------
# Measuring and wrapping text


class _Measure:
    """Text widths in points for the page's font at a given size (matplotlib's own text metrics)."""

    def __init__(self, font_path: Path):
        from matplotlib.font_manager import FontProperties
        from matplotlib.textpath import TextToPath

        self.path = font_path
        self._props = {}
        self._t2p = TextToPath()
        self._prop = FontProperties

    def prop(self, size: float):
        if size not in self._props:
            self._props[size] = self._prop(fname=str(self.path), size=size)
        return self._props[size]

    def width(self, text: str, size: float) -> float:
        if not text:
            return 0.0
        w, _, _ = self._t2p.get_text_width_height_descent(text, self.prop(size), ismath=False)
        return float(w)


def wrap(text: str, width_pt: float, size: float, measure: _Measure) -> list[str]:
    """Lines of ``text`` no wider than ``width_pt``: break at spaces where possible, else between
    characters (Chinese has no spaces); explicit newlines are kept. Closing punctuation never starts a
    line (it may overhang by one character), and a single character wider than the width gets a line
    of its own."""
    lines: list[str] = []
    for para in str(text).split("\n"):
        line = ""
        for token in _tokens(para):
            candidate = line + token
            if measure.width(candidate.rstrip(), size) <= width_pt or (line and token in NO_LINE_START):
                line = candidate
                continue
            if line.strip():
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line = candidate
            while len(line.rstrip()) > 1 and measure.width(line.rstrip(), size) > width_pt:
                cut = _fit(line, width_pt, size, measure)  # a word too long for a line of its own
                lines.append(line[:cut].rstrip())
                line = line[cut:].lstrip()
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> list[str]:
    """Words with their trailing space for Latin text; each Chinese character on its own."""
    tokens, word = [], ""
    for ch in text:
        if ord(ch) > 0x2E80:
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        else:
            word += ch
            if ch == " ":
                tokens.append(word)
                word = ""
    if word:
        tokens.append(word)
    return tokens


def _fit(line: str, width_pt: float, size: float, measure: _Measure) -> int:
    """How many leading characters of ``line`` fit in ``width_pt`` (at least one)."""
    lo, hi = 1, len(line)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure.width(line[:mid].rstrip(), size) <= width_pt:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------------------------------------------
# The table


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "—"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def table_cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]], str]:
    """Header and body text of ``table`` (index shown when it is named or not 0..n-1), transposed
    when it has many more columns than rows; the third item is a note saying so, or ''."""
    note = ""
    if table.shape[1] > MAX_COLUMNS and table.shape[1] > table.shape[0]:
        table = table.T
        note = "表格已转置以适应页面 (table transposed to fit the page)"
    show_index = table.index.name is not None or not table.index.equals(pd.RangeIndex(len(table)))
    header = ([str(table.index.name or "")] if show_index else []) + [str(c) for c in table.columns]
    body = [([_cell(i)] if show_index else []) + [_cell(v) for v in row]
            for i, row in zip(table.index, table.itertuples(index=False))]
    return header, body, note


def column_widths(natural: Sequence[float], minimum: Sequence[float], total: float) -> list[float]:
    """Share ``total`` among columns: each gets its natural width if all fit; otherwise the narrow
    ones keep theirs and the rest split what is left evenly (never below their minimum)."""
    natural = [max(n, m) for n, m in zip(natural, minimum)]
    if sum(natural) <= total:
        return list(natural)
    widths = [0.0] * len(natural)
    left, free = total, list(range(len(natural)))
    while free:
        share = left / len(free)
        small = [i for i in free if natural[i] <= share]
        if not small:
            break
        for i in small:
            widths[i] = natural[i]
            left -= natural[i]
        free = [i for i in free if i not in small]
    for i in free:
        widths[i] = max(minimum[i], left / len(free))
    return widths


def layout_table(header: list[str], body: list[list[str]], width_pt: float, measure: _Measure):
    """Font size, column widths and wrapped lines of every cell, for a table ``width_pt`` wide."""
    rows = [header, *body]
    ncol = len(header)
    pad = 2 * CELL_PAD_PT
    for size in TABLE_PT:
        # body cells on one line; headers may wrap at their spaces ("户数 households" on two lines)
        natural = [max([measure.width(r[j], size) for r in body]
                       + [measure.width(w, size) for w in header[j].split()] + [0.0]) + pad for j in range(ncol)]
        if sum(natural) <= width_pt:
            break
    minimum = [max((measure.width(ch, size) for r in rows for ch in r[j]), default=0) + pad for j in range(ncol)]
    widths = column_widths(natural, minimum, width_pt)
    lines = [[wrap(r[j], widths[j] - pad, size, measure) for j in range(ncol)] for r in rows]
    return size, widths, lines


# ---------------------------------------------------------------------------------------------------
# The page


def _figure_image(figure) -> np.ndarray:
    """The figure as pixels, its text in the CJK font (also for a figure made without it)."""
    import matplotlib.image as mpimg

    from .plotting import use_chinese_font

    use_chinese_font()
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=FIGURE_DPI, facecolor="white", metadata={"Software": None})
    buf.seek(0)
    return mpimg.imread(buf, format="png")


def write_summary_pdf(path, title: str, sentences: Sequence[str], table: pd.DataFrame, figure,
                      *, footer: str = "") -> Path:
    """Write the one-page A4 summary PDF to ``path`` and return it.

    ``sentences`` are set as a bulleted paragraph list under the title, then ``figure`` (a matplotlib
    figure, scaled to the page width and to the height left), then ``table`` (see the module notes on
    fitting), then ``footer`` in small print. Every character is drawn in the embedded CJK font.
    """
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    path = Path(path)
    header, body, note = table_cells(table)
    chars = title + "".join(sentences) + footer + note + "".join(header) + "".join("".join(r) for r in body) \
        + "•…（）()：:仅显示前行共"
    with tempfile.TemporaryDirectory(prefix="gridsim-pdf-") as tmp:
        font_path = truetype_subset(chars, Path(tmp) / "gridsim-cjk-summary.ttf")
        measure = _Measure(font_path)
        with matplotlib.rc_context({"pdf.fonttype": 42, "pdf.compression": 6}):
            page = Figure(figsize=A4_IN)
            page_w, page_h = A4_IN[0] * 72, A4_IN[1] * 72
            width = page_w - 2 * MARGIN_PT
            y = page_h - MARGIN_PT  # top of what is drawn next, in points from the bottom

            def text(x_pt, y_pt, s, size, **kw):
                page.text(x_pt / page_w, y_pt / page_h, s, fontproperties=measure.prop(size), va="top", **kw)

            for line in wrap(title, width, TITLE_PT, measure):
                text(MARGIN_PT, y, line, TITLE_PT)
                y -= TITLE_PT * LINE
            y -= TEXT_PT * 0.6
            bullet = "• "
            indent = measure.width(bullet, TEXT_PT)
            for sentence in sentences:
                for k, line in enumerate(wrap(sentence, width - indent, TEXT_PT, measure)):
                    if k == 0:
                        text(MARGIN_PT, y, bullet, TEXT_PT)
                    text(MARGIN_PT + indent, y, line, TEXT_PT)
                    y -= TEXT_PT * LINE
            y -= TEXT_PT * 0.6

            size, widths, lines = layout_table(header, body, width, measure)
            row_h = [max(len(c) for c in row) * size * LINE + CELL_PAD_PT for row in lines]
            footer_h = (NOTE_PT * LINE * (2 if note else 1) + CELL_PAD_PT) if (footer or note) else 0
            kept = len(row_h)
            while kept > 1 and sum(row_h[:kept]) + MIN_FIGURE_PT + footer_h + NOTE_PT * LINE > y - MARGIN_PT:
                kept -= 1
            if kept < len(row_h):
                note = (note + "；" if note else "") + \
                    f"仅显示前 {kept - 1} 行，共 {len(row_h) - 1} 行 (first {kept - 1} of {len(row_h) - 1} rows)"
                footer_h = NOTE_PT * LINE * 2 + CELL_PAD_PT
            table_h = sum(row_h[:kept])

            image = _figure_image(figure)
            fig_room = y - MARGIN_PT - table_h - footer_h - TEXT_PT
            img_h_px, img_w_px = image.shape[:2]
            fig_w = min(width, fig_room * img_w_px / img_h_px)
            fig_h = fig_w * img_h_px / img_w_px
            ax = page.add_axes(((page_w - fig_w) / 2 / page_w, (y - fig_h) / page_h, fig_w / page_w, fig_h / page_h))
            ax.imshow(image, interpolation="lanczos")
            ax.set_axis_off()
            y -= fig_h + TEXT_PT

            _draw_table(page, lines[:kept], widths, row_h[:kept], size, y, measure, text)
            y -= table_h + CELL_PAD_PT
            for small in filter(None, (note, footer)):
                for line in wrap(small, width, NOTE_PT, measure):
                    text(MARGIN_PT, y, line, NOTE_PT, color="#555555")
                    y -= NOTE_PT * LINE

            path.parent.mkdir(parents=True, exist_ok=True)
            with PdfPages(path, metadata={**METADATA, "Title": title}) as pdf:
                pdf.savefig(page)
    return path


def _draw_table(page, lines, widths, row_h, size, top, measure, text) -> None:
    """Rule lines and cell text: header row shaded, numbers right-aligned, text left-aligned."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    page_w, page_h = (v * 72 for v in A4_IN)
    x0 = MARGIN_PT
    total_w = sum(widths)
    page.patches.append(Rectangle((x0 / page_w, (top - row_h[0]) / page_h), total_w / page_w, row_h[0] / page_h,
                                  transform=page.transFigure, facecolor="#EEEEEE", edgecolor="none"))
    y = top
    for r, (row, h) in enumerate(zip(lines, row_h)):
        x = x0
        for j, cell in enumerate(row):
            numeric = r > 0 and bool(cell) and all(_is_number(s) for s in cell if s)
            for k, line in enumerate(cell):
                ty = y - CELL_PAD_PT / 2 - k * size * LINE
                if numeric:
                    text(x + widths[j] - CELL_PAD_PT, ty, line, size, ha="right")
                else:
                    text(x + CELL_PAD_PT, ty, line, size)
            x += widths[j]
        y -= h
        colour, lw = ("#333333", 0.8) if r in (0, len(lines) - 1) else ("#CCCCCC", 0.4)
        page.lines.append(Line2D([x0 / page_w, (x0 + total_w) / page_w], [y / page_h, y / page_h],
                                 transform=page.transFigure, color=colour, lw=lw))
    page.lines.append(Line2D([x0 / page_w, (x0 + total_w) / page_w], [top / page_h, top / page_h],
                             transform=page.transFigure, color="#333333", lw=0.8))


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", "").replace("%", "").replace("—", "nan"))
        return True
    except ValueError:
        return False
