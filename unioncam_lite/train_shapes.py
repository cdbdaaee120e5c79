"""Train the shapes CNN: ``python -m unioncam_lite.train_shapes [--out data/shapes_cnn.pt]``.

Deterministic (seeded data, seeded initialisation, one thread per process recommended). The
defaults produced the committed ``data/shapes_cnn.pt``; ``data/shapes_cnn.json`` records the
command, seeds, test accuracy and training time.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from .images import DATA_DIR
from .shapes import CLASSES, ShapesCNN, generate, to_tensor


def train(n_train: int = 6000, n_test: int = 1000, epochs: int = 6, batch_size: int = 64, lr: float = 3e-3,
          seed: int = 0, log=print) -> tuple[nn.Module, dict]:
    """Train from scratch; returns the model (eval mode) and a record with losses and test accuracy."""
    torch.manual_seed(seed)
    images, labels, _ = generate(n_train, seed=seed)
    x, y = to_tensor(images), torch.from_numpy(labels)
    test_images, test_labels, _ = generate(n_test, seed=seed + 1)
    model = ShapesCNN()
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
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
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
    record = dict(classes=CLASSES, seed=seed, test_seed=seed + 1, n_train=n_train, n_test=n_test, epochs=epochs,
                  batch_size=batch_size, lr=lr, losses=losses, test_accuracy=accuracy,
                  seconds=round(time.perf_counter() - start, 1), torch=torch.__version__)
    return model, record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR / "shapes_cnn.pt")
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model, record = train(n_train=args.n_train, epochs=args.epochs, seed=args.seed)
    record["command"] = (f"python -m unioncam_lite.train_shapes --n-train {args.n_train} --epochs {args.epochs} "
                         f"--seed {args.seed}")
    torch.save(model.state_dict(), args.out)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"test accuracy {record['test_accuracy']:.3f} in {record['seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
