"""A cases register of another map: one error naming the file, the field and every unknown grid (up to 50)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.errors import InputError
from gridsim.pay import observed_cases


def _cases(grids, source=None):
    n = len(grids)
    c = pd.DataFrame({"grid_id": grids, "date": pd.to_datetime(["2024-01-15"] * n),
                      "on_time": [True] * n, "quality": [90] * n})
    if source:
        c.attrs["source"] = source
    return c


def test_cases_of_unknown_grids_name_file_field_and_grids():
    periods = pd.period_range("2024-01", periods=1, freq="M")
    unknown = [f"x{i:03d}" for i in range(60)]
    with pytest.raises(InputError) as err:
        observed_cases(_cases(["g1"] + unknown, "cases_2024.csv"), pd.Index(["g1"]), periods)
    e = err.value
    assert e.source == "cases_2024.csv" and e.headline == "办件数据与网格方案不一致 (cases do not match the plan)"
    assert len(e.problems) == 50  # the first 50, sorted
    p = e.problems[0]
    assert (p.file, p.row, p.field, p.value) == ("cases_2024.csv", None, "grid_id（网格编号）", "x000")
    assert p.message == "办件所属网格不在方案中 (case grid not in plan)"
    assert [q.value for q in e.problems] == unknown[:50]
    with pytest.raises(InputError) as err:  # no file name known: "cases"
        observed_cases(_cases(["zz"]), pd.Index(["g1"]), periods)
    assert err.value.source == "cases" and err.value.problems[0].file == "cases"


def test_observed_counts_are_floats_of_the_register():
    periods = pd.period_range("2024-01", periods=1, freq="M")
    c = _cases(["g1", "g1", "g2"])
    c["on_time"] = [True, False, True]
    c["quality"] = [90, 70, 80]
    out = observed_cases(c, pd.Index(["g1", "g2"]), periods)
    assert out["n"].tolist() == [[2.0], [1.0]] and out["on_time"].tolist() == [[1.0], [1.0]]
    assert out["quality_sum"].tolist() == [[160.0], [80.0]] and out["quality_sum"].dtype == np.float64
