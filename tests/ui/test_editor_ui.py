"""The editor in a real browser (Voila + Chromium): click a home, move it, see the table and the colour
change, undo, lasso-select, save. Selectors are the ``gs-*`` classes the app puts on its widgets and
map features; waits are generous (the kernel answers each click), never fixed sleeps."""

from __future__ import annotations

import pytest
from editor_steps import WAIT_MS, _cell, _click_inside, _scene, _wait_fill, _wait_text  # tests/ui/editor_steps.py


@pytest.fixture(scope="module")
def homes(ui_unit):
    from gridsim.registers import read_homes

    h = read_homes()
    return h[h["unit_id"] == ui_unit].set_index("home_id")


def test_click_move_see_table_and_colour_then_undo(app_page, homes):
    page = app_page
    scene = _scene(page, homes)
    home, source, target = scene["home"], scene["source"], scene["target"]
    source_colour = page.get_attribute(f".gs-table-box tr[data-grid='{source}'] .gs-swatch", "data-colour")
    target_colour = page.get_attribute(f".gs-table-box tr[data-grid='{target}'] .gs-swatch", "data-colour")
    assert source_colour != target_colour
    assert page.get_attribute(f"path.gs-home-{home}", "fill") == source_colour
    hh_target = int(_cell(page, target, "gs-hh"))
    hh_source = int(_cell(page, source, "gs-hh"))

    page.click(f"path.gs-home-{home}")
    page.wait_for_selector(f"path.gs-sel-{home}", state="attached", timeout=WAIT_MS)
    page.wait_for_function("h => document.querySelector('.gs-selected-ids')?.textContent.includes(h)",
                           arg=home, timeout=WAIT_MS)

    page.locator(".gs-target select").select_option(label=f"{target}（{hh_target} 户）")
    page.wait_for_selector(f".gs-preview-table tr[data-grid='{target}']", timeout=WAIT_MS)
    preview = page.inner_text(f".gs-preview-table tr[data-grid='{target}']")
    assert f"{hh_target} → {hh_target + scene['households']}" in preview

    page.click("button.gs-move")
    _wait_fill(page, home, target_colour)
    _wait_text(page, f".gs-table-box tr[data-grid='{target}'] td.gs-hh", str(hh_target + scene["households"]))
    assert int(_cell(page, source, "gs-hh")) == hh_source - scene["households"]
    _wait_text(page, ".gs-diff-homes", "1")
    assert page.inner_text(".gs-diff-hh").strip() == str(scene["households"])

    page.click("button.gs-undo")
    _wait_fill(page, home, source_colour)
    _wait_text(page, f".gs-table-box tr[data-grid='{target}'] td.gs-hh", str(hh_target))
    assert int(_cell(page, source, "gs-hh")) == hh_source
    _wait_text(page, ".gs-diff-homes", "0")


def test_save_needs_explicit_choice_then_writes_files(app_page, ui_out_dir):
    page = app_page
    page.fill(".gs-save-name input", "ui_plan")
    page.click("button.gs-save")
    page.wait_for_function("() => document.querySelector('.gs-message')?.textContent.includes('未保存')",
                           timeout=WAIT_MS)
    assert not (ui_out_dir / "ui_plan.csv").exists()

    page.check(".gs-allow input[type=checkbox]")
    page.click("button.gs-save")
    page.wait_for_selector(".gs-saved-file", timeout=WAIT_MS)
    for name in ("ui_plan.csv", "ui_plan_summary.csv", "ui_plan.gpkg", "ui_plan_violations.csv"):
        assert (ui_out_dir / name).exists(), name
    header = (ui_out_dir / "ui_plan.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "home_id,grid_id"


def test_lasso_select_then_repair(app_page, homes):
    page = app_page
    scene = _scene(page, homes)
    box = page.locator(f"path.gs-home-{scene['home']}").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.click(".leaflet-draw-draw-polygon")
    corners = [(-30, -30), (30, -30), (30, 30), (-30, 30), (-30, -30)]  # the last click closes the polygon
    for dx, dy in corners:  # paced like a person: quick clicks would read as a double-click
        page.mouse.move(cx + dx, cy + dy, steps=4)
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(400)
    page.wait_for_function("h => document.querySelector('.gs-selected-ids')?.textContent.includes(h)",
                           arg=scene["home"], timeout=WAIT_MS)
    page.wait_for_selector(f"path.gs-sel-{scene['home']}", state="attached", timeout=WAIT_MS)
    assert "框选" in page.inner_text(".gs-message")

    page.click("button.gs-repair")
    page.wait_for_function("() => document.querySelector('.gs-message')?.textContent.includes('修复完成')",
                           timeout=60_000)
    assert page.locator(".gs-repair-moved tr").count() > 1  # the homes it moved, under a header row
    page.wait_for_function("() => Number(document.querySelector('.gs-diff-homes')?.textContent) > 0",
                           timeout=WAIT_MS)
    page.click("button.gs-undo")
    _wait_text(page, ".gs-diff-homes", "0")


def test_overview_click_opens_that_unit(app_page):
    page = app_page
    page.wait_for_selector("path.gs-ov-unit-chapeng", state="attached", timeout=WAIT_MS)
    _click_inside(page, "path.gs-ov-unit-chapeng")
    page.wait_for_selector(".gs-table-box tr[data-grid^='chapeng-']", timeout=WAIT_MS)
    page.wait_for_selector("path.gs-home[class*='gs-home-chapeng']", state="attached", timeout=WAIT_MS)
    assert page.locator("path.gs-home[class*='gs-home-wanfo']").count() == 0
