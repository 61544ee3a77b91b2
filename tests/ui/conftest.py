"""Real-browser harness: the editor notebook served by Voila, driven by Playwright in Debian's Chromium.

* Skipped unless ``/usr/bin/chromium`` exists (``make test-ui`` installs it; never ``playwright install``).
* Voila runs as a subprocess on a free port of 127.0.0.1 with the offline ``gridsim`` template
  (:mod:`gridsim.editor.serve`), serving a copy of ``notebooks/03_editor.ipynb`` whose parameters were
  injected by papermill (the unit to open and a temporary folder for saved plans); the fixture waits
  until Voila answers.
* Every page routes all requests: anything not addressed to 127.0.0.1 is aborted and recorded, and the
  test fails at teardown if there was any (the editor must work offline).
* The browser sees no CJK font even where the machine has one: it gets its own fontconfig file listing
  only the system fonts without Chinese glyphs (:func:`no_cjk_fontconfig`), so every page is seen as on
  a bare machine, where only the fonts the pages bring can draw Chinese.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
from editor_steps import APP_READY_MS, UI_UNIT, free_port, running_server  # tests/ui/editor_steps.py

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="需要 /usr/bin/chromium (Debian chromium not installed)")


@pytest.fixture(scope="session")
def ui_unit() -> str:
    return UI_UNIT


@pytest.fixture(scope="session")
def ui_out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("editor_out")


@pytest.fixture(scope="session")
def voila_url(tmp_path_factory, ui_out_dir):
    """Serve the parameterised editor notebook with Voila; yield its URL; stop the server afterwards."""
    if not CHROMIUM.exists():
        pytest.skip("no chromium")
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from gridsim.editor.serve import EDITOR_NOTEBOOK, voila_command, voila_env

    work = tmp_path_factory.mktemp("voila")
    nb = load_notebook_node(str(EDITOR_NOTEBOOK))
    nb = parameterize_notebook(nb, {"unit": UI_UNIT, "out_dir": str(ui_out_dir)})
    notebook = work / "editor_ui.ipynb"
    nbformat.write(nb, notebook)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # a static file answers without starting a kernel
    with running_server("Voila", voila_command(notebook, port), url + "voila/static/voila.js", work / "voila.log",
                        env=voila_env(), cwd=work):
        yield url


def _fc_files(*pattern: str, env: dict | None = None) -> set[str]:
    out = subprocess.run(["fc-list", *pattern, "--format", "%{file}\\n"], capture_output=True, text=True,
                         env=env, check=True).stdout
    return {line for line in out.splitlines() if line}


@pytest.fixture(scope="session")
def no_cjk_fontconfig(tmp_path_factory) -> dict:
    """Environment for a browser that sees only the system fonts without Chinese glyphs.

    The font files are linked into one folder, which a fontconfig file of its own lists (with its own
    cache folder). Checked: ``fc-list`` under that environment finds no font for 网 or 史.
    """
    if shutil.which("fc-list") is None:
        pytest.skip("需要 fc-list (fontconfig)")
    work = tmp_path_factory.mktemp("fontconfig")
    fonts = work / "fonts"
    fonts.mkdir()
    cjk = _fc_files(":charset=7f51") | _fc_files(":lang=zh-cn")
    for i, path in enumerate(sorted(_fc_files() - cjk)):
        (fonts / f"{i:03d}_{Path(path).name}").symlink_to(path)
    conf = work / "fonts.conf"
    conf.write_text(f'''<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{fonts}</dir><cachedir>{work / "cache"}</cachedir>
<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>''', encoding="utf-8")
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    assert _fc_files(env=env), "no font left for the browser"
    assert not _fc_files(":charset=7f51", env=env) and not _fc_files(":charset=53f2", env=env)
    return env


@pytest.fixture(scope="session")
def browser(no_cjk_fontconfig):
    if not CHROMIUM.exists():
        pytest.skip("需要 /usr/bin/chromium (Debian chromium not installed)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                               env=no_cjk_fontconfig)
        yield b
        b.close()


@pytest.fixture
def app_page(browser, voila_url):
    """A fresh page with the editor loaded (a new Voila kernel each time); fails on any external request."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="zh-CN")
    external: list[str] = []
    errors: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            external.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("websocket", lambda ws: None if ws.url.startswith("ws://127.0.0.1") else external.append(ws.url))
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(voila_url, timeout=APP_READY_MS)
    page.wait_for_selector(".gs-app", timeout=APP_READY_MS)
    page.wait_for_selector("path.gs-home", timeout=APP_READY_MS)
    yield page
    context.close()
    assert not external, f"requests left 127.0.0.1 (the editor must work offline): {external}"
    assert not errors, f"page errors: {errors}"
