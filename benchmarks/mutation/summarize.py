"""Summarise the last ``mutmut run`` (``make mutate``): killed share per module and every surviving mutant.

Reads mutmut's per-file results (``mutants/<module>.meta``) and writes ``benchmarks/mutation/results.csv``
(one row per mutant: module, mutant, status) and ``benchmarks/mutation/summary.md`` (per module: mutants
checked, killed, survived, not run, killed share; then each survivor's diff from ``mutmut show``).
Run from the repository root after ``mutmut run``.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent


def main() -> int:
    rows = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants"))[:-len(".meta")]
        data = json.loads(meta.read_text(encoding="utf-8"))
        for key, code in sorted(data.get("exit_code_by_key", {}).items()):
            rows.append({"module": module, "mutant": key, "status": status_by_exit_code[code]})
    if not rows:
        print("no mutmut results under mutants/: run `mutmut run` first", file=sys.stderr)
        return 1
    with open(HERE / "results.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["module", "mutant", "status"])
        w.writeheader()
        w.writerows(rows)
    lines = ["# Mutation score of the rule modules (mutmut)", "",
             "Written by `benchmarks/mutation/summarize.py` from the last `make mutate`. *Killed share* is killed "
             "(incl. timeouts) / mutants checked; *not run* are mutants the run did not reach (time-boxed) or "
             "that no selected test covers.", "",
             "| module | mutants | checked | killed | survived | not run | killed share |", "|---|---|---|---|---|---|---|"]
    survivors = []
    for module in sorted({r["module"] for r in rows}):
        mine = [r for r in rows if r["module"] == module]
        killed = sum(r["status"] in ("killed", "timeout") for r in mine)
        survived = [r for r in mine if r["status"] == "survived"]
        checked = killed + len(survived)
        share = f"{100 * killed / checked:.1f} %" if checked else "—"
        lines.append(f"| `{module}` | {len(mine)} | {checked} | {killed} | {len(survived)} | {len(mine) - checked} | {share} |")
        survivors += survived
    lines += ["", f"## Surviving mutants ({len(survivors)})", ""]
    for r in survivors:
        diff = subprocess.run([sys.executable, "-m", "mutmut", "show", r["mutant"]], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        lines += [f"### `{r['mutant']}`", "", "```diff", diff, "```", ""]
    (HERE / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:6 + len({r['module'] for r in rows})]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
