"""The editor where planners use it: ``03_editor.ipynb`` in JupyterLab, in Chromium, offline.

The test starts its own JupyterLab (127.0.0.1, a free port, a random token, a temporary root folder
holding a copy of the notebook whose save folder points into that root; its settings, workspaces and
runtime files also in temporary folders; no news feed, no update check, read-only extension manager,
so the server itself fetches nothing either). The browser opens the notebook, runs all cells from
the Run menu, waits for the map, moves one home to another grid with the editor's own controls and
saves the plan; the saved CSV must differ from today's map in exactly that home. Every request not
addressed to 127.0.0.1 is aborted and recorded, and the test fails if there was one (the map has no
tile layer unless ``tiles=True``).
"""

from __future__ import annotations

import os
import secrets
import sys

import pandas as pd
import pytest
from editor_steps import (APP_READY_MS, UI_UNIT, WAIT_MS, _cell, _scene, _wait_fill, _wait_text,  # tests/ui/
                          free_port, running_server)

NOTEBOOK = "editor_lab.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with the editor notebook in its root; yields (url, token, out_dir)."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from gridsim.editor.serve import EDITOR_NOTEBOOK, voila_env

    work = tmp_path_factory.mktemp("lab")
    root, state = work / "root", work / "state"
    out_dir = root / "saved"
    for d in (root, state, out_dir):
        d.mkdir(parents=True, exist_ok=True)
    nb = parameterize_notebook(load_notebook_node(str(EDITOR_NOTEBOOK)), {"unit": UI_UNIT, "out_dir": str(out_dir)})
    nbformat.write(nb, root / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    env = {**voila_env(), "JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces")}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
           "--ServerApp.allow_root=True"]  # containers run tests as root
    url = f"http://127.0.0.1:{port}/"
    with running_server("JupyterLab", cmd, f"{url}api/status?token={token}", work / "lab.log", env=env, cwd=root):
        yield url, token, out_dir


def _run_all_cells(page, attempts: int = 3) -> None:
    """Run → Run All Cells, until a cell shows it ran or is running (a click made while the kernel is
    still connecting runs nothing, so it is repeated)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(attempts):
        page.click(".lm-MenuBar-item:has-text('Run')")
        page.click(".lm-Menu-item[data-command='runmenu:run-all']")
        try:
            page.wait_for_function("() => [...document.querySelectorAll('.jp-InputPrompt')]"
                                   ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))", timeout=15_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"Run All Cells ran nothing in {attempts} attempts")


def test_open_run_move_and_save_in_jupyterlab(browser, lab, tmp_path):
    from gridsim.registers import read_homes

    url, token, out_dir = lab
    all_homes = read_homes()
    homes = all_homes[all_homes["unit_id"] == UI_UNIT].set_index("home_id")
    context = browser.new_context(viewport={"width": 1600, "height": 1200}, locale="zh-CN")
    external: list[str] = []

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("websocket", lambda ws: None if ws.url.startswith("ws://127.0.0.1") else external.append(ws.url))
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{url}lab/tree/{NOTEBOOK}?token={token}", timeout=APP_READY_MS)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=APP_READY_MS)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=APP_READY_MS)
        _run_all_cells(page)
        page.wait_for_selector(".gs-app", timeout=APP_READY_MS)
        page.wait_for_selector("path.gs-home", timeout=APP_READY_MS)
        page.locator(".gs-map").scroll_into_view_if_needed()

        scene = _scene(page, homes)
        home, source, target = scene["home"], scene["source"], scene["target"]
        target_colour = page.get_attribute(f".gs-table-box tr[data-grid='{target}'] .gs-swatch", "data-colour")
        hh_target = int(_cell(page, target, "gs-hh"))
        page.click(f"path.gs-home-{home}")
        page.wait_for_function("h => document.querySelector('.gs-selected-ids')?.textContent.includes(h)",
                               arg=home, timeout=WAIT_MS)
        page.locator(".gs-target select").select_option(label=f"{target}（{hh_target} 户）")
        page.click("button.gs-move")
        _wait_fill(page, home, target_colour)
        _wait_text(page, f".gs-table-box tr[data-grid='{target}'] td.gs-hh", str(hh_target + scene["households"]))
        _wait_text(page, ".gs-diff-homes", "1")

        page.fill(".gs-save-name input", "lab_plan")
        page.check(".gs-allow input[type=checkbox]")  # today's map of this unit breaks rules; save anyway
        page.click("button.gs-save")
        page.wait_for_selector(".gs-saved-file", timeout=WAIT_MS)

        # no tofu: the browser has no Chinese font; the app's own embedded font draws the app, the
        # notebook's Markdown and its code comments (JupyterLab does not use the Voila template)
        from fontTools.ttLib import TTFont
        from glyphs import assert_no_tofu  # tests/ui/glyphs.py

        from gridsim.plotting import cjk_font_path

        glyphs = assert_no_tofu(page, TTFont(str(cjk_font_path()), lazy=True), min_chars=50)
        assert glyphs["elements"] > 10
    finally:
        page.screenshot(path=str(tmp_path / "lab.png"))  # left in the test's temporary folder
        context.close()
    assert not external, f"requests left 127.0.0.1: {external}"

    saved = pd.read_csv(out_dir / "lab_plan.csv", dtype=str).set_index("home_id")["grid_id"]
    today = all_homes.set_index("home_id")["current_grid_id"].astype(str)
    assert saved.index.sort_values().equals(today.index.sort_values())
    changed = saved[saved != today.reindex(saved.index)]
    assert changed.to_dict() == {home: target}, (source, changed.head())
    for name in ("lab_plan_summary.csv", "lab_plan.gpkg", "lab_plan_violations.csv"):
        assert (out_dir / name).exists(), name
    assert os.path.getsize(out_dir / "lab_plan.csv") > 0
