"""Faithfulness and localisation metrics for CAMs, batched on the model's device.

Holds: faithfulness (Average Drop/Increase, insertion/deletion), localisation (pointing game,
background energy, object recall, IoU), map_scores (every localisation score of any map, e.g.
UnionCAM's L_den, L_reg, L_fused and the baselines, on the same images), statistics (paired
differences, percentile bootstrap intervals), similarity (Spearman, SSIM) and sanity (Adebayo et
al.'s cascading randomisation and random-label control), imputation (ROAD's noisy linear
imputation) and road_metric (ROAD).

* Average Drop / Average Increase (Chattopadhay et al., WACV 2018, Sec. 6.1), as the
  UnionCAM paper uses them: y_c is the softmax probability of class c on the image, o_c on
  the image multiplied by the map in pixel space,
  ``AD = 100/N Σ max(0, y_c − o_c)/y_c`` and ``AI = 100/N Σ 1[y_c < o_c]``. The probability as
  f_c is the course's choice: the paper writes y_c = f_c(I0) ∈ ℝ, a score (its Figure 1 says
  "class confidence"); the probability keeps y_c in (0, 1], so a drop is a fraction and
  comparable across images, and it is the f_c of UnionCAM's β (Eq. 4-7) by default.
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
  Σ L·mask / Σ L; background energy 1 − that. Object recall at a threshold: |{L ≥ t} ∩ mask| / |mask|.
  IoU at a threshold: |{L ≥ t} ∩ mask| / |{L ≥ t} ∪ mask|.
* ROAD (Rong et al., ICML 2022): the most (MoRF) or least (LeRF) relevant p % of the pixels
  removed and filled in by noisy linear imputation from their neighbours, in pixel space, for
  p = 10, 20, ..., 90; per image the mean probability of class c over p for MoRF (lower is
  better), for LeRF (higher is better) and LeRF − MoRF (higher is better). See :func:`road`.

May import: torch, torchvision, numpy, scipy (inside the ROAD imputation only), and the cams layer
(sanity computes every registered method's maps).
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
from .localisation import background_energy, box_mask, energy_pointing_game, iou_at_threshold, object_recall
from .map_scores import localisation_names, localisation_scores, score_maps
from .road_metric import ROAD_PERCENTAGES, removal_orders, road
from .sanity import SanityResult, cascading_randomization, random_labels, sanity_check, weight_layers
from .similarity import spearman, ssim
from .statistics import Interval, PairedComparison, bootstrap_ci, paired_bootstrap, paired_differences

__all__ = ["INCREASE_TOL", "NEIGHBOUR_WEIGHTS", "ROAD_NOISE", "ROAD_PERCENTAGES", "Interval", "PairedComparison",
           "SanityResult", "average_drop_increase", "background_energy", "bootstrap_ci", "box_mask",
           "cascading_randomization", "drop_increase_per_image", "energy_pointing_game", "insertion_deletion",
           "iou_at_threshold", "linear_imputation", "localisation_names", "localisation_scores",
           "noisy_linear_imputation", "object_recall", "paired_bootstrap", "paired_differences", "random_labels",
           "removal_orders", "rise_blur", "rise_kernel", "road", "sanity_check", "score_maps", "spearman", "ssim",
           "weight_layers"]
