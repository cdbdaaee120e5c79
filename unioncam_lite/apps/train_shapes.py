"""Train a shapes model: ``python -m unioncam_lite.train_shapes [--model shapes_cnn|shapes_vgg] [--out PATH]``.

Deterministic (seeded data, seeded initialisation, seeded batch order and flips; one thread per
process recommended). The defaults of each model produced its committed ``data/MODEL.pt``;
``data/MODEL.json`` records the command, seeds, test accuracy, parameter count and training time.

* ``shapes_cnn`` (global average pool head): 6,000 images, 6 epochs.
* ``shapes_vgg`` (flatten → fully-connected head): every position of the map has its own
  weights, so the head must learn each shape at each place; it needs more data (12,000 images,
  mirrored left-right at random) to reach ≥ 99 %. Half of each batch is also darkened around
  the object (``darken``): without that, the flattened head read every masked image (image × map,
  what Score-CAM, UnionCAM's β and the faithfulness metrics feed it) as "square", so every method
  had the same Average Drop and Increase.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from ..data.images import DATA_DIR
from ..models.shapes_nets import ARCHITECTURES
from ..data.shapes import CLASSES, MEAN, STD, generate, to_tensor

#: The settings that produced each committed model (the CLI's defaults).
DEFAULTS = {"shapes_cnn": dict(n_train=12000, epochs=5, flip=True, darken=0.5),
            "shapes_vgg": dict(n_train=12000, epochs=5, flip=True, darken=0.5)}


def augment(x: torch.Tensor, masks: torch.Tensor, generator: torch.Generator, *, flip: bool = False,
            darken: float = 0.0) -> torch.Tensor:
    """A training batch (N, 3, H, W), model-normalised, with its object masks (N, 1, H, W) bool.

    ``flip``: mirror a random half left-right (every class is symmetric about the vertical axis,
    so the label stays true). ``darken``: multiply that share of the batch, in pixel space, by a
    random smooth map in [0, 1] (an 8×8 grid of uniform values, bilinearly upsampled and min-max
    normalised) raised to 1 on the object's mask, so the background darkens and the object stays
    lit: the kind of input every masking method and metric feeds the model (Score-CAM, UnionCAM's
    β, Average Drop, insertion/deletion), with the label still true. No draws from ``generator``
    when both are off.
    """
    if flip:
        mirror = torch.rand(len(x), generator=generator)[:, None, None, None] < 0.5
        x, masks = torch.where(mirror, x.flip(-1), x), torch.where(mirror, masks.flip(-1), masks)
    if darken:
        dark = torch.rand(len(x), generator=generator)[:, None, None, None] < darken
        field = nn.functional.interpolate(torch.rand(len(x), 1, 8, 8, generator=generator), size=x.shape[-2:],
                                          mode="bilinear", align_corners=False)
        lo, hi = field.amin((2, 3), keepdim=True), field.amax((2, 3), keepdim=True)
        field = torch.where(dark, torch.maximum((field - lo) / (hi - lo), masks.float()), torch.ones_like(field))
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (MEAN, STD))
        x = ((x * std + mean) * field - mean) / std
    return x


def train(n_train: int = 6000, n_test: int = 1000, epochs: int = 6, batch_size: int = 64, lr: float = 3e-3,
          seed: int = 0, log=print, model: str = "shapes_cnn", flip: bool = False,
          darken: float = 0.0) -> tuple[nn.Module, dict]:
    """Train ``model`` (a name in ``shapes.ARCHITECTURES``) from scratch; returns it (eval mode) and a record.

    ``flip`` and ``darken``: the augmentations of :func:`augment`, drawn from the seeded generator.
    """
    torch.manual_seed(seed)
    images, labels, masks = generate(n_train, seed=seed)
    x, y, masks = to_tensor(images), torch.from_numpy(labels), torch.from_numpy(masks)[:, None]
    test_images, test_labels, _ = generate(n_test, seed=seed + 1)
    name, model = model, ARCHITECTURES[model]()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * -(-n_train // batch_size))
    losses = []
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n_train, generator=g)
        total = 0.0
        for s in range(0, n_train, batch_size):
            idx = order[s:s + batch_size]
            xb = augment(x[idx], masks[idx], g, flip=flip, darken=darken)
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / n_train)
        log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}")
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(to_tensor(test_images[s:s + 256])).argmax(1) for s in range(0, n_test, 256)])
    accuracy = float((pred == torch.from_numpy(test_labels)).float().mean())
    record = dict(model=name, classes=CLASSES, seed=seed, test_seed=seed + 1, n_train=n_train, n_test=n_test,
                  epochs=epochs, batch_size=batch_size, lr=lr, flip=flip, darken=darken, losses=losses,
                  test_accuracy=accuracy,
                  parameters=sum(p.numel() for p in model.parameters()),
                  seconds=round(time.perf_counter() - start, 1), threads=torch.get_num_threads(),
                  torch=torch.__version__)
    return model, record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="shapes_cnn")
    parser.add_argument("--out", type=Path,
                        help="weights file (default data/MODEL.pt); the record goes beside it (.json)")
    parser.add_argument("--n-train", type=int, help="training images (default: the model's, see DEFAULTS)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = dict(DEFAULTS[args.model])
    settings.update({k: v for k, v in (("n_train", args.n_train), ("epochs", args.epochs)) if v is not None})
    out = args.out or DATA_DIR / f"{args.model}.pt"
    if not out.parent.is_dir():
        parser.error(f"folder {str(out.parent)!r} of --out does not exist: create it or choose another path")
    model, record = train(model=args.model, seed=args.seed, **settings)
    record["command"] = (f"python -m unioncam_lite.train_shapes --model {args.model} --n-train {settings['n_train']} "
                         f"--epochs {settings['epochs']} --seed {args.seed}")
    torch.save(model.state_dict(), out)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"test accuracy {record['test_accuracy']:.3f} in {record['seconds']} s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
