"""Small inputs while nbgrader grades a notebook, so one submission autogrades in seconds.

``nbgrader autograde`` runs every cell of a submission, the expensive ones too (the region map's
hundreds of masked passes on a 224×224 photograph). nbgrader sets the environment variable
``NBGRADER_EXECUTION`` to ``"autograde"`` (and to ``"validate"`` for ``nbgrader validate`` and
the Validate button) while it runs a notebook; :func:`autograding` reads it, and
:func:`small_while_autograding` then gives the notebook a downscaled copy of its images
(:data:`GRADING_SIZE` pixels a side) and :func:`small_pictures_while_autograding` the pictures
drawn under the maps. The graded cells never depend on it: the checkers run on
their own inputs (:mod:`.exercises`, :mod:`.hidden_inputs`). A learner and ``make test`` never
set the variable, so they see the full-size images; to try the grading path by hand, run
``NBGRADER_EXECUTION=autograde jupyter nbconvert --execute ...``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: the side of the images while autograding: the notebooks' cells run ~12× fewer pixels than at 224
GRADING_SIZE = 64


def autograding() -> bool:
    """True while nbgrader executes the notebook (``NBGRADER_EXECUTION`` is ``autograde`` or ``validate``)."""
    return os.environ.get("NBGRADER_EXECUTION", "") in ("autograde", "validate")


def small_while_autograding(x: torch.Tensor, size: int = GRADING_SIZE) -> torch.Tensor:
    """``x`` (N, C, H, W) itself, or while :func:`autograding` resized to ``size``×``size`` (bilinear,
    antialiased: the same picture, fewer pixels)."""
    if not autograding() or tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def small_pictures_while_autograding(pictures: Sequence[np.ndarray], size: int = GRADING_SIZE) -> list[np.ndarray]:
    """The pictures (H, W, 3 uint8) drawn under the maps, resized like :func:`small_while_autograding`'s
    images while autograding (so maps and pictures keep the same size), else unchanged."""
    if not autograding():
        return list(pictures)
    from PIL import Image

    return [np.asarray(Image.fromarray(np.asarray(p)).resize((size, size), Image.Resampling.BILINEAR))
            for p in pictures]
