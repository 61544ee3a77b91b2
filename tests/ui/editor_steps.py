"""Steps on the editor's page shared by the Voila and the JupyterLab tests: find a clickable home, pick
a target grid, wait for the map and the table to follow. Selectors are the ``gs-*`` classes the app
puts on its widgets and map features; waits are generous (the kernel answers each click)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

UI_UNIT = "wanfo"  # a community of about 50 buildings: small enough for fast, stable rendering
SERVER_START_S = 60
APP_READY_MS = 90_000
WAIT_MS = 30_000


@contextmanager
def running_server(what: str, cmd: list[str], ready_url: str, log_path: Path, *, env: dict, cwd: Path):
    """Start a server subprocess, wait until ``ready_url`` answers 200 (or fail the test with the log's
    tail), and stop it again on exit."""
    import pytest

    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{what} exited ({proc.returncode}); log: {log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not answer in {SERVER_START_S} s; log: {log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clickable_home(page) -> str:
    """A home marker not covered by another one (markers of a compound overlap at the opening zoom)."""
    home = page.evaluate("""() => {
        for (const p of document.querySelectorAll('path.gs-home')) {
            const r = p.getBoundingClientRect();
            if (r.width === 0) continue;
            const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            if (top === p) return [...p.classList].find(c => c.startsWith('gs-home-')).slice(8);
        }
        return null;
    }""")
    assert home, "no home marker is clickable"
    return home


def _click_inside(page, selector: str) -> None:
    """Click a pixel where the element itself is on top (a polygon's box centre may lie outside it)."""
    point = page.evaluate("""sel => {
        const el = document.querySelector(sel);
        el.scrollIntoView({block: 'center'});
        const r = el.getBoundingClientRect();
        for (let i = 1; i < 12; i++) for (let j = 1; j < 12; j++) {
            const x = r.x + r.width * i / 12, y = r.y + r.height * j / 12;
            if (document.elementFromPoint(x, y) === el) return [x, y];
        }
        return null;
    }""", selector)
    assert point, f"nothing of {selector} is clickable"
    page.mouse.click(*point)


def _scene(page, homes) -> dict:
    """A clickable home of the UI unit, its grid, and another grid of the unit to move it to."""
    home = _clickable_home(page)
    source = homes.loc[home, "current_grid_id"]
    target = sorted(g for g in homes["current_grid_id"].unique() if g != source)[0]
    return {"home": home, "households": int(homes.loc[home, "households"]), "source": source, "target": target}


def _cell(page, grid: str, cls: str) -> str:
    return page.inner_text(f".gs-table-box tr[data-grid='{grid}'] td.{cls}").strip()


def _wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel); return e && e.textContent.trim() === text; }",
        arg=[selector, text], timeout=WAIT_MS)


def _wait_fill(page, home: str, colour: str) -> None:
    page.wait_for_function(
        "([sel, c]) => { const e = document.querySelector(sel); return e && e.getAttribute('fill') === c; }",
        arg=[f"path.gs-home-{home}", colour], timeout=WAIT_MS)
