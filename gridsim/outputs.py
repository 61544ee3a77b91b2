"""Writing a command's output files safely: never over an input, and a set of files all or nothing.

A plan CSV beside a summary from an earlier run is worse than no output at all, so every command that
writes several files writes them into a temporary folder inside the destination folder (same file
system, so a rename is atomic per file) and moves them into place together at the end, with SIGINT and
SIGTERM held back during the moves. Any error or interrupt before that leaves the destination as it
was and removes the temporary folder (and any folder the command itself created).

    check_outputs([out, summary], inputs=[register, edges], option="--out")
    with staged(out.parent) as stage:
        write_plan(stage.dir / out.name)      # any files, any names
    stage.written                             # final paths, after the block

:func:`check_outputs` runs before the work starts, so a bad ``--out`` is refused at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .errors import GridsimError


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_folder(folder: str | Path, names: Iterable[str], inputs: Iterable[str | Path | None] = (), *,
                        option: str = "--out") -> None:
    """A command that writes the files ``names`` into ``folder``: the folder must not be a file, and each
    file must pass :func:`check_outputs`."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GridsimError(f"输出路径不是目录 (output path is not a directory): {folder}")
    check_outputs([folder / name for name in names], inputs, option=option)


def check_outputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None] = (), *,
                  option: str = "--out") -> None:
    """Refuse outputs that are (or resolve to) an input file, that are folders, or whose folder cannot
    be made or written; raise :class:`GridsimError` naming ``option`` and the path."""
    ins = [Path(p) for p in inputs if p is not None and str(p) != ""]
    for out in map(Path, outputs):
        if str(out) in ("", "."):
            raise GridsimError(f"{option} 须为文件路径 (must be a file path), 得到 got {str(out)!r}")
        for inp in ins:
            if _same_file(out, inp):
                raise GridsimError(f"{option} 会覆盖输入文件 (would overwrite an input file): {out} = {inp}；"
                                   "请换一个输出路径 (choose another output path)。未写出任何文件 (nothing was written).")
        if out.is_dir():
            raise GridsimError(f"{option} 是一个目录，应为文件 (is a folder, not a file): {out}")
        ancestor = out.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise GridsimError(f"{option} 的上级路径不是目录 (a parent of the output path is not a folder): {ancestor}")
        try:  # a real probe (os.access says yes to root even on read-only mounts); leaves no file
            with tempfile.TemporaryFile(dir=ancestor):
                pass
        except OSError as exc:
            raise GridsimError(f"无法在此写入 (cannot write here): {ancestor}: {exc.strerror or exc}（{option} {out}）"
                               "；未写出任何文件 (nothing was written)") from None


@dataclass
class Stage:
    """The temporary folder to write into, and the final paths once the files are in place."""

    dir: Path
    folder: Path
    written: list[Path] = field(default_factory=list)

    def final(self, path: str | Path) -> Path:
        """Where a file written at ``path`` (inside :attr:`dir`) ends up."""
        return self.folder / Path(path).name


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (delivered after the block) where the platform allows it."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def staged(folder: str | Path) -> Iterator[Stage]:
    """A temporary folder inside ``folder``; the files written there move into ``folder`` together when
    the block ends without error. On error or interrupt nothing is moved and nothing is left behind."""
    folder = Path(folder)
    made = folder
    while not made.parent.exists() and made.parent != made:
        made = made.parent  # topmost folder this call creates, removed again on failure
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".gridsim-", dir=folder))
    except OSError as exc:
        if created:
            shutil.rmtree(made, ignore_errors=True)
        raise GridsimError(f"无法在此写入 (cannot write here): {folder}: {exc.strerror or exc}") from None
    stage = Stage(tmp, folder)
    try:
        yield stage
        files = sorted(p for p in tmp.iterdir() if p.is_file())
        with _signals_held():
            for f in files:
                os.replace(f, folder / f.name)
        stage.written = [folder / f.name for f in files]
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            shutil.rmtree(made, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
