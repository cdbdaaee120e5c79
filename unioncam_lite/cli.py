"""Command line: ``python -m unioncam_lite explain IMAGE... [options]``.

Bad input (missing file, unknown model, bad layer, class out of range, θ outside [0, 100])
prints one ``error:`` line and exits with status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ERRORS = (ValueError, TypeError, FileNotFoundError, RuntimeError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m unioncam_lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="UnionCAM and Grad-CAM figures for images")
    explain.add_argument("images", nargs="+", help="image files, or names of bundled samples ('all' for every one)")
    explain.add_argument("--model", default="efficientnet_lite0", help="efficientnet_lite0 (default) or vgg16")
    explain.add_argument("--layer", default=None, help="target layer, dotted name (default: the model's)")
    explain.add_argument("--class", dest="class_", default=None,
                         help="class index or ImageNet name (default: the predicted class)")
    explain.add_argument("--theta", type=float, default=10.0, help="denoising percentile θ in [0, 100] (default 10)")
    explain.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder for the figures")
    explain.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA if available)")
    evaluate = sub.add_parser("evaluate", help="every method × every metric over a folder or generated shapes")
    evaluate.add_argument("--model", default="efficientnet_lite0", help="efficientnet_lite0, vgg16 or shapes_cnn")
    evaluate.add_argument("--methods", default=",".join(METHODS_DEFAULT), help="comma-separated method names")
    evaluate.add_argument("--images", default="data/images", help="a folder of photographs, or 'shapes'")
    evaluate.add_argument("--num-images", dest="n", type=int, default=500,
                          help="number of generated shapes images (or the first N photos)")
    evaluate.add_argument("--seed", type=int, default=1000, help="seed of the generated shapes images")
    evaluate.add_argument("--steps", type=int, default=50, help="insertion/deletion steps")
    evaluate.add_argument("--theta", type=float, default=10.0, help="UnionCAM's θ")
    evaluate.add_argument("--out", type=Path, default=Path("outputs/results.csv"))
    evaluate.add_argument("--device", default=None)
    return parser


METHODS_DEFAULT = ("gradcam", "gradcampp", "xgradcam", "layercam", "scorecam", "unioncam")


def explain(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from .cams import UnionCAM, gradcam
    from .cams.common import check_theta
    from .images import load_image, sample_images
    from .models import load_model, resolve_layer
    from .viz import method_grid

    check_theta(args.theta)
    paths = list(sample_images().values()) if args.images == ["all"] else args.images
    model, spec = load_model(args.model, args.device)
    layer = resolve_layer(model, args.layer or spec.target_layer)
    class_idx = None if args.class_ is None else spec.class_index(args.class_)
    explainer = UnionCAM(model, layer, mean=spec.mean, std=spec.std)
    device = next(model.parameters()).device
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        image, x = load_image(path, spec)
        x = x.to(device)
        start = time.perf_counter()
        r = explainer(x, class_idx, args.theta)
        grad = gradcam(model, x, layer, r.class_idx)
        seconds = time.perf_counter() - start
        c = int(r.class_idx[0])
        name = Path(path).stem
        title = (f"{name}: {spec.categories[c]} (class {c}, p={r.probs[0, c]:.2f}) — θ={args.theta:g}, "
                 f"chosen: {r.chosen[0]}  (β_den={r.beta_denoised[0]:.3f}, β_reg={r.beta_region[0]:.3f}, "
                 f"β_fused={r.beta_fused[0]:.3f})")
        fig = method_grid(image, {"Grad-CAM": grad[0], "denoised (AMD)": r.denoised[0], "region (Score-CAM)": r.region[0],
                                  f"UnionCAM ({r.chosen[0]})": r.cam[0]}, title)
        fig.savefig(args.out / f"{name}.png", dpi=90)
        plt.close(fig)
        print(f"{name:18s} class={c:4d} {spec.categories[c]!r:24s} beta_den={r.beta_denoised[0]:+.4f} "
              f"beta_reg={r.beta_region[0]:+.4f} beta_fused={r.beta_fused[0]:+.4f} chosen={r.chosen[0]:6s} "
              f"{seconds:6.2f}s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "evaluate":
            from .evaluate import run

            return run(args)
        return explain(args)
    except ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
