"""Faithfulness and localisation metrics for CAMs, batched on the model's device.

Holds: faithfulness (Average Drop/Increase, insertion/deletion), localisation (pointing game,
IoU), imputation (ROAD's noisy linear imputation) and road_metric (ROAD).

* Average Drop / Average Increase (Chattopadhay et al., WACV 2018, Sec. 6.1), as the
  UnionCAM paper uses them: y_c is the softmax probability of class c on the image, o_c on
  the image multiplied by the map in pixel space,
  ``AD = 100/N Σ max(0, y_c − o_c)/y_c`` and ``AI = 100/N Σ 1[y_c < o_c]``.
* Insertion / Deletion (Petsiuk et al., BMVC 2018, RISE Sec. 4.1): pixels are inserted into
  a blurred copy or deleted to black, in descending saliency order, over ``steps`` equal steps;
  the curve of p_c is integrated with the trapezoid rule over the fraction of pixels in [0, 1].
  The blurred copy is, by default (``blur="rise"``), exactly RISE's code (``evaluation.py``):
  ``gkern(11, 5)``, scipy's ``gaussian_filter`` of an 11×11 delta with σ = 5 (reflect mode,
  truncated at 4σ, so the folded Gaussian sums to 1), one kernel per channel, applied with
  ``conv2d`` and zero padding 5 to the *model input* (so the border fades to the mean colour).
  ``blur="reflect"`` is torchvision's 11×11, σ = 5 Gaussian with reflect padding in pixel space
  (this library's earlier substrate). Deletion goes to black in pixel space, the black image of
  UnionCAM's β; RISE's code deletes to zeros of the model input (the mean colour).
* Energy-based pointing game (Wang et al., Score-CAM, CVPR-W 2020, Sec. 5.2):
  Σ L·mask / Σ L. IoU at a threshold: |{L ≥ t} ∩ mask| / |{L ≥ t} ∪ mask|.
* ROAD (Rong et al., ICML 2022): the most (MoRF) or least (LeRF) relevant p % of the pixels
  removed and filled in by noisy linear imputation from their neighbours, in pixel space, for
  p = 10, 20, ..., 90; per image the mean probability of class c over p for MoRF (lower is
  better), for LeRF (higher is better) and LeRF − MoRF (higher is better). See :func:`road`.

May import: torch, torchvision, numpy, scipy (inside the ROAD imputation only), and the cams layer.
"""
from __future__ import annotations

from .faithfulness import (
    INCREASE_TOL,
    average_drop_increase,
    drop_increase_per_image,
    insertion_deletion,
    rise_blur,
    rise_kernel,
)
from .imputation import NEIGHBOUR_WEIGHTS, ROAD_NOISE, linear_imputation, noisy_linear_imputation
from .localisation import box_mask, energy_pointing_game, iou_at_threshold
from .road_metric import ROAD_PERCENTAGES, removal_orders, road

__all__ = ["INCREASE_TOL", "NEIGHBOUR_WEIGHTS", "ROAD_NOISE", "ROAD_PERCENTAGES", "average_drop_increase",
           "box_mask", "drop_increase_per_image", "energy_pointing_game", "insertion_deletion", "iou_at_threshold",
           "linear_imputation", "noisy_linear_imputation", "removal_orders", "rise_blur", "rise_kernel", "road"]
