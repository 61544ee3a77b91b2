"""The ``gridsim`` command: a thin layer over the library, help in Chinese with English beside it.

Each group of subcommands lives in its own module exposing ``register(subparsers)``; a handler gets
the parsed arguments and returns an exit code. Exit codes:

* 0 done; 1 done but ``--strict`` found violations (or a report notebook failed);
* 2 bad input: errors meant for users (:class:`GridsimError`, a bad option) and files that cannot be
  read or written (permission denied, a folder where a file is due, a missing folder), named;
* 3 internal error (a bug): one line, the traceback with ``GRIDSIM_DEBUG=1``;
* 130 interrupted (Ctrl-C): one line, no traceback, also from partition's worker processes, which
  the main process ends (see :func:`_on_sigint`); 141 the reader of our output went away (``gridsim validate … | head -1``):
  quiet, like any Unix tool killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from . import __version__
from .errors import GridsimError

COMMAND_MODULES = (
    "gridsim.commands.data",
    "gridsim.commands.partition",
    "gridsim.commands.budget",
    "gridsim.commands.report",
    "gridsim.commands.template",
    "gridsim.commands.roster",
    "gridsim.commands.sweep",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridsim",
        description="史河街道网格化服务管理：网格划分、经费与考核模拟 "
        "(grid planning, pay and assessment simulation for the Shihe subdistrict plan)",
    )
    parser.add_argument("--version", action="version", version=f"gridsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="命令 (command)")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for p in (parser, *sub.choices.values()):
        _localize(p)
    return parser


def _localize(parser: argparse.ArgumentParser) -> None:
    """Chinese section titles and help for argparse's built-in parts (English kept beside)."""
    parser._positionals.title = "位置参数 (positional arguments)"
    parser._optionals.title = "选项 (options)"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            action.help = "显示帮助并退出 (show this help and exit)"
        elif isinstance(action, argparse._VersionAction):
            action.help = "显示版本并退出 (show the version and exit)"


_interrupted = False


def _on_sigint(signum, frame) -> None:
    """Ctrl-C reaches the whole process group. A worker process (forked by partition's pool) ignores it:
    its parent ends it. The main process ends its workers (the pool then breaks where it is awaited, a
    safe place) or, with no workers, raises KeyboardInterrupt; main() reports either in one line.
    Raising inside a running pool instead can land in the executor's or a fork handler's critical
    section, print tracebacks, and hang the exit on a worker forked just after the signal."""
    global _interrupted
    if os.getpid() != _MAIN_PID:
        return
    _interrupted = True
    import multiprocessing

    workers = multiprocessing.active_children()
    if not workers:
        raise KeyboardInterrupt
    for w in workers:
        w.terminate()


_MAIN_PID = os.getpid()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush to a closed pipe stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    global _MAIN_PID, _interrupted
    _MAIN_PID, _interrupted = os.getpid(), False
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (argparse printed why): its code
        return exc.code if isinstance(exc.code, int) else 2
    previous = signal.getsignal(signal.SIGINT)
    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's exit
        return _interrupt_exit() if _interrupted else code
    except GridsimError as exc:
        if os.environ.get("GRIDSIM_DEBUG"):
            raise
        print(f"错误 (error): {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        return _interrupt_exit()
    except OSError as exc:
        if _interrupted:
            return _interrupt_exit()
        if os.environ.get("GRIDSIM_DEBUG") or exc.filename is None:
            return _internal_error(exc)
        where = exc.filename if exc.filename2 is None else f"{exc.filename} → {exc.filename2}"
        print(f"错误 (error): 无法读写文件 (cannot read or write a file): {where}: {exc.strerror or exc}\n"
              "未写出任何文件 (nothing was written).", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: say so plainly, keep the traceback for GRIDSIM_DEBUG
        if _interrupted:  # e.g. the worker pool broke because Ctrl-C ended its processes first
            return _interrupt_exit()
        return _internal_error(exc)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt_exit() -> int:
    _stop_workers()
    print("已中断 (interrupted)", file=sys.stderr)
    return 130


def _stop_workers() -> None:
    """End worker processes that outlived the interrupt (e.g. forked just after it, so they never saw
    it); otherwise the interpreter waits for them at exit and the command hangs."""
    import multiprocessing

    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=5)


def _internal_error(exc: Exception) -> int:
    if os.environ.get("GRIDSIM_DEBUG"):
        raise exc
    print(f"内部错误 (internal error): {type(exc).__name__}: {exc}\n"
          "请设置 GRIDSIM_DEBUG=1 重新运行以查看详细信息 (rerun with GRIDSIM_DEBUG=1 for details)",
          file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
