"""Every method × every metric over a data set: ImageNet validation, VOC 2007, a folder of
photographs, or generated shapes images (``python -m unioncam_lite evaluate``, or :func:`run`).

A run writes ``results.csv`` (one row per image and method, appended and flushed as each image
is done), then ``results.md`` (the mean per method, and over how many images) and ``results.png``
(a seaborn bar chart), both atomically, and ``results.run.json`` (the settings of the run). It
resumes, and shards over ``torchrun`` ranks (see :mod:`.runner`).

* :mod:`.items`: the images, loaded lazily (:class:`Item`);
* :mod:`.sources`: which images and methods (data sets, folders, shapes), checked up front;
* :mod:`.scoring`: the per-image metrics of each method's maps (the rows);
* :mod:`.results`: the CSV, the settings record, the check of the results path;
* :mod:`.summary`: the mean per method as a markdown table and a bar chart;
* :mod:`.runner`: :class:`EvaluateConfig` and :func:`run` (resume, torchrun, Ctrl-C).
"""
from .items import Item, photo_items, sample_items, shapes_items
from .results import SIBLINGS, ResultsCSV, check_out, check_settings
from .runner import EvaluateConfig, run
from .scoring import BOX_METRICS, COLUMNS, box_metrics, evaluate_batch, evaluate_items, map_metrics
from .sources import DATASETS, Source, check_methods, parse_methods, select_source
from .summary import markdown_table, summarise, write_summary

__all__ = ["BOX_METRICS", "COLUMNS", "DATASETS", "SIBLINGS", "EvaluateConfig", "Item", "ResultsCSV", "Source",
           "box_metrics", "check_methods", "check_out", "check_settings", "evaluate_batch", "evaluate_items",
           "map_metrics", "markdown_table", "parse_methods", "photo_items", "run", "sample_items", "select_source",
           "shapes_items", "summarise", "write_summary"]
