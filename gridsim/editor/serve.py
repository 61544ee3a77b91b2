"""Serve the editor notebook as a Voila app that needs nothing from the internet.

Planners open the editor in a browser on a machine that may be offline (a 街道 office network). Voila's
stock ``lab`` template links Font Awesome from a CDN; the ``gridsim`` template shipped in
``gridsim/editor/share/voila/templates/gridsim`` is that template without the CDN links (the fonts are
bundled in Voila's own static files). Voila finds templates on ``JUPYTER_PATH``, so :func:`voila_env`
puts this package's ``share`` folder first. ipyleaflet's JavaScript comes from its installed lab
extension, served by Voila itself; the map has no tile layer unless the notebook asks for one.

Chinese needs a font the machine may not have: :func:`font_share_dir` puts the packaged CJK font and
its stylesheet (:mod:`gridsim.webfont`) into the template's static files, in a second Jupyter data
folder under the user's cache (the font is 16 MB, copied once), and the template links the
stylesheet, so the browser gets the font from Voila on 127.0.0.1 like everything else.

Run: ``python -m gridsim.editor.serve [--port 8866] [--notebook notebooks/03_editor.ipynb]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from ..paths import NOTEBOOK_DIR, ROOT

SHARE_DIR = Path(__file__).resolve().parent / "share"
TEMPLATE = "gridsim"
EDITOR_NOTEBOOK = NOTEBOOK_DIR / "03_editor.ipynb"
FONT_FILE = "gridsim-cjk.otf"  # served at voila/static/, beside the stylesheet that names it
FONT_CSS = "gridsim-fonts.css"


def _cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gridsim`` (``~/.cache/gridsim``), or a folder in the temporary directory
    where the home folder is not writable (a service account)."""
    import tempfile

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gridsim"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"gridsim-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def font_share_dir(cache: Path | None = None) -> Path:
    """A Jupyter data folder whose ``voila/templates/gridsim/static`` holds the CJK font and its CSS.

    Voila serves every ``static`` folder of the template found on ``JUPYTER_PATH`` at
    ``voila/static/``. The font is copied from ``mplfonts`` when missing or changed (by size), through
    a temporary file, so two servers starting at once never read half a font.
    """
    from ..plotting import cjk_font_path
    from ..webfont import font_face, font_rules

    root = (Path(cache) if cache is not None else _cache_dir()) / "voila-share"
    static = root / "voila" / "templates" / TEMPLATE / "static"
    static.mkdir(parents=True, exist_ok=True)
    src, font = cjk_font_path(), static / FONT_FILE
    if not font.is_file() or font.stat().st_size != src.stat().st_size:
        tmp = font.with_name(f".{FONT_FILE}.{os.getpid()}")
        shutil.copyfile(src, tmp)
        os.replace(tmp, font)
    css = font_face(FONT_FILE, "opentype") + font_rules()
    css_path = static / FONT_CSS
    if not css_path.is_file() or css_path.read_text(encoding="utf-8") != css:
        tmp = css_path.with_name(f".{FONT_CSS}.{os.getpid()}")
        tmp.write_text(css, encoding="utf-8")
        os.replace(tmp, css_path)
    return root


def voila_env(base: dict | None = None) -> dict:
    """Environment for the Voila server and its kernels: our template and its font first on
    ``JUPYTER_PATH``, and the repository root on ``PYTHONPATH`` so the kernel imports this checkout's
    ``gridsim``."""
    env = dict(os.environ if base is None else base)
    paths = (str(SHARE_DIR), str(font_share_dir()), env.get("JUPYTER_PATH", ""))
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in paths if p)
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
