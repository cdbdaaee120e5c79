"""The GPU speed options of UnionCAM swept in one process: ms per image, TFLOP/s and the fraction
of the device's peak for each configuration, so that one run shows which wins.

    python benchmarks/speed_sweep.py [--device cuda|cpu] [--size S] [--images N] [--repeats R]
                                     [--batch-size B] [--batch-sizes 128,256]
                                     [--compile-mode default|reduce-overhead|eager|none] [--compile-limit 60]
                                     [--budget 170] [--no-warmup] [--json PATH] [--markdown]

VGG16 (random weights: timing only) at 224×224, target layer ``features.29``, ``union_cam`` with
θ = 10 on the first N bundled photographs (default 2), each timed R times (default 3, median),
``torch.cuda.synchronize`` around each call, after one untimed call per configuration (on every
photo for the compiled ones, so that each batch shape is compiled before the timing). The
configurations and their order: ``sweep_configs.py``.

Every row reports its max |map − reference map| over the photos' pixels (maps in [0, 1]),
so an "exact" row that is not shows up. FLOPs as in ``measure.py``: (images forwarded) ×
one forward pass + 2 × one forward pass for the backward pass. The peak is the device's dense
tensor-core peak for the masked passes' precision (bf16, or TF32 when it is on, else fp32;
:data:`measure.PEAKS`), blank for a device not in the table (the CPU). Nothing here changes the
library's defaults: the report names the winner, and making it the default on CUDA is a
decision taken from a GPU run. ``--budget`` seconds in all: configurations that no longer fit
are listed as not run. The JSON file is rewritten after every configuration.

Last, after every timed row (the profiler can slow later CUDA work in its process), one call of
the fastest exact and of the fastest approximate uncompiled configuration is profiled
(``profile_call.py``) into the JSON's ``profiles``: where the time goes, not how long it takes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_report import profile_lines, sweep_table  # noqa: E402
from measure import ForwardCounter, call_flops, device_peak, forward_flops, map_error  # noqa: E402
from profile_call import profile_call  # noqa: E402
from sweep_configs import base_configs, precision, settings, variant  # noqa: E402

from unioncam_lite import load_image, load_model, sample_images, union_cam  # noqa: E402
from unioncam_lite.cams.options import CamOptions  # noqa: E402

THETA = 10.0
#: the model and target layer swept (tests/test_speed_sweep.py swaps in a tiny one)
MODEL, LAYER = "vgg16", "features.29"
#: seconds kept for the two profiled calls at the end (``profile_fastest``) when a compilation starts
PROFILE_RESERVE = 15


class Sweep:
    """Runs configurations on one model and a few photos, collecting one row per configuration."""

    def __init__(self, device: torch.device, size: int | None, n_images: int, repeats: int,
                 batch_size: int | None = None, warmup: bool = True):
        self.device, self.repeats, self.batch_size, self.warmup = device, repeats, batch_size, warmup
        self.model, spec = load_model(MODEL, device, pretrained=False)
        self.kw = dict(mean=spec.mean, std=spec.std)
        self.images = [load_image(p, spec)[1].to(device) for p in list(sample_images().values())[:n_images]]
        if size:
            self.images = [F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
                           for x in self.images]
        with torch.no_grad():
            self.classes = [int(self.model(x).argmax()) for x in self.images]
        self.forward_flops = forward_flops(self.model, self.images[0])
        self.passes: float | None = None
        self.reference: list[torch.Tensor] | None = None
        self.name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"

    @property
    def flops(self) -> float:
        """FLOPs of one call: images forwarded × one forward pass + 2 × one forward pass (the backward)."""
        return call_flops(self.passes or 0, self.forward_flops)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def call(self, x: torch.Tensor, c: int, options: CamOptions) -> torch.Tensor:
        return union_cam(self.model, x, LAYER, c, THETA, options=options, **self.kw).cam

    def run(self, cfg: dict) -> dict:
        row = dict(name=cfg["name"], exact=cfg["exact"], precision=precision(cfg, self.device),
                   options={k: str(v) for k, v in cfg["options"].items()}, switches=cfg["switches"])
        options = CamOptions(**{"batch_size": self.batch_size, **cfg["options"]})
        compiled = options.compile_mode is not None
        with settings(self.model, **cfg["switches"]):
            start = time.perf_counter()
            warm = list(zip(self.images, self.classes)) if compiled else [(self.images[0], self.classes[0])]
            for x, c in warm if compiled or self.warmup else []:
                self.call(x, c, options)
            self._sync()
            row["warmup_s"] = time.perf_counter() - start
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            times, maps = [], []
            # images forwarded, counted on the first uncompiled configuration: every one forwards the same
            counter = ForwardCounter(self.model) if self.passes is None and not compiled else None
            for x, c in zip(self.images, self.classes):
                per_image = []
                for _ in range(self.repeats):
                    self._sync()
                    t0 = time.perf_counter()
                    cam = self.call(x, c, options)
                    self._sync()
                    per_image.append(time.perf_counter() - t0)
                times.append(statistics.median(per_image))
                maps.append(cam.float().cpu())
            if counter is not None:
                counter.remove()
                self.passes = counter.count / (len(self.images) * self.repeats)
        seconds = statistics.mean(times)
        row.update(ms_per_image=1000 * seconds, ms_range=[1000 * min(times), 1000 * max(times)],
                   tflops=self.flops / seconds / 1e12, status="passed")
        if self.device.type == "cuda":
            row["peak_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        peak = device_peak(self.name, row["precision"])
        row["peak_tflops"] = peak
        row["fraction_of_peak"] = row["tflops"] / peak if peak else None
        if cfg["switches"]["tf32"] is False and self.reference is None:
            self.reference = maps
        if self.reference is not None:
            row["max_abs_error"] = max(map_error(a, b) for a, b in zip(maps, self.reference))
        return row

    def profile(self, cfg: dict) -> dict:
        """Where one call's time goes in this configuration (``profile_call.py``), after one untimed call."""
        options = CamOptions(**{"batch_size": self.batch_size, **cfg["options"]})
        x, c = self.images[0], self.classes[0]
        with settings(self.model, **cfg["switches"]):
            self.call(x, c, options)
            return dict(profile_call(lambda: self.call(x, c, options), self.device), name=cfg["name"])


def fastest(rows: list[dict], exact: bool | None = None) -> dict | None:
    done = [r for r in rows if r.get("status") == "passed" and (exact is None or r["exact"] == exact)]
    return min(done, key=lambda r: r["ms_per_image"]) if done else None


def winners(rows: list[dict], compile_limit: float) -> dict:
    """The fastest exact and the fastest overall configuration (a compiled one only if it compiled in time)."""
    eligible = [r for r in rows if not (r["options"].get("compile_mode") and r.get("warmup_s", 0) > compile_limit)]
    out = {}
    for key, exact in (("exact", True), ("any", None)):
        best = fastest(eligible, exact)
        if best:
            out[key] = best["name"]
    return out


def profile_fastest(sweep: Sweep, report: dict, configs: dict[str, dict], deadline: float) -> None:
    """Profile the fastest exact and the fastest approximate configuration among ``configs`` (uncompiled),
    one call each, into ``report["profiles"]`` while ``time.monotonic()`` is before ``deadline``: why
    they take what they take (issue 21: bf16 was far from its target)."""
    report["profiles"] = []
    for exact in (True, False):
        pick = fastest([r for r in report["rows"] if r["name"] in configs], exact)
        if pick is None:
            continue
        left = deadline - time.monotonic()
        if left < 5 + 3 * pick["ms_per_image"] / 1000:
            report["profiles"].append(dict(name=pick["name"], error=f"not profiled (budget: {left:.0f} s left)"))
            continue
        try:
            report["profiles"].append(sweep.profile(configs[pick["name"]]))
        except Exception as err:   # a profiler that does not work here costs the profile, not the sweep
            report["profiles"].append(dict(name=pick["name"], error=f"{type(err).__name__}: {err}"[:300]))
        if sweep.device.type == "cuda":
            torch.cuda.empty_cache()


def markdown(report: dict) -> str:
    """The rows as a markdown table and the winners (the table of ``make gpu-check``'s report)."""
    return "\n".join(sweep_table(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--size", type=int, default=None, help="resize the photos to S×S (default: 224)")
    parser.add_argument("--images", type=int, default=2, help="photos (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per photo (default 3)")
    parser.add_argument("--batch-size", type=int, default=None, help="masked images per pass for every "
                        "configuration (default: the library's automatic choice)")
    parser.add_argument("--batch-sizes", default="128,256", help="other batch sizes for the fastest configuration")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode for the compiled rows: "
                        "default, reduce-overhead (CUDA graphs), max-autotune-no-cudagraphs, eager, or none")
    parser.add_argument("--compile-limit", type=float, default=60, help="seconds a compilation may take for its "
                        "configuration to be eligible (default 60)")
    parser.add_argument("--budget", type=float, default=170, help="seconds for the whole sweep (default 170)")
    parser.add_argument("--no-warmup", action="store_true", help="no untimed call before an uncompiled "
                        "configuration's timing (the CPU rehearsal: the timed call runs the same code)")
    parser.add_argument("--json", type=Path, default=None, help="write the rows and the winners to this file")
    parser.add_argument("--markdown", action="store_true", help="print the markdown table at the end")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch.cuda.is_available() is False")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    start = time.monotonic()
    sweep = Sweep(device, args.size, args.images, args.repeats, args.batch_size, warmup=not args.no_warmup)
    report = {"device_name": sweep.name, "torch": torch.__version__, "model": f"{MODEL} (random weights)",
              "size": args.size or 224, "images": len(sweep.images), "repeats": args.repeats, "theta": THETA,
              "forward_gflop": sweep.forward_flops / 1e9, "passes": None, "gflop": None,
              "batch_size": args.batch_size or "automatic", "compile_limit": args.compile_limit, "rows": [],
              "winners": {}}
    print(f"sweep on {sweep.name}, torch {torch.__version__}: VGG16 {report['size']}×{report['size']}, "
          f"{report['images']} photos × {args.repeats}, one forward pass {report['forward_gflop']:.2f} GFLOP",
          flush=True)

    def record(row: dict) -> None:
        if report["passes"] is None and sweep.passes is not None:
            report["passes"], report["gflop"] = sweep.passes, sweep.flops / 1e9
            print(f"  {sweep.passes:.0f} images forwarded and {report['gflop']:.1f} GFLOP per call", flush=True)
        report["rows"].append(row)
        report["winners"] = winners(report["rows"], args.compile_limit)
        report["seconds"] = time.monotonic() - start
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=1))
        if row.get("status") == "passed":
            frac = f"  {100 * row['fraction_of_peak']:.0f} % of peak" if row.get("fraction_of_peak") else ""
            err = f"  max |Δ| {row['max_abs_error']:.1e}" if "max_abs_error" in row else ""
            print(f"  {row['name']:80s} {row['ms_per_image']:9.1f} ms/image {row['tflops']:7.2f} TFLOP/s{frac}{err}"
                  f"  (warm-up {row['warmup_s']:.1f} s)", flush=True)
        else:
            print(f"  {row['name']:80s} {row['status']}", flush=True)

    def attempt(cfg: dict, needed: float) -> None:
        left = args.budget - (time.monotonic() - start)
        if left < needed:
            record(dict(name=cfg["name"], exact=cfg["exact"], options={},
                        status=f"not run (budget: {left:.0f} s left)"))
            return
        try:
            record(sweep.run(cfg))
        except Exception as err:   # one configuration that breaks (no triton, out of memory) does not stop the sweep
            if device.type == "cuda":
                torch.cuda.empty_cache()
            record(dict(name=cfg["name"], exact=cfg["exact"], options={},
                        status=f"failed: {type(err).__name__}: {' '.join(str(err).split())[:300]}"))

    configs = base_configs()
    # the strict fp32 reference first, so that every row (the default included) has its error
    for cfg in [configs[1], configs[0], *configs[2:]]:
        last = report["rows"][-1] if report["rows"] else None
        attempt(cfg, needed=3 * (last or {}).get("warmup_s", 0) + 5)
    by_name = {c["name"]: c for c in configs}
    uncompiled = dict(by_name)                        # and the batch-size variants: what the profile may pick
    best = fastest(report["rows"])
    if best is not None:
        for bs in batch_sizes:
            other = variant(by_name[best["name"]], f"batch {bs}", batch_size=bs)
            attempt(other, needed=10)
            uncompiled.setdefault(other["name"], other)
    mode = None if args.compile_mode == "none" else args.compile_mode
    if mode:
        chosen = []
        for exact in (True, None):
            pick = fastest([r for r in report["rows"] if r["name"] in by_name], exact)
            if pick and pick["name"] not in chosen:
                chosen.append(pick["name"])
        for name in chosen:
            attempt(variant(by_name[name], f"torch.compile({mode})", compile_mode=mode),
                    needed=args.compile_limit + PROFILE_RESERVE)
    # last, after every timed row: the profiler can slow later CUDA work in the same process
    # (CUPTI is not always torn down: pytorch/pytorch#144455)
    profile_fastest(sweep, report, uncompiled, start + args.budget)
    for p in report["profiles"]:
        print("\n".join(profile_lines(p["name"], p)) if "error" not in p else f"  profile of {p['name']}: "
              f"{p['error']}", flush=True)
    report["seconds"] = time.monotonic() - start
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(f"sweep took {report['seconds']:.0f} s")
    if args.markdown:
        print(markdown(report))
    return 0 if any(r.get("status") == "passed" for r in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
