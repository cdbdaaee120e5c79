"""Time this project's Score-CAM and UnionCAM against pytorch-grad-cam's and torch-cam's ScoreCAM.

    python benchmarks/bench_unioncam.py [--device cpu|cuda] [--models efficientnet_lite0,vgg16]
                                        [--images N] [--repeats R] [--size S] [--batch-size B]
                                        [--warmup full|light] [--cudnn-benchmark] [--only SUBSTRINGS]
                                        [--markdown] [--json PATH]

Same model, target layer, images and batch size for every method (pytorch-grad-cam is also
run at its own default batch of 16, which is what its users get). Every method is warmed up
first, then each image is timed R times (median), with ``torch.cuda.synchronize`` around the
call on CUDA. Warm-up: ``full`` (default on CUDA) runs each method once on the first image;
``light`` (default on CPU, where a full warm-up would double the run) runs our methods on a
few channels (``top_k``, which also builds the BN-folded copy) and one forward pass of the
model at each peer's batch size.

Memory, FLOPs and images forwarded are measured as ``measure.py`` says (CUDA allocator peak or
sampled RSS growth; one forward pass × images forwarded + 2 × one pass for UnionCAM's backward).

Approximations (top-k channels, bf16 autocast of the masked passes: on CUDA the tensor cores, on
the CPU oneDNN's bf16 kernels) report their error: max |map − exact map| over the pixels of each
image (both maps min-max normalised to [0, 1]), the exact map being ``ours UnionCAM (exact)``'s.

Peers mask the *normalised* input tensor (a zero there is the mean colour, not black); we mask
in pixel space. The work per masked image is the same; we forward fewer images (dead and
duplicate channels are skipped, exactly) and run them through a BN-folded copy of the model
(same function up to float rounding), which is part of what is measured.
VGG16 runs with random weights (timing only). On the CPU it is left out unless named: one
224×224 VGG16 forward pass takes ~0.3 s on 2 cores, so 512 masked passes per method would
exceed the 5-minute budget of the default run (``--models vgg16 --size 112`` is a reduced run).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's ScoreCAM draws a progress bar per image

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unioncam_lite import load_image, load_model, resolve_layer, sample_images, scorecam, union_cam  # noqa: E402
from unioncam_lite.cams.masked import auto_batch_size  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import ForwardCounter, PeakMemory, call_flops, forward_flops, map_error  # noqa: E402
from targets import GPU_TARGETS  # noqa: E402  (VGG16, 224×224, per image)


def methods(model, layer, spec, bs, device):
    """name -> (timed call, light warm-up call); every call takes (x, class index).

    The peers (pytorch-grad-cam, torch-cam) are left out, with a note, where they are not
    installed (e.g. a GPU machine without network that has only torch)."""
    try:
        from pytorch_grad_cam import ScoreCAM as PgcScoreCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        PgcScoreCAM = None
        print("note: pytorch-grad-cam is not installed (pip install grad-cam): its rows are left out")
    try:
        from torchcam.methods import ScoreCAM as TcScoreCAM
    except ImportError:
        TcScoreCAM = None
        print("note: torch-cam is not installed (pip install torchcam): its row is left out")

    kw = dict(mean=spec.mean, std=spec.std, batch_size=bs)
    few = dict(kw, top_k=2 * bs)

    def pgc(x, c, batch=bs):
        cam = PgcScoreCAM(model=model, target_layers=[layer])
        if batch is not None:
            cam.batch_size = batch
        try:
            return cam(input_tensor=x, targets=[ClassifierOutputTarget(c)])
        finally:
            cam.activations_and_grads.release()

    def torchcam(x, c):
        with TcScoreCAM(model, layer, batch_size=bs, input_shape=tuple(x.shape[1:])) as extractor:
            with torch.no_grad():
                out = model(x)
            return extractor(c, out)

    def forward_at(batch):
        def warm(x, c):
            with torch.inference_mode():
                model(x.expand(batch, *x.shape[1:]).contiguous())
        return warm

    table = {
        "ours Score-CAM (exact)": (lambda x, c: scorecam(model, x, layer, c, **kw),
                                   lambda x, c: scorecam(model, x, layer, c, **few)),
        "ours UnionCAM (exact)": (lambda x, c: union_cam(model, x, layer, c, **kw),
                                  lambda x, c: union_cam(model, x, layer, c, **few)),
        "ours UnionCAM top-256 (approx.)": (lambda x, c: union_cam(model, x, layer, c, top_k=256, **kw),
                                            lambda x, c: union_cam(model, x, layer, c, **few)),
    }
    # bf16 autocast of the masked passes: on CUDA the tensor cores, on the CPU oneDNN (AVX-512 BF16 / AMX
    # where the CPU has them); an approximation, its error against the exact map is reported
    table["ours UnionCAM bf16 autocast (approx.)"] = (
        lambda x, c: union_cam(model, x, layer, c, autocast=torch.bfloat16, **kw),
        lambda x, c: union_cam(model, x, layer, c, autocast=torch.bfloat16, **few))
    if device.type == "cuda":
        one = dict(kw, batch_size=1)
        table["ours UnionCAM (exact, batch 1: memory)"] = (
            lambda x, c: union_cam(model, x, layer, c, **one),
            lambda x, c: union_cam(model, x, layer, c, **dict(one, top_k=4)))
    if PgcScoreCAM is not None:
        table.update({
            "pytorch-grad-cam ScoreCAM": (pgc, forward_at(bs)),
            "pytorch-grad-cam ScoreCAM (its default batch 16)": (lambda x, c: pgc(x, c, batch=None), forward_at(16)),
        })
    if TcScoreCAM is not None:
        table["torch-cam ScoreCAM"] = (torchcam, forward_at(bs))
    return table


EXACT = "ours UnionCAM (exact)"   # the reference of every approximation's error


def as_map(out) -> torch.Tensor:
    """The (1, H, W) map of a method's output (ours: a tensor or a UnionResult; peers: an array)."""
    out = getattr(out, "cam", out)
    return torch.as_tensor(out).detach().float().cpu().reshape(1, *out.shape[-2:])


def bench_model(name, device, n_images, repeats, size=None, batch_size=None, warmup="full", only=None):
    pretrained = name != "vgg16"
    model, spec = load_model(name, device, pretrained=pretrained)
    layer = resolve_layer(model, spec.target_layer)
    images = [load_image(p, spec)[1].to(device) for p in list(sample_images().values())[:n_images]]
    if size:
        images = [F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False) for x in images]
    with torch.no_grad():
        classes = [int(model(x).argmax()) for x in images]
    bs = batch_size or auto_batch_size(model, images[0])
    flops = forward_flops(model, images[0])
    forwarded = ForwardCounter(model)   # its last linear layer is shared by the BN-folded copy
    label = f"{name}{'' if pretrained else ' (random weights)'} {tuple(images[0].shape[-2:])}"
    rows, exact_maps = [], []
    try:
        for method, (fn, light) in methods(model, layer, spec, bs, device).items():
            if only and not any(o in method for o in only):
                continue
            (fn if warmup == "full" else light)(images[0], classes[0])
            times, peaks, totals, passes, maps = [], [], [], [], []
            for x, c in zip(images, classes):
                per_image = []
                for _ in range(repeats):
                    forwarded.reset()
                    with PeakMemory(device) as mem:
                        if device.type == "cuda":
                            torch.cuda.synchronize(device)
                        start = time.perf_counter()
                        out = fn(x, c)
                        if device.type == "cuda":
                            torch.cuda.synchronize(device)
                        per_image.append(time.perf_counter() - start)
                    peaks.append(mem.peak)
                    totals.append(mem.total or 0)
                    passes.append(forwarded.count)
                times.append(statistics.median(per_image))
                if method.startswith("ours"):
                    maps.append(as_map(out))
            if method == EXACT:
                exact_maps = maps
            total_flops = call_flops(statistics.mean(passes), flops, backward="UnionCAM" in method)
            seconds = statistics.mean(times)
            row = dict(model=label, method=method, seconds=seconds, peak_mb=max(peaks) / 2**20,
                       total_mb=max(totals) / 2**20, passes=statistics.mean(passes), gflop=total_flops / 1e9,
                       gflops_per_s=total_flops / seconds / 1e9)
            if "UnionCAM" in method and method != EXACT and exact_maps:
                row["max_abs_error"] = max(map_error(a, b) for a, b in zip(maps, exact_maps))
            rows.append(row)
            total = f" (total {row['total_mb']:.0f} MB)" if device.type == "cuda" else ""
            error = f"  max |map - exact| {row['max_abs_error']:.2e}" if "max_abs_error" in row else ""
            print(f"{label:28s} {method:48s} {seconds:8.3f} s/image  peak +{row['peak_mb']:7.1f} MB{total}  "
                  f"{row['passes']:6.0f} images forwarded  {row['gflop']:8.1f} GFLOP  "
                  f"{row['gflops_per_s']:8.1f} GFLOP/s{error}", flush=True)
    finally:
        forwarded.remove()
    print(f"  batch size {bs} for every method (pytorch-grad-cam also at its default 16); "
          f"one forward pass = {flops / 1e9:.2f} GFLOP")
    ref = {r["method"]: r["seconds"] for r in rows}
    for peer in ("pytorch-grad-cam ScoreCAM", "pytorch-grad-cam ScoreCAM (its default batch 16)",
                 "torch-cam ScoreCAM"):
        for ours in ("ours Score-CAM (exact)", "ours UnionCAM (exact)", "ours UnionCAM top-256 (approx.)"):
            if peer in ref and ours in ref:
                print(f"  ratio {ours} / {peer}: {ref[ours] / ref[peer]:.2f}")
    check_targets(name, device, rows, size)
    return rows


def check_targets(name, device, rows, size, quiet=False) -> list[dict]:
    """The issue's targets next to what was measured: printed, and returned as
    ``[{"target", "what", "limit", "value", "met"}]`` (``--json``, ``make gpu-check``'s report)."""
    by = {r["method"]: r for r in rows}
    verdicts, device = [], torch.device(device)
    if device.type == "cpu" and name == "efficientnet_lite0":
        ours, peer = by.get("ours UnionCAM (exact)"), by.get("pytorch-grad-cam ScoreCAM")
        if ours and peer:
            ratio = ours["seconds"] / peer["seconds"]
            verdicts.append(dict(target="cpu_ratio", what="UnionCAM exact / pytorch-grad-cam ScoreCAM (same batch)",
                                 limit=0.5, value=ratio, met=ratio <= 0.5))
            if not quiet:
                print(f"  target (CPU): UnionCAM exact <= 0.5 x pytorch-grad-cam ScoreCAM (same batch): "
                      f"{ratio:.2f} -> {'met' if ratio <= 0.5 else 'NOT met'}")
    if device.type == "cuda" and name == "vgg16" and not size:
        checks = [("fp32_s", "ours UnionCAM (exact)", "seconds", GPU_TARGETS["fp32_s"], "s/image fp32"),
                  ("bf16_s", "ours UnionCAM bf16 autocast (approx.)", "seconds", GPU_TARGETS["bf16_s"], "s/image bf16"),
                  ("batch1_total_gb", "ours UnionCAM (exact, batch 1: memory)", "total_mb",
                   GPU_TARGETS["batch1_total_gb"] * 1000, "MB total peak at batch 1")]
        for target, method, key, limit, what in checks:
            if method in by:
                v = by[method][key]
                verdicts.append(dict(target=target, what=what, limit=limit, value=v, met=v <= limit))
                if not quiet:
                    print(f"  target (GPU): {what} <= {limit:g}: {v:.3f} -> {'met' if v <= limit else 'NOT met'}")
    return verdicts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--models", default=None, help="comma-separated; default: efficientnet_lite0 on CPU, "
                        "efficientnet_lite0,vgg16 on CUDA")
    parser.add_argument("--images", type=int, default=None, help="photos per model (default 1 on CPU, 4 on CUDA)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per image (default 1 CPU, 3 CUDA)")
    parser.add_argument("--size", type=int, default=None, help="resize the images to S×S (default: the model's 224)")
    parser.add_argument("--batch-size", type=int, default=None, help="masked images per pass for every method "
                        "(default: ours automatic: 4 on CPU, from free memory on CUDA)")
    parser.add_argument("--warmup", choices=("full", "light"), default=None,
                        help="full: one untimed call per method (default on CUDA); light: see the docstring "
                        "(default on CPU)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True "
                        "for every method (default: PyTorch's default, off)")
    parser.add_argument("--only", default=None, help="comma-separated substrings of method names to run")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--json", type=Path, default=None, help="also write the device, every row and the "
                        "targets' verdicts to this JSON file (what `make gpu-check` reads)")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda, but torch.cuda.is_available() is False")
    models = (args.models or ("efficientnet_lite0,vgg16" if cuda else "efficientnet_lite0")).split(",")
    n_images = args.images or (4 if cuda else 1)
    repeats = args.repeats or (3 if cuda else 1)
    warmup = args.warmup or ("full" if cuda else "light")
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    hw = (f"{torch.cuda.get_device_name(device)} (cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
          f"cudnn.benchmark={torch.backends.cudnn.benchmark})" if cuda else f"CPU, {torch.get_num_threads()} threads")
    print(f"device: {hw}; torch {torch.__version__}; images per model: {n_images}; repeats: {repeats}; "
          f"warm-up: {warmup}; memory: {'CUDA max_memory_allocated' if cuda else 'process RSS growth (psutil)'}")
    if not cuda and not args.models:
        print("note: VGG16 left out on the CPU (~0.3 s per forward pass on 2 cores, 512 passes per method); "
              "run it with --models vgg16 --size 112, or on CUDA where it is included at 224×224")
    start = time.perf_counter()
    all_rows, report = [], {"device": hw, "device_name": torch.cuda.get_device_name(device) if cuda else "CPU",
                            "torch": torch.__version__, "images": n_images, "repeats": repeats, "warmup": warmup,
                            "models": {}}
    for name in models:
        rows = bench_model(name, device, n_images, repeats, args.size, args.batch_size, warmup,
                           args.only.split(",") if args.only else None)
        all_rows += rows
        report["models"][name] = {"rows": rows, "targets": check_targets(name, device, rows, args.size, quiet=True)}
    report["seconds"] = time.perf_counter() - start
    print(f"total benchmark time {report['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    if args.markdown:
        mem = "peak MB (+ / total)" if cuda else "peak RSS growth MB"
        print(f"\n| model | method | s / image | {mem} | images forwarded | GFLOP | GFLOP/s | max abs. error |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in all_rows:
            m = f"{r['peak_mb']:.0f} / {r['total_mb']:.0f}" if cuda else f"{r['peak_mb']:.0f}"
            error = f"{r['max_abs_error']:.1e}" if "max_abs_error" in r else ""
            print(f"| {r['model']} | {r['method']} | {r['seconds']:.3f} | {m} | {r['passes']:.0f} | "
                  f"{r['gflop']:.1f} | {r['gflops_per_s']:.1f} | {error} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
