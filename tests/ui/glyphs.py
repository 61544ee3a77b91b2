"""Finding tofu in a rendered page: which font draws each character, measured in the browser.

Three checks, each able to fail on its own:

* coverage: every non-ASCII character of the page's text (text nodes, form values, option labels,
  titles) is in the cmap of the font the page brings;
* family: every element that shows non-ASCII text has the packaged face first in its computed
  ``font-family``, and that face is loaded;
* widths: each Chinese ideograph drawn on the page is exactly as wide as its advance in that font
  (Noto's ideographs are 1 em), measured with a DOM range over the character itself. A box drawn by a
  fallback font has another width: the same characters measured in a canvas with the page's fonts
  minus the packaged one must differ (or the check could not tell), which holds on a machine without
  a Chinese font, as the browser of these tests is (see ``no_cjk_fontconfig``).
"""

from __future__ import annotations

from fontTools.ttLib import TTFont

from gridsim.webfont import CJK_FAMILY

IDEOGRAPHS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
WIDTH_TOLERANCE_PX = 0.6
MAX_CHARS = 4000  # measured characters per page (the editor shows a few thousand)

PAGE_TEXT_JS = """() => {
    const parts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
        const p = node.parentElement;
        if (p && !['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(p.tagName)) parts.push(node.nodeValue);
    }
    for (const e of document.querySelectorAll('input, textarea')) parts.push(e.value || '', e.placeholder || '');
    for (const e of document.querySelectorAll('option')) parts.push(e.label || '', e.text || '');
    for (const e of document.querySelectorAll('[title]')) parts.push(e.title);
    return parts.join('\\n');
}"""

MEASURE_JS = """([family, advances, maxChars]) => {
    const out = {elements: 0, chars: 0, wrongFamily: [], wrongWidth: [], sameAsFallback: 0, faces: []};
    out.faces = [...document.fonts].map(f => [f.family.replace(/["']/g, ''), f.status]);
    const canvas = document.createElement('canvas').getContext('2d');
    const range = document.createRange();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    let node;
    while ((node = walker.nextNode())) {
        const t = node.nodeValue;
        const el = node.parentElement;
        if (!el || !/[^\\x00-\\x7f]/.test(t) || ['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(el.tagName)) continue;
        const cs = getComputedStyle(el);
        if (cs.visibility !== 'visible' || !el.getClientRects().length) continue;
        out.elements++;
        const families = cs.fontFamily.split(',').map(f => f.trim().replace(/^["']|["']$/g, ''));
        if (families[0] !== family) out.wrongFamily.push([el.tagName, el.className, cs.fontFamily, t.trim().slice(0, 30)]);
        const size = parseFloat(cs.fontSize);
        const spacing = cs.letterSpacing === 'normal' ? 0 : parseFloat(cs.letterSpacing);
        const fallback = families.filter(f => f !== family).map(f => /^[\\w-]+$/.test(f) ? f : `"${f}"`).join(', ');
        for (let i = 0; i < t.length && out.chars < maxChars; i++) {
            const ch = t[i];
            if (!(ch in advances)) continue;
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            const r = range.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) continue;  // scrolled out of a clipped frame
            out.chars++;
            const want = advances[ch] * size + spacing;
            if (Math.abs(r.width - want) > %(tol)s) out.wrongWidth.push([ch, el.tagName, el.className, r.width, want]);
            const key = ch + '|' + size + '|' + fallback;
            if (seen.has(key)) continue;
            seen.add(key);
            canvas.font = `${cs.fontStyle} ${cs.fontWeight} ${size}px ${fallback}`;
            if (Math.abs(canvas.measureText(ch).width + spacing - want) <= %(tol)s) out.sameAsFallback++;
        }
    }
    out.distinct = seen.size;
    return out;
}""" % {"tol": WIDTH_TOLERANCE_PX}


def is_ideograph(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in IDEOGRAPHS)


def advances(font: TTFont, chars) -> dict[str, float]:
    """Advance width in em of each ideograph of ``chars`` that ``font`` has."""
    cmap, hmtx, upem = font.getBestCmap(), font["hmtx"], font["head"].unitsPerEm
    return {ch: hmtx[cmap[ord(ch)]][0] / upem for ch in set(chars) if is_ideograph(ch) and ord(ch) in cmap}


def page_text(page) -> str:
    return page.evaluate(PAGE_TEXT_JS)


def uncovered(font: TTFont, text: str) -> set[str]:
    """Non-ASCII printable characters of ``text`` the font has no glyph for."""
    cmap = font.getBestCmap()
    return {ch for ch in text if ord(ch) > 127 and ch.isprintable() and not ch.isspace() and ord(ch) not in cmap}


def assert_no_tofu(page, font: TTFont, min_chars: int = 10) -> dict:
    """Run the three checks on a loaded page; return the measurements (for messages)."""
    page.evaluate("() => document.fonts.ready.then(() => true)")
    text = page_text(page)
    missing = uncovered(font, text)
    assert not missing, f"characters the page's font lacks: {''.join(sorted(missing))}"
    adv = advances(font, text)
    m = page.evaluate(MEASURE_JS, [CJK_FAMILY, adv, MAX_CHARS])
    assert [CJK_FAMILY, "loaded"] in m["faces"], f"font face not loaded: {m['faces']}"
    assert m["chars"] >= min_chars, f"only {m['chars']} Chinese characters measured"
    assert not m["wrongFamily"], f"elements whose font is not {CJK_FAMILY} first: {m['wrongFamily'][:10]}"
    assert not m["wrongWidth"], f"characters not drawn by {CJK_FAMILY} (tofu?): {m['wrongWidth'][:10]}"
    # the width check can tell: a fallback-only rendering draws these characters at other widths
    assert m["sameAsFallback"] <= 0.05 * m["distinct"], m
    return m
