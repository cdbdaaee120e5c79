"""The GPU targets of the project (VGG16, 224×224, per image), shared by the benchmark and
`make gpu-check` (kept free of imports, so the check can report them even when nothing else runs)."""

GPU_TARGETS = {"fp32_s": 0.150, "bf16_s": 0.050, "batch1_total_gb": 2.22}
