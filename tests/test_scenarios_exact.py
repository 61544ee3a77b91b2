"""Every shipped scenario takes effect exactly as its YAML says: read here with ``yaml.safe_load``, not
through the loader under test, and compared key by key with the policy the loader builds.

A loader that dropped an override, applied only the first, applied one twice under another key, or
changed a key the file does not name would pass "the scenario differs from the baseline" but fails here.
"""

from __future__ import annotations

import pytest
import yaml

from gridsim.paths import SCENARIO_DIR
from gridsim.policy import list_scenarios, load_baseline, load_policy

FILES = sorted(SCENARIO_DIR.glob("*.yaml"))


def _yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_the_shipped_scenarios_are_the_files():
    assert len(FILES) >= 12
    assert sorted(s.id for s in list_scenarios()) == sorted(_yaml(p)["id"] for p in FILES)
    assert sum(len(_yaml(p).get("overrides") or {}) > 1 for p in FILES) >= 1  # "only the first" is visible


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_effective_overrides_equal_the_yaml(path):
    raw = _yaml(path)
    wanted = raw.get("overrides") or {}
    base = load_baseline()
    for by in (raw["id"], path):  # by id and by path
        pol = load_policy(by)
        assert pol.id == raw["id"]
        # every key the file names has exactly the file's value ...
        for key, value in wanted.items():
            assert pol[key] == value and type(pol[key]) is type(base[key]), (path.name, key)
        # ... and nothing else moved: the changes from the baseline are exactly the file's
        assert pol.overridden() == {k: (base[k], v) for k, v in wanted.items()}, path.name
        assert dict(pol.scenario.overrides) == wanted
    if raw["id"] != "baseline":
        assert wanted, f"{path.name}: a scenario must change something"
        assert all(base[k] != v for k, v in wanted.items()), f"{path.name}: an override equal to the baseline"


def test_a_scenario_stacked_on_another_keeps_both():
    high = load_policy("high_spend")
    both = high.with_overrides({"pay.base.rounding": "per_full_100"})
    wanted = {**_yaml(SCENARIO_DIR / "high_spend.yaml")["overrides"], "pay.base.rounding": "per_full_100"}
    assert {k: v for k, (_, v) in both.overridden().items()} == wanted
