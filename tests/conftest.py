"""Shared fixtures: the embedded register is read once per session (it is validated on read).

Hypothesis profiles: ``ci`` (the default) is derandomized — the same examples on every run and machine,
so a failure in CI is a failure on the next run too; ``dev`` (``HYPOTHESIS_PROFILE=dev``) draws fresh
random examples, ten times as many, for a longer local search for counterexamples. Property tests that
state no ``max_examples`` of their own take the profile's.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=10, print_blob=True)
settings.register_profile("dev", derandomize=False, deadline=None, max_examples=100, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _fresh_policy_under_mutmut():
    """Under mutmut (``make mutate``) each mutant's tests run in a process forked from one that has already
    loaded the baseline policy with the unmutated code, and its coverage pass sees only the first test that
    loads it; forget the loaded baseline before every test, so each test parses the policy the mutant made."""
    if "MUTANT_UNDER_TEST" in os.environ:
        from gridsim.policy import load_baseline

        load_baseline.cache_clear()
    yield


@pytest.fixture(scope="session")
def shihe_homes():
    from gridsim.registers import read_homes

    return read_homes()


@pytest.fixture(scope="session")
def baseline():
    from gridsim.policy import load_policy

    return load_policy()


@pytest.fixture(scope="session")
def registered():
    """The reading that counts a village's 户 by registered households (not houses): unit tests of plan and
    editor mechanics on villages of a few many-household homes use it so their numbers stay readable."""
    from gridsim.policy import load_policy

    return load_policy("village_registered_households")
