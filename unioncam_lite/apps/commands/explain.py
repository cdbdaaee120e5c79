"""``explain IMAGE...``: UnionCAM's maps (denoised, region, final) and Grad-CAM, one figure per image."""
from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the ``explain`` parser to the subcommands ``sub``."""
    p = sub.add_parser("explain", help="UnionCAM and Grad-CAM figures for images",
                       description="UnionCAM and Grad-CAM figures for images, one PNG per image in --out, "
                                   "and one line per image on stdout.")
    p.add_argument("images", nargs="+", help="image files, or names of bundled samples ('all' for every one)")
    p.add_argument("--model", default="efficientnet_lite0",
                   help="efficientnet_lite0 (default), vgg16, shapes_cnn or any torchvision classifier (resnet50...)")
    p.add_argument("--layer", default=None, help="target layer, dotted name (default: the model's)")
    p.add_argument("--class", dest="class_", default=None,
                   help="class index or ImageNet name (default: the predicted class)")
    p.add_argument("--theta", type=float, default=10.0, help="denoising percentile θ in [0, 100] (default 10)")
    p.add_argument("--out", type=Path, default=Path("outputs/demo"), help="folder for the figures")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA if available)")
    p.add_argument("--diagnose", action="store_true",
                   help="also print, per image, why its maps look as they do at this layer (constant or zero "
                        "gradients, dead and duplicate channels, constant maps) and what that means for each method")
    p.set_defaults(run=explain)


def explain(args: argparse.Namespace) -> int:
    """Check every input (θ, ``--out``, each image), then write ``OUT/<name>.png`` per image and
    print its class, βs and choice."""
    import matplotlib.pyplot as plt

    from ...cams import UnionCAM, diagnose, gradcam
    from ...cams.common import check_theta
    from ...data.images import check_image, load_image, sample_images
    from ...device import model_device
    from ...models import load_model, resolve_layer
    from ...outputs import check_output_dir, save_figure_atomic
    from ...viz import escape_mathtext, method_grid

    check_theta(args.theta)
    out = check_output_dir(args.out, what="--out")
    paths = list(sample_images().values()) if args.images == ["all"] else args.images
    for path in paths:    # every image readable before the model loads: a bad last one costs no computation
        check_image(path)
    names = figure_names(paths)
    model, spec = load_model(args.model, args.device)
    layer = resolve_layer(model, args.layer or spec.target_layer)
    class_idx = None if args.class_ is None else spec.class_index(args.class_)
    reshape = spec.reshape_transform   # a transformer's tokens as (N, C, h, w); None for CNNs
    explainer = UnionCAM(model, layer, mean=spec.mean, std=spec.std, reshape_transform=reshape)
    device = model_device(model)
    for path, name in zip(paths, names):
        image, x = load_image(path, spec)
        x = x.to(device)
        start = time.perf_counter()
        r = explainer(x, class_idx, args.theta)
        grad = gradcam(model, x, layer, r.class_idx, reshape_transform=reshape)
        seconds = time.perf_counter() - start
        c = int(r.class_idx[0])
        title = (f"{name}: {spec.categories[c]} (class {c}, p={r.probs[0, c]:.2f}) — θ={args.theta:g}, "
                 f"chosen: {r.chosen[0]}  (β_den={r.beta_denoised[0]:.3f}, β_reg={r.beta_region[0]:.3f}, "
                 f"β_fused={r.beta_fused[0]:.3f})")
        maps = {"Grad-CAM": grad[0], "denoised (AMD)": r.denoised[0], "region (Score-CAM)": r.region[0],
                f"UnionCAM ({r.chosen[0]})": r.cam[0]}
        fig = method_grid(image, maps, escape_mathtext(title))   # a file name is shown as written, '$' included
        save_figure_atomic(fig, out / f"{name}.png", dpi=90)
        plt.close(fig)
        print(f"{name:18s} class={c:4d} {spec.categories[c]!r:24s} beta_den={r.beta_denoised[0]:+.4f} "
              f"beta_reg={r.beta_region[0]:+.4f} beta_fused={r.beta_fused[0]:+.4f} chosen={r.chosen[0]:6s} "
              f"{seconds:6.2f}s", flush=True)
        if args.diagnose:
            findings = diagnose(model, x, layer, r.class_idx, reshape_transform=reshape).findings(0)
            print("\n".join("    " + line for line in findings), flush=True)
    return 0


def figure_names(paths: Iterable[str | Path]) -> list[str]:
    """One figure name per input: the file's stem, with ``_2``, ``_3``... when stems repeat
    (``a/cat.jpg`` and ``b/cat.png`` give ``cat`` and ``cat_2``), so no figure overwrites another."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for p in paths:
        stem = Path(str(p)).stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
        while name in names:
            seen[stem] += 1
            name = f"{stem}_{seen[stem]}"
        names.append(name)
    return names
