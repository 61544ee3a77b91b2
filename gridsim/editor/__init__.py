"""Interactive grid editor: a plain-Python model (:mod:`.model`) and the ipyleaflet/ipywidgets app
(:mod:`.widgets`) built on it, for JupyterLab and Voila (:mod:`.serve`)."""

from .model import NEW_GRID, EditorModel, MoveCheck

__all__ = ["EditorModel", "MoveCheck", "NEW_GRID", "build_app"]


def build_app(*args, **kwargs):
    """The editor app (see :func:`gridsim.editor.widgets.build_app`); widgets are imported only here so
    the model works without ipywidgets."""
    from .widgets import build_app as _build

    return _build(*args, **kwargs)
