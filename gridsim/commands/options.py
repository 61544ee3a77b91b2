"""Checked option types shared by the subcommands: a bad value is an argparse error (exit 2) that says,
in Chinese and English, what the option needs, instead of a crash deep inside the run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import GridsimError


def whole(minimum: int):
    """An argparse ``type``: a whole number at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"须为整数 (must be a whole number): {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"须为不小于 {minimum} 的整数 (must be a whole number >= {minimum}): {text!r}")
        return value

    parse.__name__ = f"whole>={minimum}"
    return parse


def seconds(text: str) -> float:
    """An argparse ``type``: a finite number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"须为秒数 (must be a number of seconds): {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"须为大于0的有限秒数 (must be a finite number of seconds > 0): {text!r}")
    return value


def check_scenario(value: str | None, option: str = "--scenario") -> None:
    """A scenario is an id or a YAML file; a folder is a mistake named here, not an internal error."""
    if value is not None and Path(value).is_dir():
        raise GridsimError(f"{option} 应为情景 id 或 YAML 文件，而不是目录 (must be a scenario id or a YAML file, "
                           f"not a folder): {value}")
