"""Generated registers for testing and benchmarking the optimizer on units it has never seen.

Villages are hamlets (村民组) of 1-3-household houses scattered around centres; communities are compounds
(小区) of apartment buildings on small lattices. Unit outlines vary (``blob``, ``strip``, ``ring``) so
the adjacency is not always a compact disc. Today's grids (``current_grid_id``) are chunks of a group,
smaller than the 2024 floors, as in the embedded data. Everything is drawn from the given generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SHAPES = ("blob", "strip", "ring")
#: where generated units sit (metres, EPSG:4548, near 叶集): inside the CRS's area of use, so a generated
#: register written to CSV reads back with ``--crs EPSG:4548``; ``origin`` arguments offset from here
ORIGIN = (395_900.0, 3_525_750.0)


def _centres(rng: np.random.Generator, k: int, shape: str, scale: float, min_gap: float) -> np.ndarray:
    out: list[tuple[float, float]] = []
    tries = 0
    while len(out) < k and tries < 20000:
        tries += 1
        if shape == "strip":
            c = (rng.uniform(0, scale * k ** 0.5 * 2.5), rng.uniform(0, scale * 0.6))
        elif shape == "ring":
            ang = rng.uniform(0, 2 * np.pi)
            r = scale * k ** 0.5 * rng.uniform(0.8, 1.0)
            c = (r * np.cos(ang), r * np.sin(ang))
        else:
            c = tuple(rng.uniform(0, scale * k ** 0.5, size=2))
        if all(np.hypot(c[0] - x, c[1] - y) >= min_gap for x, y in out):
            out.append(c)
    return np.array(out)


def village(rng: np.random.Generator, unit_id: str, groups: int, shape: str = "blob",
            group_households: tuple[int, int] = (45, 130), origin=(0.0, 0.0)) -> pd.DataFrame:
    """One village: ``groups`` hamlets of 1-3-household houses."""
    rows = []
    stay = rng.uniform(0.5, 0.75)
    for k, (cx, cy) in enumerate(_centres(rng, groups, shape, 450.0, 380.0), start=1):
        gid = f"{unit_id}-z{k:02d}"
        target = int(rng.integers(*group_households))
        sigma = rng.uniform(45, 90)
        got, h, grid, acc = 0, 0, 1, 0
        while got < target:
            h += 1
            hh = int(rng.choice([1, 2, 3], p=[0.68, 0.24, 0.08]))
            if acc + hh > 70:
                grid, acc = grid + 1, 0
            acc += hh
            rows.append({"home_id": f"{gid}-h{h:03d}", "unit_id": unit_id, "unit_type": "village",
                         "households": hh, "resident_households": int(rng.binomial(hh, stay)),
                         "group_id": gid, "current_grid_id": f"{gid}-c{grid}",
                         "x": ORIGIN[0] + origin[0] + cx + rng.normal(0, sigma),
                         "y": ORIGIN[1] + origin[1] + cy + rng.normal(0, sigma)})
            got += hh
    return pd.DataFrame(rows)


def community(rng: np.random.Generator, unit_id: str, compounds: int, shape: str = "blob",
              origin=(0.0, 0.0)) -> pd.DataFrame:
    """One community: ``compounds`` compounds of 3-30 buildings of 12-200 flats."""
    rows = []
    for k, (cx, cy) in enumerate(_centres(rng, compounds, shape, 300.0, 230.0), start=1):
        gid = f"{unit_id}-xq{k:02d}"
        era = rng.choice(["old", "mid", "new"], p=[0.5, 0.32, 0.18])
        if era == "old":
            n_bld, lo, hi, occ = int(rng.integers(8, 25)), 12, 37, rng.uniform(0.82, 0.95)
        elif era == "mid":
            n_bld, lo, hi, occ = int(rng.integers(4, 10)), 44, 120, rng.uniform(0.7, 0.9)
        else:
            n_bld, lo, hi, occ = int(rng.integers(3, 7)), 100, 201, rng.uniform(0.45, 0.75)
        ncol = int(np.ceil(np.sqrt(n_bld)))
        grid, acc = 1, 0
        for b in range(n_bld):
            hh = int(rng.integers(lo, hi))
            if acc and acc + hh > 220:
                grid, acc = grid + 1, 0
            acc += hh
            rows.append({"home_id": f"{gid}-b{b + 1:02d}", "unit_id": unit_id, "unit_type": "community",
                         "households": hh, "resident_households": int(rng.binomial(hh, occ)),
                         "group_id": gid, "current_grid_id": f"{gid}-c{grid}",
                         "x": ORIGIN[0] + origin[0] + cx + (b % ncol) * 38.0 + rng.normal(0, 3),
                         "y": ORIGIN[1] + origin[1] + cy + (b // ncol) * 34.0 + rng.normal(0, 3)})
    return pd.DataFrame(rows)


def register(seed: int, villages: int = 3, communities: int = 3) -> pd.DataFrame:
    """A whole generated register: several villages and communities of varied size and shape, laid
    out far apart, with ``key_households`` drawn among the resident ones."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(villages):
        parts.append(village(rng, f"gv{i + 1}", int(rng.integers(6, 18)), SHAPES[int(rng.integers(3))],
                             origin=(20000.0 * i, 0.0)))
    for i in range(communities):
        parts.append(community(rng, f"gc{i + 1}", int(rng.integers(3, 9)), SHAPES[int(rng.integers(3))],
                               origin=(20000.0 * i, 30000.0)))
    homes = pd.concat(parts, ignore_index=True)
    homes["key_households"] = rng.binomial(homes["resident_households"].to_numpy(), 0.08)
    return homes
