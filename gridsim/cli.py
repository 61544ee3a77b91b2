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
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
