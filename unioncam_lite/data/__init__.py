"""Images and data sets: reading photographs, the ImageNet-val and VOC2007 layouts, and the
synthetic shapes with exact object masks.

May import: nothing else of the package at run time (``ModelSpec`` only for type hints), so
that :mod:`unioncam_lite.models` can build on it.
"""
