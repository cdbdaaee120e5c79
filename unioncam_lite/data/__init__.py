"""Images and data sets: reading photographs (images), the ImageNet-val and VOC2007 layouts
(datasets, their annotation files in annotations), one evaluation image as the model sees it
(samples: subset, resize, box masks), and the synthetic shapes with exact object masks (shapes).

May import: nothing else of the package at run time (``ModelSpec`` only for type hints), so
that :mod:`unioncam_lite.models` can build on it.
"""
