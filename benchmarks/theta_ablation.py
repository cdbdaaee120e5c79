"""θ ablation of UnionCAM on generated shapes images: what Eq. 1's percentile θ changes.

    python benchmarks/theta_ablation.py --model shapes_vgg --num-images 500 --seed 1000 \\
        --out outputs/theta_shapes_vgg.md
    python benchmarks/theta_ablation.py --model shapes_cnn --num-images 500 --seed 1000 \\
        --out outputs/theta_shapes_cnn.md

(Measured with 1 thread on 2 loaded shared cores, before the ROAD columns: shapes_vgg 580 s,
shapes_cnn 96–348 s; ROAD adds 18 sparse solves and forward passes per image and distinct map,
``--no-road`` leaves it out. The θ = 10 row reproduces the UnionCAM row of
``python -m unioncam_lite evaluate`` on the same images.)

For each θ (default 0, 5, 10, 25, 50, 75, 90) UnionCAM explains every image's predicted class;
the θ-free part (capture, region map L_reg, β_reg, the black image's score) is computed once per
batch of images by :class:`unioncam_lite.UnionCAM` and reused for every θ. Per θ the table gives

* how far the denoised map moves from θ = 0: per image max |L_den(θ) − L_den(0)| over the pixels
  of the upsampled, min-max normalised map UnionCAM fuses (so in [0, 1]); its mean and max over
  the images, and the share of images where it exceeds 0.01;
* how often Eq. 8 chooses the fused map (else the region map);
* every metric of ``python -m unioncam_lite evaluate`` on the final map: Average Drop and
  Increase, insertion and deletion (50 steps), ROAD (MoRF, LeRF and LeRF − MoRF over 10 … 90 %
  removed, noisy linear imputation), and the localisation scores of
  :func:`unioncam_lite.metrics.localisation_scores` against the exact object masks: energy pointing
  game (background energy is 1 − it, in the CSV), object recall at 0.5 and IoU@0.5.

Maps identical to an earlier θ's (bit for bit) reuse that θ's metrics, which are deterministic
functions of the map. Writes the markdown table to ``--out`` and the per-image rows next to it
(``.csv``).
"""
from __future__ import annotations

import sys
import time

import pandas as pd
import torch
from shapes_cli import checked_out, faithfulness_means, shapes_parser, write_report

from unioncam_lite import UnionCAM, load_model
from unioncam_lite.apps.evaluation import map_metrics, markdown_table, shapes_items
from unioncam_lite.apps.evaluation.scoring import ROAD_METRICS
from unioncam_lite.metrics import localisation_scores

THETAS = (0, 5, 10, 25, 50, 75, 90)
MOVED = 0.01  # an image's L_den "moved" when some pixel changed by more than this (maps are in [0, 1])


def ablate(model, spec, items, thetas=THETAS, *, chunk: int = 32, steps: int = 50, batch_size: int = 256,
           with_road: bool = True, log=print) -> pd.DataFrame:
    """One row per (image, θ): ΔL_den vs θ = 0 (needs 0 in ``thetas``), the choice and the metrics."""
    if thetas[0] != 0:
        raise ValueError("thetas must start with 0, the reference L_den is compared against")
    explainer = UnionCAM(model, spec.target_layer, mean=spec.mean, std=spec.std, batch_size=batch_size,
                         cache_size=1)
    rows, start = [], time.perf_counter()
    for s in range(0, len(items), chunk):
        batch = items[s:s + chunk]
        loaded = [it.load() for it in batch]
        x = torch.cat([t for t, _ in loaded])
        masks = torch.stack([m for _, m in loaded])
        with torch.no_grad():
            c = model(x).argmax(1)
        reference, seen = None, []  # seen: (cam, metrics) of earlier θs, for identical maps
        for theta in thetas:
            result = explainer(x, c, theta)
            if reference is None:
                reference = result.denoised
            moved = (result.denoised - reference).abs().flatten(1).amax(1)
            m = next((m for cam, m in seen if torch.equal(cam, result.cam)), None)
            if m is None:
                m = {**map_metrics(model, spec, x, result.cam, c, steps=steps, batch_size=batch_size,
                                   with_road=with_road),
                     **localisation_scores(result.cam, masks, 0.5)}
                seen.append((result.cam, m))
            for i, it in enumerate(batch):
                rows.append({"image": it.name, "theta": theta, "class": spec.categories[int(c[i])],
                             "dL_den": float(moved[i]), "fused": result.chosen[i] == "fused",
                             **{k: float(v[i]) for k, v in m.items()}})
        log(f"{min(s + chunk, len(items))}/{len(items)} images, {time.perf_counter() - start:.0f} s")
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per θ: ΔL_den (mean, max, share moved), fused chosen %, and each metric's mean."""
    g = df.groupby("theta", sort=True)
    road = {f"{k} {better}": g[k].mean() for k, better in zip(ROAD_METRICS, "↓↑↑") if k in df}
    table = pd.DataFrame({
        "mean max abs ΔL_den": g["dL_den"].mean(),
        "max max abs ΔL_den": g["dL_den"].max(),
        f"L_den moved > {MOVED:g} %": g["dL_den"].apply(lambda s: 100 * (s > MOVED).mean()),
        "fused chosen %": 100 * g["fused"].mean(),
        **faithfulness_means(g),
        **road,
        "energy pointing game ↑": g["energy pointing game"].mean(),
        "object recall@0.5 ↑": g["object recall@0.5"].mean(),
        "IoU@0.5 ↑": g["IoU@0.5"].mean(),
        "images": g.size(),
    })
    table.index = [f"{t:g}" for t in table.index]
    return table


def main(argv: list[str] | None = None) -> int:
    parser = shapes_parser(__doc__.splitlines()[0], "shapes_vgg",
                           "markdown table (default outputs/theta_MODEL.md); .csv beside it")
    parser.add_argument("--thetas", default=",".join(map(str, THETAS)), help="comma-separated, starting with 0")
    parser.add_argument("--no-road", action="store_true", help="leave out ROAD (the slowest metric)")
    args = parser.parse_args(argv)
    try:
        thetas = tuple(float(t) for t in args.thetas.split(","))
        if not thetas or thetas[0] != 0 or not all(0 <= t <= 100 for t in thetas):
            raise ValueError
    except ValueError:
        print(f"error: --thetas {args.thetas!r} must be comma-separated numbers in [0, 100] starting with 0",
              file=sys.stderr)
        return 2
    out = checked_out(args, f"theta_{args.model}.md")
    if out is None:
        return 2
    model, spec = load_model(args.model, "cpu")
    start = time.perf_counter()
    df = ablate(model, spec, shapes_items(args.num_images, args.seed, spec), thetas, steps=args.steps,
                with_road=not args.no_road, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - start
    title = (f"UnionCAM θ ablation, {spec.name} at {spec.target_layer}, {args.num_images} generated shapes images "
             f"(seed {args.seed}), {args.steps} steps; {seconds:.0f} s with {torch.get_num_threads()} threads")
    text = f"{title}\n\n{markdown_table(summary(df)).replace('| method |', '| θ |', 1)}\n"
    write_report(out, text, df)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
