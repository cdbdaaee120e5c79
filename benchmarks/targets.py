"""The GPU targets of the project (VGG16, 224×224, per image; issue 21), shared by the benchmark and
`make gpu-check` (kept free of imports, so the check can report them even when nothing else runs).

UnionCAM exact (fp32 with PyTorch's default TF32 convolutions) ≤ 80 ms, with bf16 autocast of the
masked passes ≤ 40 ms, and the peak memory at batch 1 (weights included) ≤ 2.22 GB, the paper's figure."""

GPU_TARGETS = {"fp32_s": 0.080, "bf16_s": 0.040, "batch1_total_gb": 2.22}
