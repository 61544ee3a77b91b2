"""Shared fixtures: the embedded register is read once per session (it is validated on read)."""

from __future__ import annotations

import pytest


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
