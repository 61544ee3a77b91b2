"""Errors that users see: bilingual, naming the file, row and field, never a library traceback.

Every problem found in one input is collected into one :class:`InputError`, so a user fixes a register
in one pass. The CLI prints ``str(error)`` and exits non-zero; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One offending value: where it is and what is wrong with it (Chinese, English beside)."""

    file: str
    row: int | None  # 1-based data row (header excluded); None for file-level problems
    field: str | None
    value: object
    message: str

    def __str__(self) -> str:
        where = [f"文件 file={self.file}"]
        if self.row is not None:
            where.append(f"行 row={self.row}")
        if self.field is not None:
            where.append(f"字段 field={self.field}")
        if self.value is not None:
            where.append(f"值 value={self.value!r}")
        return f"  - {', '.join(where)}: {self.message}"


class GridsimError(Exception):
    """Base of errors meant for users; the CLI shows the message without a traceback."""


@dataclass
class InputError(GridsimError):
    """Bad input: one or more problems, all reported together."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    headline: str = "输入数据校验失败 (input validation failed)"

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.headline}: {self.source}", f"共 {len(self.problems)} 处问题 ({len(self.problems)} problem(s)):"]
        lines += [str(p) for p in self.problems]
        lines.append("未写出任何文件 (nothing was written).")
        return "\n".join(lines)


class PolicyError(GridsimError):
    """A policy or scenario file that cannot be applied (unknown key, wrong type, bad option)."""
