"""Time this project's Score-CAM and UnionCAM against pytorch-grad-cam's and torch-cam's ScoreCAM.

    python benchmarks/bench_unioncam.py [--device cpu|cuda] [--models efficientnet_lite0,vgg16]
                                        [--images N] [--repeats R] [--markdown]

Same model, layer, images and batch size for every method (pytorch-grad-cam is also run with
its own default batch of 16, which is what its users get); one warm-up call per method,
then the median of R timed calls per image (``torch.cuda.synchronize`` around each on CUDA).
Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` during the call; on the CPU
the peak resident-set growth of this process, sampled every 5 ms (psutil).
FLOPs: one forward pass of the model is counted with ``torch.utils.flop_counter``; a call's
total is (images forwarded) × that + 2 × that per backward pass; images forwarded are counted
by a forward pre-hook, so skipped channels are not counted.

Peers mask the *normalised* input tensor (a zero there is the mean colour, not black); we mask
in pixel space. The work per masked image is the same; we forward fewer images because dead
and duplicate channels are skipped (exactly), which is part of what is measured.
VGG16 uses random weights (timing only). On the CPU it is skipped unless asked for: one
VGG16 forward pass takes ~0.3 s on 2 cores, so 512 masked passes per method would exceed the
5-minute budget of the default run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unioncam_lite import load_image, load_model, resolve_layer, sample_images, scorecam, union_cam  # noqa: E402
from unioncam_lite.cams.masked import auto_batch_size  # noqa: E402


class PeakMemory:
    """Peak memory growth during a block: CUDA allocator peak, or sampled process RSS on CPU."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            import psutil

            self.proc = psutil.Process()
            self.base = self.proc.memory_info().rss
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss - self.base)
            time.sleep(0.005)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.base
        else:
            self.running = False
            self.thread.join()


def forward_flops(model, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x[:1])
    return counter.get_total_flops()


def methods(model, layer, spec, bs, device):
    from pytorch_grad_cam import ScoreCAM as PgcScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam.methods import ScoreCAM as TcScoreCAM

    kw = dict(mean=spec.mean, std=spec.std, batch_size=bs)

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

    table = {
        "ours Score-CAM (exact)": lambda x, c: scorecam(model, x, layer, c, **kw),
        "ours UnionCAM (exact)": lambda x, c: union_cam(model, x, layer, c, **kw),
        "ours UnionCAM top-256 (approx.)": lambda x, c: union_cam(model, x, layer, c, top_k=256, **kw),
        "pytorch-grad-cam ScoreCAM": pgc,
        "pytorch-grad-cam ScoreCAM (its default batch 16)": lambda x, c: pgc(x, c, batch=None),
        "torch-cam ScoreCAM": torchcam,
    }
    if device.type == "cuda":
        table["ours UnionCAM bf16 (approx.)"] = lambda x, c: union_cam(model, x, layer, c, autocast=torch.bfloat16, **kw)
    return table


def bench_model(name, device, n_images, repeats, only=None):
    pretrained = name != "vgg16"
    model, spec = load_model(name, device, pretrained=pretrained)
    layer = resolve_layer(model, spec.target_layer)
    images = [load_image(p, spec)[1].to(device) for p in list(sample_images().values())[:n_images]]
    with torch.no_grad():
        classes = [int(model(x).argmax()) for x in images]
    bs = auto_batch_size(model, images[0])
    flops = forward_flops(model, images[0])
    forwarded = [0]
    hook = model.register_forward_pre_hook(lambda m, inp: forwarded.__setitem__(0, forwarded[0] + inp[0].shape[0]))
    rows = []
    try:
        for method, fn in methods(model, layer, spec, bs, device).items():
            if only and not any(o in method for o in only):
                continue
            fn(images[0], classes[0])  # warm-up
            times, peaks, passes = [], [], []
            for x, c in zip(images, classes):
                per_image = []
                for _ in range(repeats):
                    forwarded[0] = 0
                    with PeakMemory(device) as mem:
                        if device.type == "cuda":
                            torch.cuda.synchronize(device)
                        start = time.perf_counter()
                        fn(x, c)
                        if device.type == "cuda":
                            torch.cuda.synchronize(device)
                        per_image.append(time.perf_counter() - start)
                    peaks.append(mem.peak)
                    passes.append(forwarded[0])
                times.append(statistics.median(per_image))
            backward = 1 if "UnionCAM" in method else 0
            total_flops = statistics.mean(passes) * flops + backward * 2 * flops
            seconds = statistics.mean(times)
            rows.append(dict(model=name + ("" if pretrained else " (random weights)"), method=method,
                             seconds=seconds, peak_mb=max(peaks) / 2**20, passes=statistics.mean(passes),
                             gflop=total_flops / 1e9, gflops_per_s=total_flops / seconds / 1e9))
            print(f"{name:18s} {method:34s} {seconds:8.3f} s/image  peak {max(peaks) / 2**20:8.1f} MB  "
                  f"{statistics.mean(passes):7.0f} images forwarded  {total_flops / 1e9:8.1f} GFLOP  "
                  f"{total_flops / seconds / 1e9:7.1f} GFLOP/s", flush=True)
    finally:
        hook.remove()
    return rows, bs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--models", default=None, help="comma-separated; default: efficientnet_lite0 on CPU, "
                        "efficientnet_lite0,vgg16 on CUDA")
    parser.add_argument("--images", type=int, default=None, help="photos per model (default 1 on CPU, 4 on CUDA)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per image (default 1 CPU, 3 CUDA)")
    parser.add_argument("--only", default=None, help="comma-separated substrings of method names to run")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    models = (args.models or ("efficientnet_lite0,vgg16" if cuda else "efficientnet_lite0")).split(",")
    n_images = args.images or (4 if cuda else 1)
    repeats = args.repeats or (3 if cuda else 1)
    hw = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {hw}; torch {torch.__version__}; images per model: {n_images}; repeats: {repeats}")
    all_rows = []
    for name in models:
        rows, bs = bench_model(name, device, n_images, repeats, args.only.split(",") if args.only else None)
        print(f"  (batch size {bs} for every method)")
        ref = {r["method"]: r["seconds"] for r in rows}
        for peer in ("pytorch-grad-cam ScoreCAM", "pytorch-grad-cam ScoreCAM (its default batch 16)",
                     "torch-cam ScoreCAM"):
            for ours in ("ours Score-CAM (exact)", "ours UnionCAM (exact)"):
                if peer in ref and ours in ref:
                    print(f"  ratio {ours} / {peer}: {ref[ours] / ref[peer]:.2f}")
        all_rows += rows
    if args.markdown:
        print("\n| model | method | s / image | peak MB | images forwarded | GFLOP | GFLOP/s |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in all_rows:
            print(f"| {r['model']} | {r['method']} | {r['seconds']:.3f} | {r['peak_mb']:.0f} | {r['passes']:.0f} | "
                  f"{r['gflop']:.1f} | {r['gflops_per_s']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
