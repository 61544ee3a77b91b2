"""The A4 summary PDF: one page, Chinese embedded as TrueType text, tables fitted, same bytes on rerun.

The PDF is read back with poppler (``pdfinfo``, ``pdffonts``, ``pdftotext``), as a reader's viewer
would: a glyph that is missing or not embedded shows up there, not in the file we wrote.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402

from gridsim import plotting, summary_pdf  # noqa: E402

POPPLER = all(shutil.which(t) for t in ("pdfinfo", "pdffonts", "pdftotext"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="需要 poppler-utils (pdfinfo, pdffonts, pdftotext)")

TITLE = "史河街道网格化服务管理 情景摘要：基准 baseline"
SENTENCES = ["全街道现有网格 42 个，调整后 38 个：社区 20 个（每格规划户数 ≤ 500），村 18 个（100–300 户）。",
             "年度经费中位数 512.3 万元（P5–P95：498.1–530.2 万元），其中区级承担 60%。",
             "考核不合格率 3.2%（unqualified），通报批评 1.1%，解聘 0.2%；鬲山村、茶棚社区变化最大。"]


def small_table(rows=6):
    return pd.DataFrame({"调整前网格数 grids before": np.arange(rows) + 3, "调整后 after": np.arange(rows) + 2,
                         "户数/网格 households per grid": np.linspace(120.5, 480.25, rows)},
                        index=pd.Index([f"村社{i}号 unit {i}" for i in range(rows)], name="村（社区）unit"))


def figure():
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(["社区 community", "村 village"], [20, 18])
    ax.set_title("调整后网格数")
    return fig


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def write(path, table=None, **kw):
    fig = figure()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r"(?s).*Glyph .* missing")
        out = summary_pdf.write_summary_pdf(path, TITLE, SENTENCES, small_table() if table is None else table, fig, **kw)
    plt.close(fig)
    return out


@needs_poppler
def test_one_a4_page_with_the_cjk_font_embedded_as_truetype(tmp_path):
    path = write(tmp_path / "summary.pdf", footer="gridsim · 种子 seed 0")
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\n", info)
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info), info
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    rows = fonts.stdout.splitlines()[2:]
    assert rows and all("NotoSansCJKsc" in r and "CID TrueType" in r for r in rows), fonts.stdout
    assert all(r.split()[-5:-2] == ["yes", "yes", "yes"] for r in rows), fonts.stdout  # emb, sub, uni
    assert "Mismatch" not in fonts.stderr  # the embedded file really is TrueType
    text = pdf_text(path)
    flat = re.sub(r"\s+", "", text)
    for s in [TITLE, *SENTENCES]:
        assert re.sub(r"\s+", "", s) in flat, s  # searchable text, every character mapped back
    for cell in ("村社5号", "480.25", "调整前网格数", "种子seed0"):
        assert cell in flat, cell


def test_reruns_write_identical_bytes(tmp_path):
    a = write(tmp_path / "a.pdf").read_bytes()
    b = write(tmp_path / "b.pdf").read_bytes()
    assert a == b
    assert b"CreationDate" not in a and b"/Creator (gridsim)" in a


def test_truetype_subset_has_outlines_for_every_character(tmp_path):
    chars = "史河街道鬲山网格（）：≤–"
    font = TTFont(str(summary_pdf.truetype_subset(chars, tmp_path / "s.ttf")))
    assert "glyf" in font and "CFF " not in font
    cmap, glyf = font.getBestCmap(), font["glyf"]
    for ch in chars:
        glyph = glyf[cmap[ord(ch)]]
        assert glyph.numberOfContours > 0, ch  # drawn, not an empty box
    assert ord("鬱") not in cmap


def test_wide_table_wraps_and_shrinks_to_the_page_width():
    measure = summary_pdf._Measure(plotting.cjk_font_path())
    wide = pd.DataFrame({f"指标 {j} 很长的列名 indicator with a long name": [1234567890.5 * j, 7.25, 88.0]
                         for j in range(9)})
    header, body, note = summary_pdf.table_cells(wide)
    assert note == "" and len(header) == 9  # 9 columns: not transposed
    width = summary_pdf.A4_IN[0] * 72 - 2 * summary_pdf.MARGIN_PT
    size, widths, lines = summary_pdf.layout_table(header, body, width, measure)
    assert sum(widths) <= width + 0.01
    assert size < summary_pdf.TABLE_PT[0]  # shrunk from 9 pt
    assert max(len(c) for c in lines[0]) > 1  # headers wrapped
    for row in lines:
        for cell, w in zip(row, widths):
            assert all(measure.width(line, size) <= w - 2 * summary_pdf.CELL_PAD_PT + 0.01 for line in cell)
    assert [re.sub(r"\s", "", "".join(c)) for c in lines[0]] == [re.sub(r"\s", "", h) for h in header]  # nothing lost


def test_many_columns_are_transposed_and_many_rows_cut_with_a_note(tmp_path):
    many_cols = pd.DataFrame([[i * j for j in range(20)] for i in range(3)], columns=[f"第{j}列" for j in range(20)])
    header, body, note = summary_pdf.table_cells(many_cols)
    assert len(body) == 20 and "转置" in note
    if POPPLER:
        path = write(tmp_path / "long.pdf", table=small_table(rows=150))
        flat = re.sub(r"\s+", "", pdf_text(path))
        shown = int(re.search(r"仅显示前(\d+)行，共150行", flat).group(1))
        assert 10 < shown < 150
        assert f"村社{shown - 1}号" in flat and f"村社{shown}号" not in flat


def test_wrap_breaks_chinese_between_characters_and_english_at_spaces():
    measure = summary_pdf._Measure(plotting.cjk_font_path())
    lines = summary_pdf.wrap("全街道现有网格四十二个，调整后三十八个。A rather long English phrase here",
                             80, 10, measure)
    assert all(measure.width(line, 10) <= 80 + 10 for line in lines)  # punctuation may overhang one character
    assert not any(line.startswith(("，", "。")) for line in lines)
    assert "".join(lines).replace(" ", "") == "全街道现有网格四十二个，调整后三十八个。AratherlongEnglishphrasehere"
    words = [w for line in lines for w in line.replace("。", " ").split() if w.isascii()]
    assert words == "A rather long English phrase here".split()  # English breaks only at spaces


def test_the_font_is_cut_once_for_summaries_of_package_text_and_the_pdf_keeps_only_drawn_glyphs(tmp_path):
    """Summaries whose Chinese comes from the package (every scenario's, on the embedded data) share one
    TrueType cut per process; the PDF still carries only the glyphs it draws (matplotlib cuts Type 42
    fonts again), so it stays small though the cut covers the package's ~1,100 characters."""
    summary_pdf._truetype_bytes.cache_clear()
    fig = figure()
    a = summary_pdf.write_summary_pdf(tmp_path / "a.pdf", "史河街道 情景摘要：基线 baseline", SENTENCES, small_table(), fig)
    b = summary_pdf.write_summary_pdf(tmp_path / "b.pdf", "史河街道 情景摘要：高支出 high_spend 2", SENTENCES,
                                      small_table(3), fig)
    plt.close(fig)
    info = summary_pdf._truetype_bytes.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    cut = summary_pdf.truetype_subset("", tmp_path / "whole.ttf").stat().st_size
    assert a.stat().st_size < cut / 3 and b.stat().st_size < cut / 3
