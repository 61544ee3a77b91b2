"""The packaged CJK font for web pages: report pages embed a subset, the editor app is served the file.

A browser on a bare machine (a server, a container, a fresh Linux) has no Chinese font, and every
Chinese character comes out as an empty box ("tofu"). Listing the packaged font *after* the page's own
fonts does not fix it: Chromium then draws boxes for text it shaped while the font was still loading,
and keeps them. So the face comes *first* in every font list, with a ``unicode-range`` that excludes
ASCII: Latin letters and digits still come from the reader's system fonts (and code keeps its
monospace font), everything else from the packaged face, which the browser waits for before painting.

The rules name every text-bearing element and override JupyterLab's font variables (nbconvert and
Voila pages are styled by them), with ``!important`` because the templates set fonts on classes
(headings, table headers, output areas, widgets). Icon fonts (Font Awesome ``<i>``) are left alone.

The font is Noto Sans CJK SC (SIL Open Font License) from the ``mplfonts`` dependency, the same one
the figures use (:func:`gridsim.plotting.cjk_font_path`).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from typing import Iterable

CJK_FAMILY = "gridsim CJK"
# Everything but ASCII: Chinese, full-width punctuation, and the few symbols the pages use (–, →, ≤).
UNICODE_RANGE = "U+0080-10FFFF"
TEXT_FONTS = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif'
MONO_FONTS = 'Menlo, Consolas, "DejaVu Sans Mono", monospace'
TEXT_STACK = f'"{CJK_FAMILY}", {TEXT_FONTS}'
MONO_STACK = f'"{CJK_FAMILY}", {MONO_FONTS}'

# Elements that carry text, in nbconvert pages and in Voila/ipywidgets apps. Form controls do not
# inherit fonts from their parents, so they are named too.
TEXT_ELEMENTS = ("html, body, h1, h2, h3, h4, h5, h6, p, li, dt, dd, blockquote, table, caption, thead, tbody, "
                 "tr, th, td, span, div, a, b, strong, em, small, label, legend, summary, input, select, "
                 "option, optgroup, button, textarea, svg text")
MONO_ELEMENTS = "pre, code, kbd, samp, tt, pre *, code *"
ICONS = '.fa, .fas, .far, .fab, [class^="fa-"], [class*=" fa-"]'  # icon fonts keep their own family
# JupyterLab theme variables (defined on :root and again on themed bodies).
_JP_TEXT_VARS = ("--jp-ui-font-family", "--jp-content-font-family", "--jp-widgets-font-family")
_JP_MONO_VARS = ("--jp-code-font-family", "--jp-code-font-family-default", "--jp-cell-prompt-font-family")

_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
_TAG = re.compile(r"<[^>]*>")
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)


def page_characters(page: str) -> set[str]:
    """Every non-ASCII character a browser may draw from ``page``: text, attribute values (titles,
    tooltips), script strings that widgets render later, with entities decoded; data URIs skipped."""
    text = _DATA_URI.sub("", page)
    text = html.unescape(text)
    # JSON in scripts (widget state, Plotly figures) writes non-ASCII as \\uXXXX escapes.
    text += "".join(chr(int(h, 16)) for h in re.findall(r"\\u([0-9a-fA-F]{4})", text))
    return {ch for ch in text if ord(ch) > 127 and ch.isprintable()}


@functools.lru_cache(maxsize=1)
def package_characters() -> frozenset[str]:
    """Every non-ASCII character of the package's own texts: its Python sources (messages, labels,
    headers), the policy and scenario files and the notebooks — what most of a page is made of.

    A report page's font is cut to these *and* the page's own characters (:func:`report_font_chars`), so
    pages that add nothing of their own (the same page of another scenario, most pages of a report) ask for
    the same cut and share one stored copy; only a page with text from elsewhere (a register's names) gets a
    cut of its own. The embedded font grows from 60–150 KB to about 490 KB (base64, ~1,100 characters) on
    pages of 0.4–4 MB; in return a report of every scenario cuts the font once instead of 50 times
    (0.6–0.7 s each)."""
    from .paths import NOTEBOOK_DIR, PACKAGE_DIR, POLICY_DIR, SCENARIO_DIR

    files = [*sorted(PACKAGE_DIR.rglob("*.py")), *sorted(POLICY_DIR.glob("*")), *sorted(SCENARIO_DIR.glob("*.yaml")),
             *sorted(NOTEBOOK_DIR.glob("*.ipynb"))]
    chars: set[str] = set()
    for path in files:
        if path.is_file():
            chars |= {ch for ch in path.read_text(encoding="utf-8") if ord(ch) > 127 and ch.isprintable()}
    return frozenset(chars)


def report_font_chars(page: str) -> set[str]:
    """The characters a report page's font is cut to: the page's own and :func:`package_characters`."""
    return page_characters(page) | package_characters()


def subset_font(chars: Iterable[str], flavor: str | None = "woff") -> bytes:
    """The packaged CJK font cut down to ``chars`` (plus ASCII), as WOFF bytes by default."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    from .plotting import cjk_font_path

    # the head table's box stays the whole font's (a box that holds every glyph is still right): working it
    # out again from the kept outlines was a third of the time a page's HTML took
    font = TTFont(str(cjk_font_path()), recalcBBoxes=False, recalcTimestamp=False)
    options = subset.Options()
    options.desubroutinize = True  # smaller after compression, and simpler CFF for the browser's sanitizer
    options.name_IDs = ["*"]  # keep the licence and copyright names
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(chars) | {chr(c) for c in range(32, 127)})))
    subsetter.subset(font)
    font.flavor = flavor
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def font_rules() -> str:
    """The CSS that makes every text-bearing element use the CJK face first (no ``@font-face``).

    Both element rules have the same specificity, so the monospace one, written last, wins inside
    ``pre`` and ``code``.
    """
    text_vars = "".join(f"{v}:{TEXT_STACK};" for v in _JP_TEXT_VARS)
    mono_vars = "".join(f"{v}:{MONO_STACK};" for v in _JP_MONO_VARS)
    return (f":root,body,body[data-jp-theme-light],body[data-jp-theme-name]{{{text_vars}{mono_vars}}}"
            f":is({TEXT_ELEMENTS}):not({ICONS}){{font-family:{TEXT_STACK} !important;}}"
            f":is({MONO_ELEMENTS}):not({ICONS}){{font-family:{MONO_STACK} !important;}}")


def font_face(src: str, fmt: str) -> str:
    """One ``@font-face`` for the CJK family from ``src`` (a URL or data URI) in format ``fmt``."""
    return (f'@font-face{{font-family:"{CJK_FAMILY}";src:url({src}) format("{fmt}");'
            f"unicode-range:{UNICODE_RANGE};font-display:block;}}")


def embedded_css(page: str, chars: Iterable[str] | None = None) -> str:
    """A ``<style>`` for ``page``: the CJK font cut down to ``chars`` (default: the page's characters) as a
    WOFF data URI, and :func:`font_rules`. About 300 bytes (base64) per Chinese character."""
    data = base64.b64encode(subset_font(page_characters(page) if chars is None else chars)).decode("ascii")
    return f"<style>{font_face(f'data:font/woff;base64,{data}', 'woff')}{font_rules()}</style>"


def embedded_font_bytes(page: str) -> bytes | None:
    """The font embedded in a page written with :func:`embedded_css` (None if there is none)."""
    m = re.search(r'font-family:"' + re.escape(CJK_FAMILY) + r'";src:url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)',
                  page)
    return base64.b64decode(m.group(1)) if m else None
