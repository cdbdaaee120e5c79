"""``evaluate``: every method × every metric over a data set, a folder of photographs or
generated shapes images (:mod:`unioncam_lite.apps.evaluation`), resumable and shardable with
``torchrun``; ``--out`` and the data are checked before the model loads."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .arguments import positive_int


def register(sub: Any) -> None:
    """Add the ``evaluate`` parser to the subcommands ``sub``."""
    from ...cams import default_methods
    from ...data.datasets import RESIZE_MODES
    from ..evaluation import DATASETS

    p = sub.add_parser("evaluate", help="every method × every metric over a data set, a folder or generated shapes",
                       description="Every method × every metric over a data set, a folder of photographs or "
                                   "generated shapes images: a results CSV (resumed when it exists), its summary "
                                   "table (.md), a bar chart (.png) and the run's settings (.run.json). "
                                   "Under torchrun the images are shared among the processes.")
    p.add_argument("--model", default="efficientnet_lite0",
                   help="efficientnet_lite0 (default), vgg16 (the paper's), shapes_cnn or any torchvision classifier")
    p.add_argument("--layer", default=None, help="target layer, dotted name (default: the model's)")
    p.add_argument("--methods", default=",".join(default_methods()),
                   help="comma-separated method names (default: %(default)s)")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="ImageNet validation or PASCAL VOC 2007 on your disk (with --root)")
    p.add_argument("--root", default=None, help="the folder that holds the --dataset")
    p.add_argument("--split", default="test", help="VOC 2007 split, ImageSets/Main/<split>.txt (default test)")
    p.add_argument("--images", default=None, help="a folder of photographs (default: the bundled ones), or 'shapes'")
    p.add_argument("--masks", default=None,
                   help="with --images DIR: a folder of one object mask per photograph, same name stem "
                        "(cat.jpg -> MASKS/cat.png), non-zero pixels = object, on the photograph's own pixels: "
                        "the ground truth of the energy pointing game and IoU@0.5")
    p.add_argument("--num-images", dest="n", type=positive_int, default=None,
                   help="random subset of a --dataset (drawn with --seed, the paper: 2000), the first N photos "
                        "of a folder, or N generated shapes images (default: all; 500 shapes)")
    p.add_argument("--seed", type=int, default=1000, help="seed of the random subset / the shapes images (1000)")
    p.add_argument("--resize", choices=tuple(RESIZE_MODES), default=None,
                   help="; ".join(f"{k}: {v}" for k, v in RESIZE_MODES.items())
                   + " (default: stretch for --dataset, fit for --images)")
    p.add_argument("--steps", type=positive_int, default=50, help="insertion/deletion steps")
    p.add_argument("--theta", type=float, default=10.0, help="UnionCAM's θ")
    p.add_argument("--normalize", choices=("model", "none"), default="model",
                   help="the model's input: 'model' (default) normalises the [0, 1] pixels with the mean/std its "
                        "weights were trained with (ImageNet's for vgg16), which pretrained weights need; 'none' "
                        "feeds the [0, 1] pixels as they are, the paper's input (its §4.1: no other preprocessing)")
    p.add_argument("--region-weights", choices=("paper", "softmax"), default=None,
                   help="the region map's channel weights for scorecam and unioncam: 'paper' = f_c(M_k ⊙ I0) "
                        "(UnionCAM §3.2, the original Score-CAM code), 'softmax' = Score-CAM's softmax of logit "
                        "gains (default: each method's own, paper for unioncam, softmax for scorecam)")
    p.add_argument("--out", type=Path, default=Path("outputs/results.csv"),
                   help="results CSV (resumed when it exists); .md, .png and .run.json next to it")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA if available)")
    p.set_defaults(run=evaluate)


def evaluate(args: argparse.Namespace) -> int:
    """Check θ, the methods and ``--out``, then :func:`~unioncam_lite.apps.evaluation.run` (0, or 130 on Ctrl-C)."""
    from ...cams.common import check_theta
    from ..evaluation import EvaluateConfig, check_out, parse_methods, run

    check_theta(args.theta)
    methods = parse_methods(args.methods)
    out = check_out(args.out, what="--out")
    return run(EvaluateConfig(out=out, model=args.model, layer=args.layer, methods=tuple(methods),
                              dataset=args.dataset, root=args.root, split=args.split, images=args.images, n=args.n,
                              seed=args.seed, resize=args.resize, masks=args.masks, steps=args.steps, theta=args.theta,
                              device=args.device, normalize=args.normalize, region_weights=args.region_weights))
