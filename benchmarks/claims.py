"""The paper's claims tested against exact object masks: notebook 08's experiments at full size.

    python benchmarks/claims.py --num-images 500 --seed 1000 --out outputs/claims.md

On generated shapes images (seed 1000, as ``benchmarks/RESULTS.md`` §1) for ``shapes_vgg``
(flattened head) and ``shapes_cnn`` (pooled head), each model explaining its predicted class:

1. **AMD removes background** (§3.1): background energy (1 − energy pointing game) of L_den at each
   θ against Grad-CAM's, as paired per-image differences with percentile bootstrap 95 % intervals;
2. **AMU completes the map** (§3.2): object recall at 0.5, background energy and IoU@0.5 of L_fused
   against L_reg (θ = 10);
3. **AMS picks the better map** (§3.3): the share of images where the map Eq. 8 kept also localises
   at least as well as the one it rejected (IoU@0.5, energy pointing game), against the best fixed choice;
4. **UnionCAM against each baseline** (Tables 1-2): paired differences of energy pointing game and IoU@0.5;
5. **the module ablation** (§4.4): Grad-CAM, L_den, L_reg, L_fused, UnionCAM, UnionCAM θ = 0 on every metric;
6. **sanity checks** (Adebayo et al., 2018) on the first ``--sanity-images``: cascading randomisation
   from the head down and the random-label control, mean Spearman per layer for every method;
7. **the confound**: how often UnionCAM's Average Drop is lower / higher than its region map's (never
   higher, by construction) against how often its energy pointing game is higher / lower; the drop of p_c with the
   object alone on black (in distribution for models trained with darkening); whether β ranks maps as
   the energy pointing game does (Spearman over L_den, L_reg and L_fused of all images).

Everything comes from the library (:mod:`unioncam_lite.metrics`: ``score_maps``, ``paired_bootstrap``,
``bootstrap_ci``, ``sanity_check``); UnionCAM and Score-CAM use the library's defaults of the day.
Prints markdown tables and writes them to ``--out`` (and the per-image scores to the ``.csv`` beside it).
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from unioncam_lite import UnionCAM, load_model, metrics
from unioncam_lite.cams import METHODS, compute_cam
from unioncam_lite.data import shapes
from unioncam_lite.data.images import to_model_tensor
from unioncam_lite.outputs import write_text_atomic

THETAS = (0, 10, 50, 90)
T = 0.5
ABLATION = ("Grad-CAM", "L_den", "L_reg", "L_fused", "UnionCAM", "UnionCAM θ=0")


def per_image(model, spec, images: np.ndarray, masks: torch.Tensor, *, chunk: int = 50) -> pd.DataFrame:
    """One row per (image, map): every localisation score, Average Drop (ablation maps), β and Eq. 8's choice."""
    rows = []
    for s in range(0, len(images), chunk):
        x = torch.cat([to_model_tensor(im, spec) for im in images[s:s + chunk]])
        m = masks[s:s + chunk]
        with torch.no_grad():
            c = model(x).argmax(1)
        explainer = UnionCAM(model, spec.target_layer, mean=spec.mean, std=spec.std, cache_size=1)
        runs = {t: explainer(x, c, theta=t) for t in THETAS}
        maps = {METHODS[k].label: compute_cam(k, model, x, spec.target_layer, c, mean=spec.mean, std=spec.std)
                for k in METHODS if k != "unioncam"}
        maps |= {f"L_den θ={t}": r.denoised for t, r in runs.items()}
        maps |= {"L_den": runs[10].denoised, "L_reg": runs[10].region, "L_fused": runs[10].fused,
                 "UnionCAM": runs[10].cam, "UnionCAM θ=0": runs[0].cam}
        scores = metrics.score_maps(maps, m, T)
        drops = {k: metrics.drop_increase_per_image(model, x, maps[k], c, mean=spec.mean, std=spec.std)[0]
                 for k in ABLATION}
        drops["object alone"] = metrics.drop_increase_per_image(model, x, m.float(), c, mean=spec.mean, std=spec.std)[0]
        print(f"  {s + len(x)}/{len(images)} images", file=sys.stderr, flush=True)
        r10 = runs[10]
        beta = {"L_den": r10.beta_denoised, "L_reg": r10.beta_region, "L_fused": r10.beta_fused}
        for i in range(len(x)):
            for name in (*maps, "object alone"):
                row = {"image": s + i, "map": name, "chosen": r10.chosen[i]}
                if name in scores:
                    row |= {k: float(v[i]) for k, v in scores[name].items()}
                if name in drops:
                    row["drop"] = float(drops[name][i])
                if name in beta:
                    row["beta"] = float(beta[name][i])
                rows.append(row)
    return pd.DataFrame(rows)


def _col(df: pd.DataFrame, name: str, metric: str) -> np.ndarray:
    return df[df["map"] == name].sort_values("image")[metric].to_numpy()


def _ci(cmp: metrics.PairedComparison | metrics.Interval) -> str:
    d = cmp.difference if isinstance(cmp, metrics.PairedComparison) else cmp
    return f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]"


def claim_tables(df: pd.DataFrame, model: str) -> dict[str, pd.DataFrame]:
    """The tables of claims 1-5 and 7 for one model's per-image rows."""
    be, rec, iou, epg = "background energy", f"object recall@{T:g}", f"IoU@{T:g}", "energy pointing game"
    out: dict[str, list[dict]] = {k: [] for k in ("amd", "amu", "ams", "baselines", "ablation", "confound")}
    grad = _col(df, "Grad-CAM", be)
    for t in THETAS:
        den = _col(df, f"L_den θ={t}", be)
        cmp = metrics.paired_bootstrap(den, grad, tie_tol=1e-12)
        out["amd"].append({"model": model, "θ": t, "L_den": den.mean(), "Grad-CAM": grad.mean(),
                           "L_den − Grad-CAM [95 % CI]": _ci(cmp), "L_den less / more / equal":
                           f"{cmp.losses} / {cmp.wins} / {cmp.ties}"})
    for metric in (rec, be, iou):
        fused, region = _col(df, "L_fused", metric), _col(df, "L_reg", metric)
        cmp = metrics.paired_bootstrap(fused, region, tie_tol=1e-12)
        out["amu"].append({"model": model, "metric": metric, "L_fused": fused.mean(), "L_reg": region.mean(),
                           "L_fused − L_reg [95 % CI]": _ci(cmp),
                           "L_fused higher / lower / equal": f"{cmp.wins} / {cmp.losses} / {cmp.ties}"})
    chosen = df[df["map"] == "L_fused"].sort_values("image")["chosen"].to_numpy() == "fused"
    for metric in (iou, epg):
        fused, region = _col(df, "L_fused", metric), _col(df, "L_reg", metric)
        agree = np.where(chosen, fused >= region, region >= fused).astype(float)
        p = float((fused > region).mean())
        out["ams"].append({"model": model, "metric": metric, "fused kept %": 100 * chosen.mean(),
                           "agreement [95 % CI]": _ci(metrics.bootstrap_ci(100 * agree)),
                           "best fixed choice %": 100 * max(p, 1 - p)})
    for metric in (epg, iou):
        ours = _col(df, "UnionCAM", metric)
        for base in (METHODS[k].label for k in METHODS if k != "unioncam"):
            cmp = metrics.paired_bootstrap(ours, _col(df, base, metric), tie_tol=1e-12)
            out["baselines"].append({"model": model, "metric": metric, "baseline": base,
                                     "UnionCAM − baseline [95 % CI]": _ci(cmp),
                                     "UnionCAM better / worse / equal": f"{cmp.wins} / {cmp.losses} / {cmp.ties}",
                                     "verdict": ("UnionCAM better" if cmp.difference.low > 0 else "baseline better"
                                                 if cmp.difference.high < 0 else "no difference supported")})
    for name in ABLATION:
        sub = df[df["map"] == name]
        out["ablation"].append({"model": model, "map": name, **{m: sub[m].mean() for m in (epg, be, rec, iou)},
                                "Average Drop %": 100 * sub["drop"].mean()})
    beta_rows = df[df["map"].isin(["L_den", "L_reg", "L_fused"])]
    rho = metrics.spearman(torch.tensor(beta_rows["beta"].to_numpy())[None, None],
                           torch.tensor(beta_rows[epg].to_numpy())[None, None])
    tol = 1e-5   # float rounding between two forward passes
    drop = _col(df, "UnionCAM", "drop") - _col(df, "L_reg", "drop")
    gain = _col(df, "UnionCAM", epg) - _col(df, "L_reg", epg)
    out["confound"].append({
        "model": model,
        "drop: UnionCAM lower than L_reg %": 100 * (drop < -tol).mean(),
        "drop: UnionCAM higher %": 100 * (drop > tol).mean(),
        "EPG: UnionCAM higher than L_reg %": 100 * (gain > tol).mean(),
        "EPG: UnionCAM lower %": 100 * (gain < -tol).mean(),
        "drop, object alone on black %": 100 * _col(df, "object alone", "drop").mean(),
        "Spearman(β, EPG) over L_den, L_reg, L_fused": float(rho[0])})
    return {k: pd.DataFrame(v) for k, v in out.items()}


def sanity_table(model, spec, images: np.ndarray) -> pd.DataFrame:
    """Mean Spearman with the trained maps per method and cascading step, then the random-label control."""
    x = torch.cat([to_model_tensor(im, spec) for im in images])
    res = metrics.sanity_check(model, x, spec.target_layer, mean=spec.mean, std=spec.std)
    rows = []
    for method, curve in res.mean_spearman().items():
        rows.append({"method": METHODS[method].label,
                     **{f"{i}: {step}": v for i, (step, v) in enumerate(zip(res.steps, curve[1:]), start=1)},
                     "SSIM, all random": float(res.ssim[method][-1].mean()),
                     "random label": float(torch.nanmean(res.label_spearman[method])),
                     "SSIM, random label": float(res.label_ssim[method].mean())})
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    """A table as GitHub markdown: numbers with 3 decimals (right-aligned), text as it is."""
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)

    numeric = [pd.api.types.is_float_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


TITLES = {"amd": "Claim 1, AMD removes background: background energy (↓) of L_den vs Grad-CAM",
          "amu": "Claim 2, AMU completes the map: L_fused vs L_reg (θ = 10)",
          "ams": "Claim 3, AMS picks the better map: agreement % of Eq. 8's choice with the better-localising map",
          "baselines": "Claim 4, UnionCAM (θ = 10) vs each baseline: paired differences (↑ better)",
          "ablation": "The module ablation (§4.4): means over the images",
          "sanity": "Sanity checks: mean Spearman with the trained maps, layers randomised from the head down "
                    "(cumulative), and for a random wrong class",
          "confound": "The confound: Eq. 8 selects by what Average Drop measures; masked images and darkening"}


def render(tables: dict[str, list[pd.DataFrame]], names: list[str], args: argparse.Namespace, seconds: float,
           final: bool) -> str:
    """The markdown document: a header line (what, when, how long) and every table made so far."""
    head = (f"Claims on {args.num_images} generated shapes images (seed {args.seed}), models {', '.join(names)}, "
            f"sanity checks on the first {args.sanity_images}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{seconds:.0f} s with {torch.get_num_threads()} threads{'' if final else ' (PARTIAL: still running)'}. "
            "Intervals: percentile bootstrap, 95 %, 10,000 resamples of the images, seed 0.")
    parts = [head]
    for key, found in tables.items():
        if key == "sanity":   # one table per model: their layers differ
            parts += [f"### {TITLES[key]}: {name}\n\n{markdown(t)}" for name, t in zip(names, found)]
        else:
            parts.append(f"### {TITLES[key]}\n\n{markdown(pd.concat(found, ignore_index=True))}")
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="shapes_vgg,shapes_cnn", help="comma-separated shapes models")
    parser.add_argument("--num-images", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1000, help="seed of the generated shapes images")
    parser.add_argument("--sanity-images", type=int, default=None,
                        help="images for the sanity checks (the first ones; default all --num-images)")
    parser.add_argument("--out", type=Path, default=Path("outputs/claims.md"), help="markdown; .csv beside it")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names or any(not m.startswith("shapes_") for m in names):
        print(f"error: --models {args.models!r}: give shapes models (shapes_vgg, shapes_cnn), the ones with masks",
              file=sys.stderr)
        return 2
    if args.sanity_images is None:
        args.sanity_images = args.num_images
    if args.num_images < 2 or not 0 <= args.sanity_images <= args.num_images:
        print("error: --num-images must be at least 2 and --sanity-images between 0 and --num-images",
              file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    images, _, gt = shapes.generate(args.num_images, seed=args.seed)
    masks = torch.from_numpy(gt)
    start = time.perf_counter()
    tables: dict[str, list[pd.DataFrame]] = {}
    frames: list[pd.DataFrame] = []

    def write(final: bool) -> str:   # after each stage, so that a long run that is stopped keeps its tables
        text = render(tables, names, args, time.perf_counter() - start, final)
        write_text_atomic(args.out.with_suffix(".csv"), pd.concat(frames, ignore_index=True).to_csv(index=False))
        write_text_atomic(args.out, text)
        return text

    for name in names:
        model, spec = load_model(name, "cpu")
        t0 = time.perf_counter()
        df = per_image(model, spec, images, masks)
        print(f"{name}: maps and scores of {args.num_images} images, {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
        frames.append(df.assign(model=name))
        for key, table in claim_tables(df, name).items():
            tables.setdefault(key, []).append(table)
        write(final=False)
        if args.sanity_images:
            t0 = time.perf_counter()
            tables.setdefault("sanity", []).append(sanity_table(model, spec, images[:args.sanity_images]))
            print(f"{name}: sanity checks on {args.sanity_images} images, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
            write(final=False)
    print(write(final=True))
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
