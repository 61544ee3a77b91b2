"""Chinese glyphs in a browser without a Chinese font: a report page and the editor app, no tofu.

The report page is made by the report's own export (:func:`gridsim.report.to_html`) from a small
notebook run by a kernel: a Chinese heading, a DataFrame with Chinese headers and index, printed
Chinese, and a table wider than the page. Screenshots are left in the test's temporary folder.
"""

from __future__ import annotations

import io
import re

import nbformat
import pytest
from fontTools.ttLib import TTFont
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gridsim import report, webfont

from glyphs import assert_no_tofu  # tests/ui/glyphs.py (pytest puts tests/ui on sys.path)

VIEWPORT = {"width": 1000, "height": 800}
CELLS = [
    new_markdown_cell("# 史河街道网格化服务管理 测试页\n\n## 二、网格划分（户数）\n\n正文：每个网格 100–300 户，"
                      "社区网格规划户数 ≤ 500。\n\n| 表头 header | 数值 |\n|---|---|\n| 常住户 | 250 |"),
    new_code_cell("import pandas as pd\n"
                  "df = pd.DataFrame({'网格 grid': ['茶棚-01', '万佛-02', '鬲山-03'], '户数 households': [321, 288, 97],\n"
                  "                   '五必访户': [12, 7, 3]}, index=pd.Index(['甲', '乙', '丙'], name='编号'))\n"
                  "df"),
    new_code_cell("print('打印输出：常住户 五必访 经费（元）', df['户数 households'].sum())\n"
                  "print(df.to_string())"),
    new_code_cell("pd.DataFrame([[1234567.5] * 24], columns=[f'很长的列名 column {i}' for i in range(24)])"),
]


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    """The exported HTML page of a small executed notebook; its path."""
    from nbclient import NotebookClient

    work = tmp_path_factory.mktemp("report_page")
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [c.copy() for c in CELLS]
    NotebookClient(nb, timeout=60).execute()
    ipynb = work / "01_glyphs.ipynb"
    nbformat.write(nb, ipynb)
    return report.to_html(ipynb, work / "01_glyphs.html", "字形测试")


def _open(browser, url: str):
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    external: list[str] = []

    def route(r):
        if r.request.url.startswith(("file://", "data:", "http://127.0.0.1")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(url)
    return context, page, external


def test_report_page_draws_every_chinese_character_with_its_own_font(browser, report_page):
    html = report_page.read_text(encoding="utf-8")
    font = TTFont(io.BytesIO(webfont.embedded_font_bytes(html)))
    context, page, external = _open(browser, report_page.as_uri())
    try:
        m = assert_no_tofu(page, font, min_chars=80)
        # every kind of element that carries Chinese was measured, not just paragraphs
        tags = page.evaluate("""() => [...new Set([...document.querySelectorAll('h1, h2, th, td, pre, p')]
            .filter(e => /[\\u4e00-\\u9fff]/.test(e.textContent)).map(e => e.tagName))].sort()""")
        assert tags == ["H1", "H2", "P", "PRE", "TD", "TH"], tags
        page.screenshot(path=str(report_page.with_suffix(".png")), full_page=True)
    finally:
        context.close()
    # nbconvert's pages also name require.js and MathJax on a CDN (aborted here, unused by the reports);
    # nothing the text needs (fonts, stylesheets) may come from outside
    assert not [u for u in external if not u.split("?")[0].endswith(".js")], external
    assert m["chars"] > 80


def test_the_glyph_check_fails_without_the_embedded_font(browser, report_page, tmp_path):
    """The same page with its font face removed shows boxes here, and the check says so."""
    html = report_page.read_text(encoding="utf-8")
    font = TTFont(io.BytesIO(webfont.embedded_font_bytes(html)))
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"@font-face\{[^}]*\}", "", html), encoding="utf-8")
    context, page, _ = _open(browser, bare.as_uri())
    try:
        with pytest.raises(AssertionError, match="not loaded|tofu"):
            assert_no_tofu(page, font)
        page.screenshot(path=str(tmp_path / "bare.png"), full_page=True)
    finally:
        context.close()


def test_wide_table_scrolls_inside_its_frame(browser, report_page):
    context, page, _ = _open(browser, report_page.as_uri())
    try:
        page_width = page.evaluate("() => document.scrollingElement.scrollWidth")
        assert page_width <= VIEWPORT["width"], "the page itself scrolls sideways"
        frame = page.evaluate("""() => {
            const t = [...document.querySelectorAll('table')].find(t => t.textContent.includes('column 23'));
            let f = t.parentElement;
            while (f && getComputedStyle(f).overflowX !== 'auto') f = f.parentElement;
            return f && {scroll: f.scrollWidth, client: f.clientWidth, table: t.getBoundingClientRect().width};
        }""")
        assert frame, "the wide table has no scrolling frame"
        assert frame["table"] > VIEWPORT["width"] and frame["scroll"] > frame["client"], frame
    finally:
        context.close()


def test_editor_app_draws_every_chinese_character_with_the_served_font(app_page, tmp_path):
    from gridsim.plotting import cjk_font_path

    font = TTFont(str(cjk_font_path()), lazy=True)
    m = assert_no_tofu(app_page, font, min_chars=50)
    served = app_page.evaluate("() => performance.getEntriesByType('resource').map(r => r.name)"
                               ".filter(n => n.includes('gridsim-cjk'))")
    assert served and all(u.startswith("http://127.0.0.1:") for u in served), served
    app_page.screenshot(path=str(tmp_path / "editor.png"), full_page=True)
    assert m["elements"] > 10
