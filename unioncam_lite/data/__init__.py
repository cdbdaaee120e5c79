"""Images and data sets: reading photographs (images), the ImageNet-val and VOC2007 layouts
(datasets, their annotation files in annotations), one evaluation image as the model sees it
(samples: subset, resize, box masks), and the synthetic shapes with exact object masks (shapes).

``bundled/`` holds the files the package ships (package data, so ``pip install unioncam-lite`` has
them as a checkout does): six photographs, the shapes models' weights and training records, and a
README with their sources and licences (:data:`.images.DATA_DIR`).

May import: nothing else of the package at run time (``ModelSpec`` only for type hints), so
that :mod:`unioncam_lite.models` can build on it.
"""
