"""Serve the editor notebook as a Voila app that needs nothing from the internet.

Planners open the editor in a browser on a machine that may be offline (a 街道 office network). Voila's
stock ``lab`` template links Font Awesome from a CDN; the ``gridsim`` template shipped in
``gridsim/editor/share/voila/templates/gridsim`` is that template without the CDN links (the fonts are
bundled in Voila's own static files). Voila finds templates on ``JUPYTER_PATH``, so :func:`voila_env`
puts this package's ``share`` folder first. ipyleaflet's JavaScript comes from its installed lab
extension, served by Voila itself; the map has no tile layer unless the notebook asks for one.

Run: ``python -m gridsim.editor.serve [--port 8866] [--notebook notebooks/03_editor.ipynb]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..paths import NOTEBOOK_DIR, ROOT

SHARE_DIR = Path(__file__).resolve().parent / "share"
TEMPLATE = "gridsim"
EDITOR_NOTEBOOK = NOTEBOOK_DIR / "03_editor.ipynb"


def voila_env(base: dict | None = None) -> dict:
    """Environment for the Voila server and its kernels: our template first on ``JUPYTER_PATH``, and
    the repository root on ``PYTHONPATH`` so the kernel imports this checkout's ``gridsim``."""
    env = dict(os.environ if base is None else base)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(SHARE_DIR), env.get("JUPYTER_PATH", "")) if p)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def voila_command(notebook: str | Path = EDITOR_NOTEBOOK, port: int = 8866, ip: str = "127.0.0.1",
                  open_browser: bool = False) -> list[str]:
    """The command line that serves ``notebook`` with the offline template (Python of this process)."""
    cmd = [sys.executable, "-m", "voila", str(notebook), f"--port={int(port)}", f"--Voila.ip={ip}",
           f"--template={TEMPLATE}", "--theme=light", "--show_tracebacks=True"]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gridsim.editor.serve",
        description="以 Voila 应用方式打开网格编辑器（离线）(serve the grid editor as an offline Voila app)")
    parser.add_argument("--notebook", default=str(EDITOR_NOTEBOOK), help="编辑器笔记本 (editor notebook)")
    parser.add_argument("--port", type=int, default=8866, help="端口 (port)")
    parser.add_argument("--ip", default="127.0.0.1", help="监听地址 (address to listen on)")
    parser.add_argument("--open", action="store_true", help="打开浏览器 (open a browser)")
    args = parser.parse_args(argv)
    cmd = voila_command(args.notebook, args.port, args.ip, args.open)
    os.execve(cmd[0], cmd, voila_env())  # become the Voila server, so stopping this process stops it


if __name__ == "__main__":
    raise SystemExit(main())
