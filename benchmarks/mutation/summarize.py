"""Summarise the last ``mutmut run`` (``make mutate``): killed share per module and every surviving mutant.

Reads mutmut's per-file results (``mutants/<module>.meta``) and writes ``benchmarks/mutation/results.csv``
(one row per mutant: module, mutant, status, run) and ``benchmarks/mutation/summary.md`` (per module: the run
its numbers come from, mutants checked, killed, survived, killed on recheck, equivalent, still surviving, not
run, score; the equivalent mutants with their reasons; each still-surviving mutant's diff from ``mutmut show``).
``recheck.csv`` comes from ``recheck.py``; ``equivalent.csv`` (mutant, reason) is written by hand, one argued
line per mutant. Run from the repository root after ``mutmut run``.

A full run takes longer than a session, so runs are time-boxed and started from an empty ``mutants/``: a module
this run checked no mutant of keeps its rows (and its survivors' diffs) from the recorded ``results.csv`` and
``summary.md``, so one run's results are not wiped by the next run's not reaching that module.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from datetime import datetime, timezone

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent


def results() -> list[dict]:
    """One row per mutant of the last run: module, mutant, status (mutmut's ``mutants/<module>.meta``)."""
    rows = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants"))[:-len(".meta")]
        data = json.loads(meta.read_text(encoding="utf-8"))
        for key, code in sorted(data.get("exit_code_by_key", {}).items()):
            rows.append({"module": module, "mutant": key, "status": status_by_exit_code[code]})
    return rows


def run_label() -> str:
    """This run, named by its start: when mutmut wrote the first ``mutants/<module>.meta`` (it writes them all
    when it generates the mutants; an unchanged file's ``.meta`` is not rewritten, so start from an empty
    ``mutants/``)."""
    start = min(meta.stat().st_mtime for meta in (ROOT / "mutants").rglob("*.py.meta"))
    return f"{datetime.fromtimestamp(start, timezone.utc):%Y-%m-%d %H:%M} UTC"


def recorded(rows: list[dict], label: str) -> list[dict]:
    """This run's rows for each module it checked any mutant of (or that no recorded run checked); the recorded
    ``results.csv`` rows, with the run they came from, for every other module."""
    old = []
    if (HERE / "results.csv").exists():
        with open(HERE / "results.csv", newline="", encoding="utf-8") as f:
            old = [{"run": "earlier run", **r} for r in csv.DictReader(f)]
    def checked(some):
        return {r["module"] for r in some if r["status"] != "not checked"}
    keep = checked(old) - checked(rows)
    return [{**r, "run": label} for r in rows if r["module"] not in keep] + [r for r in old if r["module"] in keep]


def main() -> int:
    run = results()
    if not run:
        print("no mutmut results under mutants/: run `mutmut run` first", file=sys.stderr)
        return 1
    label = run_label()
    old_diffs = _recorded_diffs(HERE / "summary.md")
    rows = recorded(run, label)
    with open(HERE / "results.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["module", "mutant", "status", "run"])
        w.writeheader()
        w.writerows(rows)
    recheck = _read_csv(HERE / "recheck.csv", "status")
    equivalent = _read_csv(HERE / "equivalent.csv", "reason")
    lines = ["# Mutation score of the rule modules (mutmut)", "",
             "Written by `benchmarks/mutation/summarize.py` from the last `make mutate`; a module that run did not "
             "reach keeps the numbers of the run named in *run*. *checked*: mutants the run "
             "tested (killed, incl. timeouts, or survived); *not run*: mutants the run did not reach (time-boxed) "
             "or that no selected test covers. A survivor is *killed on recheck* when, applied alone, its module's "
             "test files fail on it (`benchmarks/mutation/recheck.py`: tests written after the run, or tests "
             "mutmut's per-function selection skipped), *equivalent* "
             "when it cannot change any result (reason in `equivalent.csv`). *Score* = (killed + killed on recheck) "
             "/ (checked − equivalent).", "",
             "| module | run | mutants | checked | killed | survived | killed on recheck | equivalent "
             "| still surviving | not run | score |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    remaining = []
    for module in sorted({r["module"] for r in rows}):
        mine = [r for r in rows if r["module"] == module]
        killed = sum(r["status"] in ("killed", "timeout") for r in mine)
        survived = [r for r in mine if r["status"] == "survived"]
        later = [r for r in survived if recheck.get(r["mutant"]) == "killed"]
        same = [r for r in survived if r["mutant"] in equivalent and r not in later]
        left = [r for r in survived if r not in later and r not in same]
        checked = killed + len(survived)
        score = f"{100 * (killed + len(later)) / (checked - len(same)):.1f} %" if checked > len(same) else "—"
        lines.append(f"| `{module}` | {mine[0]['run']} | {len(mine)} | {checked} | {killed} | {len(survived)} "
                     f"| {len(later)} | {len(same)} | {len(left)} | {len(mine) - checked} | {score} |")
        remaining += left
    lines += ["", "## Equivalent mutants", ""]
    lines += [f"- `{name}`: {reason}" for name, reason in sorted(equivalent.items())
              if any(r["mutant"] == name for r in rows)]
    lines += ["", f"## Still surviving ({len(remaining)})", ""]
    for r in remaining:
        if r["run"] == label or r["mutant"] not in old_diffs:
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", r["mutant"]], cwd=ROOT,
                                  capture_output=True, text=True).stdout.strip()
        else:  # an earlier run's mutant: today's mutants/ may number that function's mutants differently
            diff = old_diffs[r["mutant"]]
        lines += [f"### `{r['mutant']}`", "", "```diff", diff, "```", ""]
    (HERE / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:6 + len({r['module'] for r in rows})]))
    return 0


def _recorded_diffs(path: Path) -> dict[str, str]:
    """mutant -> the diff that ``summary.md`` recorded for it ({} when the file is absent)."""
    if not path.exists():
        return {}
    return dict(re.findall(r"^### `([^`]+)`\n\n```diff\n(.*?)\n```$", path.read_text(encoding="utf-8"), re.M | re.S))


def _read_csv(path: Path, column: str) -> dict[str, str]:
    """mutant -> ``column`` of a CSV with a ``mutant`` column ({} when the file is absent)."""
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row["mutant"]: row[column] for row in csv.DictReader(f)}


if __name__ == "__main__":
    raise SystemExit(main())
