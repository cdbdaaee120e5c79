"""``train-shapes``: train a shapes model (:mod:`unioncam_lite.apps.train_shapes`) and write its
weights and its record (command, seeds, test accuracy, parameters, time) next to them."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .arguments import positive_int


def register(sub: Any) -> None:
    """Add the ``train-shapes`` parser to the subcommands ``sub``."""
    from ..train_shapes import DEFAULTS

    p = sub.add_parser("train-shapes", help="train a shapes model (the bundled MODEL.pt and its record, .json)",
                       description="Train a shapes model, deterministically; its defaults produced the committed "
                                   "weights (unioncam_lite/data/bundled/MODEL.pt); MODEL.json beside them says how.")
    p.add_argument("--model", choices=sorted(DEFAULTS), default="shapes_cnn",
                   help="the architecture (default shapes_cnn)")
    p.add_argument("--out", type=Path, default=None,
                   help="weights file (default unioncam_lite/data/bundled/MODEL.pt); the record goes beside it (.json)")
    p.add_argument("--n-train", type=positive_int, default=None, help="training images (default: the model's)")
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, initialisation and batches (default 0)")
    p.set_defaults(run=train_shapes)


def train_shapes(args: argparse.Namespace) -> int:
    """Check ``--out``, train, then write the weights and the record, each atomically."""
    import json

    import torch

    from ...data.images import DATA_DIR
    from ...outputs import atomic_path, check_output_file, write_text_atomic
    from ..train_shapes import DEFAULTS, train

    settings = dict(DEFAULTS[args.model])
    settings.update({k: v for k, v in (("n_train", args.n_train), ("epochs", args.epochs)) if v is not None})
    out = Path(args.out or DATA_DIR / f"{args.model}.pt")
    if out.suffix.lower() == ".json":
        raise ValueError(f"--out {str(out)!r} would be overwritten by the record (.json) written next to it: "
                         f"give the weights another suffix, e.g. {str(out.with_suffix('.pt'))!r}")
    out = check_output_file(out, what="--out", siblings=(".json",))
    model, record = train(model=args.model, seed=args.seed, **settings)
    record["command"] = (f"python -m unioncam_lite train-shapes --model {args.model} --n-train {settings['n_train']} "
                         f"--epochs {settings['epochs']} --seed {args.seed}")
    with atomic_path(out) as tmp:
        torch.save(model.state_dict(), tmp)
    write_text_atomic(out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    print(f"test accuracy {record['test_accuracy']:.3f} in {record['seconds']} s -> {out}")
    return 0
