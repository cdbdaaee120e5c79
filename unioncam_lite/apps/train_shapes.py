"""Train a shapes model (the library side of ``python -m unioncam_lite train-shapes``).

Deterministic (seeded data, seeded initialisation, seeded batch order and flips; one thread per
process recommended). The defaults of each model produced its committed weights,
``unioncam_lite/data/bundled/MODEL.pt``; ``MODEL.json`` beside them records the command, seeds,
test accuracy, parameter count and training time.

* ``shapes_cnn`` (global average pool head): :func:`train`'s defaults (6,000 images, 6 epochs)
  suffice; the committed model was trained as ``shapes_vgg`` is (:data:`DEFAULTS`).
* ``shapes_vgg`` (flatten → fully-connected head): every position of the map has its own
  weights, so the head must learn each shape at each place; it needs more data (12,000 images,
  mirrored left-right at random) to reach ≥ 99 %. Half of each batch is also darkened around
  the object (``darken``): without that, the flattened head read every masked image (image × map,
  what Score-CAM, UnionCAM's β and the faithfulness metrics feed it) as "square", so every method
  had the same Average Drop and Increase.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..data.shapes import CLASSES, MEAN, STD, generate, to_tensor
from ..models.shapes_nets import ARCHITECTURES

#: The settings that produced each committed model (the command's defaults), keywords of :func:`train`.
DEFAULTS: dict[str, dict[str, Any]] = {"shapes_cnn": dict(n_train=12000, epochs=5, flip=True, darken=0.5),
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
          seed: int = 0, log: Callable[[str], Any] = print, model: str = "shapes_cnn", flip: bool = False,
          darken: float = 0.0) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``model`` (a name in ``shapes.ARCHITECTURES``) from scratch; returns it (eval mode) and a record.

    ``flip`` and ``darken``: the augmentations of :func:`augment`, drawn from the seeded generator.
    """
    torch.manual_seed(seed)
    images, labels, object_masks = generate(n_train, seed=seed)
    x, y, masks = to_tensor(images), torch.from_numpy(labels), torch.from_numpy(object_masks)[:, None]
    test_images, test_labels, _ = generate(n_test, seed=seed + 1)
    name, net = model, ARCHITECTURES[model]()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * -(-n_train // batch_size))
    losses = []
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(n_train, generator=g)
        total = 0.0
        for s in range(0, n_train, batch_size):
            idx = order[s:s + batch_size]
            xb = augment(x[idx], masks[idx], g, flip=flip, darken=darken)
            loss = nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / n_train)
        log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}")
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(to_tensor(test_images[s:s + 256])).argmax(1) for s in range(0, n_test, 256)])
    accuracy = float((pred == torch.from_numpy(test_labels)).float().mean())
    record = dict(model=name, classes=CLASSES, seed=seed, test_seed=seed + 1, n_train=n_train, n_test=n_test,
                  epochs=epochs, batch_size=batch_size, lr=lr, flip=flip, darken=darken, losses=losses,
                  test_accuracy=accuracy,
                  parameters=sum(p.numel() for p in net.parameters()),
                  seconds=round(time.perf_counter() - start, 1), threads=torch.get_num_threads(),
                  torch=torch.__version__)
    return net, record
