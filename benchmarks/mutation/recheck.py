"""Re-check the survivors of the last ``mutmut run`` against the tests as they are now (``make mutate-recheck``).

A mutmut run takes hours; tests written while it runs, to kill the survivors it has reported so far, are not in
its verdicts. For each survivor this applies the mutant to the source (``mutmut apply``), runs the test files of
its module, records ``killed`` or ``survived`` in ``benchmarks/mutation/recheck.csv``, and puts the module's
source back as it was. Run from the repository root after ``mutmut run``; arguments restrict it to some
modules (``recheck.py pay plan_rules``) or mutants (``recheck.py gridsim.budget.x__bands__mutmut_78``), and ``--out FILE`` writes elsewhere (to run shards side by side in copies
of the tree, then concatenate). The verdicts already in the output file for mutants not re-checked are kept.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from summarize import results  # this folder is on sys.path when the script runs

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent

#: the test files that check each rule module (fast ones; the mutmut run's selection is in pyproject.toml)
TESTS = {
    "pay": ["tests/test_pay.py", "tests/test_money_exact.py"],
    "grid_rules": ["tests/test_plan.py", "tests/test_oracles.py"],
    "plan_rules": ["tests/test_plan.py", "tests/test_oracles.py"],
    "budget": ["tests/test_budget.py", "-k", "not cli"],  # the CLI tests print what these already check
    "assessment": ["tests/test_assessment.py", "tests/test_money_exact.py", "tests/test_assessment_contract.py"],
    "policy": ["tests/test_policy.py", "tests/test_scenarios_exact.py", "tests/test_policy_files.py"],
    "visits": ["tests/test_visits.py", "tests/test_pay.py", "tests/test_workload.py", "tests/test_money_exact.py"],
}


def survivors() -> list[str]:
    """The mutants the last run saw survive (read as :func:`summarize.results` reads the run)."""
    return [r["mutant"] for r in results() if r["status"] == "survived"]


def main(argv: list[str]) -> int:
    out = HERE / "recheck.csv"
    if "--out" in argv:
        i = argv.index("--out")
        out, argv = Path(argv[i + 1]), argv[:i] + argv[i + 2:]
    names = {a for a in argv if "." in a}  # mutant names, e.g. gridsim.budget.x__bands__mutmut_78
    modules = set(argv) - names or set(TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows = []
    for name in survivors():
        module = name.split(".")[1]
        if module not in modules or (names and name not in names):
            continue
        source = ROOT / "gridsim" / f"{module}.py"
        pristine = source.read_bytes()
        try:
            applied = subprocess.run([sys.executable, "-m", "mutmut", "apply", name], cwd=ROOT, capture_output=True)
            if applied.returncode != 0 or source.read_bytes() == pristine:
                status = "not applied"
            else:
                run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o",
                                      "addopts=", *TESTS[module]], cwd=ROOT, env=env, capture_output=True)
                status = "survived" if run.returncode == 0 else "killed"
        finally:
            source.write_bytes(pristine)
        rows.append({"mutant": name, "status": status})
        print(f"{status:11s} {name}", flush=True)
    if out.exists():  # keep the recorded verdicts of mutants not re-checked now (other modules, earlier runs)
        with open(out, newline="", encoding="utf-8") as f:
            done = {r["mutant"] for r in rows}
            rows = [r for r in csv.DictReader(f) if r["mutant"] not in done] + rows
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["mutant", "status"])
        w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
