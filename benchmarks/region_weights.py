"""UnionCAM's region map with the paper's weights against Score-CAM's, and how often a β is negative.

    python benchmarks/region_weights.py --model shapes_cnn --num-images 500 --seed 1000 \\
        --out outputs/region_weights_shapes_cnn.md
    python benchmarks/region_weights.py --model shapes_vgg --num-images 500 --seed 1000 \\
        --out outputs/region_weights_shapes_vgg.md

For each weighting of the region map (``region_weights="paper"``: w_k = f_c(M_k ⊙ I0), UnionCAM's
default; ``"softmax"``: Score-CAM's softmax of logit gains, the package's region map before), UnionCAM
(θ = 10) explains every image's predicted class, and the table gives the metrics of
``python -m unioncam_lite evaluate`` on its final map (Average Drop and Increase, insertion and
deletion with 50 steps, energy pointing game and IoU@0.5 against the exact masks; no ROAD, the
slowest metric, as in RESULTS §1's 500-image tables), computed by the same functions
(:func:`~unioncam_lite.apps.evaluation.map_metrics`, :func:`~unioncam_lite.apps.evaluation.box_metrics`).

The second table counts Eq. 6's cases: β_den < 0 only, β_reg < 0 only, both < 0 (a β of exactly 0
counts as not negative), and what the literal Eq. 6 (normalise(β_den·L_den + β_reg·L_reg), no
clipping) would have done: how often its map is the inverted one (both β < 0) and how often Eq. 8
would then have chosen a different map than the clipped union does. Writes the markdown to
``--out`` and the per-image rows next to it (``.csv``).
"""
from __future__ import annotations

import sys
import time

import pandas as pd
import torch
from shapes_cli import checked_out, faithfulness_means, shapes_parser, write_report

from unioncam_lite import UnionCAM, load_model, normalize_maps, score_gain
from unioncam_lite.apps.evaluation import box_metrics, map_metrics, markdown_table, shapes_items

WEIGHTS = ("paper", "softmax")


def measure(model, spec, items, *, theta: float = 10.0, chunk: int = 32, steps: int = 50, batch_size: int = 256,
            log=print) -> pd.DataFrame:
    """One row per (image, weighting): the βs, the choice, the literal-Eq.-6 choice and the metrics."""
    explainers = {w: UnionCAM(model, spec.target_layer, mean=spec.mean, std=spec.std, batch_size=batch_size,
                              region_weights=w, cache_size=1) for w in WEIGHTS}
    rows, start = [], time.perf_counter()
    for s in range(0, len(items), chunk):
        batch = items[s:s + chunk]
        loaded = [it.load() for it in batch]
        x = torch.cat([t for t, _ in loaded])
        masks = torch.stack([m for _, m in loaded])
        with torch.no_grad():
            c = model(x).argmax(1)
        for w, explainer in explainers.items():
            r = explainer(x, c, theta)
            literal = normalize_maps(r.beta_denoised[:, None, None] * r.denoised
                                     + r.beta_region[:, None, None] * r.region)
            literal_wins = score_gain(model, x, literal, c, mean=spec.mean, std=spec.std) > r.beta_region
            literal_cam = torch.where(literal_wins[:, None, None], literal, r.region)
            m = {**map_metrics(model, spec, x, r.cam, c, steps=steps, batch_size=batch_size, with_road=False),
                 **box_metrics(r.cam, masks)}
            for i, it in enumerate(batch):
                rows.append({"image": it.name, "weights": w, "beta_den": float(r.beta_denoised[i]),
                             "beta_reg": float(r.beta_region[i]), "beta_fused": float(r.beta_fused[i]),
                             "fused": r.chosen[i] == "fused", "literal_fused": bool(literal_wins[i]),
                             "literal_differs": not torch.equal(literal_cam[i], r.cam[i]),
                             **{k: float(v[i]) for k, v in m.items()}})
        log(f"{min(s + chunk, len(items))}/{len(items)} images, {time.perf_counter() - start:.0f} s")
    return pd.DataFrame(rows)


def metrics_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per weighting: each metric's mean, the share of images where Eq. 8 keeps the fused map."""
    g = df.groupby("weights", sort=False)
    table = pd.DataFrame({
        **faithfulness_means(g),
        "energy pointing game ↑": g["energy pointing game"].mean(),
        "IoU@0.5 ↑": g["IoU@0.5"].mean(),
        "fused chosen %": 100 * g["fused"].mean(),
        "images": g.size(),
    })
    table.index = [f"UnionCAM ({w} weights)" for w in table.index]
    return table


def beta_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per weighting: how many images have a negative β_den, β_reg or both, and what the literal Eq. 6 did."""
    den, reg = df["beta_den"] < 0, df["beta_reg"] < 0
    flags = pd.DataFrame({"weights": df["weights"], "den": den & ~reg, "reg": reg & ~den, "both": den & reg,
                          "differs": df["literal_differs"]})
    g = flags.groupby("weights", sort=False)
    table = pd.DataFrame({
        "images with β_den < 0 only": g["den"].sum(),
        "images with β_reg < 0 only": g["reg"].sum(),
        "images with both < 0 (literal Eq. 6 inverted)": g["both"].sum(),
        "images whose final map differs from literal Eq. 6": g["differs"].sum(),
        "images": g.size(),
    })
    table.index = [f"UnionCAM ({w} weights)" for w in table.index]
    return table


def main(argv: list[str] | None = None) -> int:
    parser = shapes_parser(__doc__.splitlines()[0], "shapes_cnn",
                           "markdown (default outputs/region_weights_MODEL.md); .csv beside it")
    args = parser.parse_args(argv)
    out = checked_out(args, f"region_weights_{args.model}.md")
    if out is None:
        return 2
    model, spec = load_model(args.model, "cpu")
    start = time.perf_counter()
    df = measure(model, spec, shapes_items(args.num_images, args.seed, spec), steps=args.steps,
                 log=lambda msg: print(msg, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - start
    title = (f"UnionCAM's region weights, {spec.name} at {spec.target_layer}, {args.num_images} generated shapes "
             f"images (seed {args.seed}), θ = 10, {args.steps} steps; {seconds:.0f} s with "
             f"{torch.get_num_threads()} threads")
    text = (f"{title}\n\n{markdown_table(metrics_table(df))}\n\n"
            f"{markdown_table(beta_table(df)).replace('| method |', '| weighting |', 1)}\n")
    write_report(out, text, df)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
