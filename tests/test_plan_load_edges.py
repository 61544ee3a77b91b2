"""Opening a plan from GeoPackage grid polygons when a home lies on the edge two grids share.

A point on a shared edge touches both polygons; the editor gives it to the polygon drawn first in the
file (the order a planner sees in QGIS), never to whichever the spatial index returns last.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridsim.editor.model import EditorModel
from gridsim.graph import graph_from_edges
from gridsim.plan import Plan

X0, Y0 = 395000.0, 3524000.0  # EPSG:4548 metres, inside the Shihe area


@pytest.fixture
def lane(registered):
    """Six homes 50 m apart; h4 sits exactly on x = X0 + 200, the edge the two squares below share."""
    df = pd.DataFrame({"home_id": [f"h{i}" for i in range(1, 7)], "unit_id": "v1", "unit_type": "village",
                       "households": 50, "resident_households": 40, "key_households": 1})
    df["x"], df["y"] = X0 + 50.0 * np.arange(1, 7), Y0
    homes = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x"], df["y"]), crs="EPSG:4548")
    edges = pd.DataFrame({"home_a": [f"h{i}" for i in range(1, 6)], "home_b": [f"h{i}" for i in range(2, 7)]})
    plan = Plan(homes, graph_from_edges(homes, edges), ["A", "A", "A", "B", "B", "B"], registered)
    return EditorModel(plan, unit="v1")


@pytest.mark.parametrize("order", [["A", "B"], ["B", "A"]])
def test_a_home_on_a_shared_edge_goes_to_the_polygon_drawn_first(lane, tmp_path, order):
    squares = {"A": shapely.box(X0, Y0 - 50, X0 + 200, Y0 + 50), "B": shapely.box(X0 + 200, Y0 - 50, X0 + 400, Y0 + 50)}
    path = tmp_path / "grids.gpkg"
    gpd.GeoDataFrame({"grid_id": order}, geometry=[squares[g] for g in order], crs="EPSG:4548").to_file(
        path, layer="grids", engine="pyogrio")
    lane.load(path)
    got = lane.plan.assignment.to_numpy(object).tolist()
    assert got[:3] == ["A"] * 3 and got[4:] == ["B"] * 2  # inside one square: no doubt
    assert got[3] == order[0]  # on the shared edge: the first polygon drawn
