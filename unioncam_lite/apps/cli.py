"""Command line: ``python -m unioncam_lite explain IMAGE... [options]`` and ``... evaluate [options]``.

Bad input (missing file, unknown model, bad layer, class out of range, θ outside [0, 100] or not
a number, an ``--out`` that cannot be written, a malformed data set) prints one ``error:`` line
and exits with status 2, never a traceback; outputs are checked before any work.
"""
from __future__ import annotations

import argparse
import sys
import warnings
import time
from pathlib import Path

ERRORS = (ValueError, TypeError, OSError, RuntimeError)


class UsageError(Exception):
    """A command-line argument that argparse rejected (reported as one ``error:`` line)."""


class Parser(argparse.ArgumentParser):
    """argparse without the usage block before errors: one line, which ``main`` prints."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number (give 1 or more)")
    return value


def build_parser() -> argparse.ArgumentParser:
    from ..data.datasets import RESIZE_MODES
    from .evaluate import DATASETS

    parser = Parser(prog="python -m unioncam_lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="UnionCAM and Grad-CAM figures for images")
    explain.add_argument("images", nargs="+", help="image files, or names of bundled samples ('all' for every one)")
    explain.add_argument("--model", default="efficientnet_lite0",
                         help="efficientnet_lite0 (default), vgg16, shapes_cnn or any torchvision classifier (resnet50...)")
    explain.add_argument("--layer", default=None, help="target layer, dotted name (default: the model's)")
    explain.add_argument("--class", dest="class_", default=None,
                         help="class index or ImageNet name (default: the predicted class)")
    explain.add_argument("--theta", type=float, default=10.0, help="denoising percentile θ in [0, 100] (default 10)")
    explain.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder for the figures")
    explain.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA if available)")
    evaluate = sub.add_parser("evaluate", help="every method × every metric over a data set, a folder or generated shapes")
    evaluate.add_argument("--model", default="efficientnet_lite0",
                          help="efficientnet_lite0 (default), vgg16 (the paper's), shapes_cnn or any torchvision classifier")
    evaluate.add_argument("--layer", default=None, help="target layer, dotted name (default: the model's)")
    evaluate.add_argument("--methods", default=",".join(METHODS_DEFAULT), help="comma-separated method names")
    evaluate.add_argument("--dataset", choices=DATASETS, default=None,
                          help="ImageNet validation or PASCAL VOC 2007 on your disk (with --root)")
    evaluate.add_argument("--root", default=None, help="the folder that holds the --dataset")
    evaluate.add_argument("--split", default="test", help="VOC 2007 split, ImageSets/Main/<split>.txt (default test)")
    evaluate.add_argument("--images", default=None, help="a folder of photographs (default data/images), or 'shapes'")
    evaluate.add_argument("--num-images", dest="n", type=positive_int, default=None,
                          help="random subset of a --dataset (drawn with --seed, the paper: 2000), the first N photos "
                               "of a folder, or N generated shapes images (default: all; 500 shapes)")
    evaluate.add_argument("--seed", type=int, default=1000, help="seed of the random subset / the shapes images (1000)")
    evaluate.add_argument("--resize", choices=tuple(RESIZE_MODES), default=None,
                          help="; ".join(f"{k}: {v}" for k, v in RESIZE_MODES.items())
                          + " (default: stretch for --dataset, fit for --images)")
    evaluate.add_argument("--steps", type=positive_int, default=50, help="insertion/deletion steps")
    evaluate.add_argument("--theta", type=float, default=10.0, help="UnionCAM's θ")
    evaluate.add_argument("--out", type=Path, default=Path("outputs/results.csv"),
                          help="results CSV (resumed when it exists); .md, .png and .run.json next to it")
    evaluate.add_argument("--device", default=None)
    return parser


METHODS_DEFAULT = ("gradcam", "gradcampp", "xgradcam", "layercam", "scorecam", "unioncam")


def explain(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from ..cams import UnionCAM, gradcam
    from ..cams.common import check_theta
    from ..data.images import load_image, sample_images
    from ..models import load_model, resolve_layer
    from ..outputs import check_output_dir, save_figure_atomic
    from ..viz import method_grid

    check_theta(args.theta)
    out = check_output_dir(args.out)
    paths = list(sample_images().values()) if args.images == ["all"] else args.images
    names = figure_names(paths)
    model, spec = load_model(args.model, args.device)
    layer = resolve_layer(model, args.layer or spec.target_layer)
    class_idx = None if args.class_ is None else spec.class_index(args.class_)
    explainer = UnionCAM(model, layer, mean=spec.mean, std=spec.std)
    device = next(model.parameters()).device
    for path, name in zip(paths, names):
        image, x = load_image(path, spec)
        x = x.to(device)
        start = time.perf_counter()
        r = explainer(x, class_idx, args.theta)
        grad = gradcam(model, x, layer, r.class_idx)
        seconds = time.perf_counter() - start
        c = int(r.class_idx[0])
        title = (f"{name}: {spec.categories[c]} (class {c}, p={r.probs[0, c]:.2f}) — θ={args.theta:g}, "
                 f"chosen: {r.chosen[0]}  (β_den={r.beta_denoised[0]:.3f}, β_reg={r.beta_region[0]:.3f}, "
                 f"β_fused={r.beta_fused[0]:.3f})")
        fig = method_grid(image, {"Grad-CAM": grad[0], "denoised (AMD)": r.denoised[0], "region (Score-CAM)": r.region[0],
                                  f"UnionCAM ({r.chosen[0]})": r.cam[0]}, title)
        save_figure_atomic(fig, out / f"{name}.png", dpi=90)
        plt.close(fig)
        print(f"{name:18s} class={c:4d} {spec.categories[c]!r:24s} beta_den={r.beta_denoised[0]:+.4f} "
              f"beta_reg={r.beta_region[0]:+.4f} beta_fused={r.beta_fused[0]:+.4f} chosen={r.chosen[0]:6s} "
              f"{seconds:6.2f}s", flush=True)
    return 0


def figure_names(paths) -> list[str]:
    """One figure name per input: the file's stem, with ``_2``, ``_3``... when stems repeat
    (``a/cat.jpg`` and ``b/cat.png`` give ``cat`` and ``cat_2``), so no figure overwrites another."""
    names, seen = [], {}
    for p in paths:
        stem = Path(str(p)).stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
        while name in names:
            seen[stem] += 1
            name = f"{stem}_{seen[stem]}"
        names.append(name)
    return names


_warned: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print each distinct library warning once, as ``warning: ...`` on stderr."""
    text = " ".join(str(message).split())
    if text not in _warned:
        _warned.add(text)
        print(f"warning: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning   # the library's warnings (e.g. a 1×1 layer) as one line
            if args.command == "evaluate":
                from .evaluate import run

                return run(args)
            return explain(args)
    except ERRORS as err:
        message = str(err) if not isinstance(err, OSError) or not err.strerror else \
            f"{err.strerror}: {err.filename!r}" if err.filename else err.strerror
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
