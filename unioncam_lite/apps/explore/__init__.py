"""The interactive explorer of notebook 07 and ``make app``: :class:`Explorer` (model, images,
caches, figures; :mod:`.explorer`) and :class:`ExplorerApp` (its ipywidgets, worker thread and
busy state; :mod:`.widgets`). Notebooks import every name from here."""
from .explorer import Explorer, decode_upload
from .widgets import ExplorerApp, upload_items, upload_sizes

__all__ = ["Explorer", "ExplorerApp", "decode_upload", "upload_items", "upload_sizes"]
