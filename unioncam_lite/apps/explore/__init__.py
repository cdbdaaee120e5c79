"""The interactive explorer of notebook 07 and ``make app``: :class:`Explorer` (model, images,
caches, figures; :mod:`.explorer`, :mod:`.figures`) and :class:`ExplorerApp` (its ipywidgets,
worker thread, status line and progress bar; :mod:`.widgets`, :mod:`.status`, :mod:`.progress`);
uploads are read by :mod:`.uploads`. Notebooks import every name from here."""
from .explorer import PREVIEW_TOP_K, Explorer
from .progress import PassProgress
from .uploads import decode_upload, upload_items, upload_sizes
from .widgets import ExplorerApp

__all__ = ["Explorer", "ExplorerApp", "PREVIEW_TOP_K", "PassProgress", "decode_upload", "upload_items",
           "upload_sizes"]
