"""The ``gridsim`` command: a thin layer over the library, help in Chinese with English beside it.

Each group of subcommands lives in its own module exposing ``register(subparsers)``; a handler gets
the parsed arguments and returns an exit code. Errors meant for users (:class:`GridsimError`) are
printed without a traceback and exit with 2; set ``GRIDSIM_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except GridsimError as exc:
        if os.environ.get("GRIDSIM_DEBUG"):
            raise
        print(f"错误 (error): {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断 (interrupted)", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so plainly, keep the traceback for GRIDSIM_DEBUG
        if os.environ.get("GRIDSIM_DEBUG"):
            raise
        print(f"内部错误 (internal error): {type(exc).__name__}: {exc}\n"
              "请设置 GRIDSIM_DEBUG=1 重新运行以查看详细信息 (rerun with GRIDSIM_DEBUG=1 for details)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
