# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""Sanity checks for saliency maps (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

A map that explains the *model* must change when the model's learned weights are destroyed.

* **Cascading model-parameter randomisation** (their §3): starting at the output, the weight
  layers are re-initialised one after another (the head first, then each convolution down to the
  input), and after each step every method's maps of the same images, for the same classes (the
  trained model's predictions), are compared with the trained model's maps by Spearman rank
  correlation and SSIM (:mod:`.similarity`). High similarity with random weights means the method
  shows the image (edges, contrast), not what the network learned.
* **Random-label control**: their data-randomisation test retrains the network on permuted labels,
  which is too slow for a course; the control here is the cheap relative (a random logit): each
  image is explained for a random *wrong* class on the trained model. A map that barely changes
  does not depend on the class it is asked about.

Course choices, each an argument: the layers randomised are the modules with their own
``weight`` and ``reset_parameters`` (convolutions, linear layers), in the model's definition order
reversed; normalisation layers (batch norm) keep their trained parameters; each layer gets
PyTorch's default initialisation (``reset_parameters``) under its own seed. Everything runs on a
deep copy: the user's model comes back exactly as it was.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..cams.common import Layer, Normalization, class_idx_tensor
from ..cams.layers import eval_mode
from ..cams.registry import METHODS, compute_cam
from .similarity import spearman, ssim

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def weight_layers(model: nn.Module) -> list[str]:
    """Names of the layers cascading randomisation re-initialises, from the input to the output:
    modules with their own ``weight`` parameter and a ``reset_parameters`` method, not normalisation layers."""
    return [name for name, m in model.named_modules()
            if name and isinstance(getattr(m, "weight", None), nn.Parameter) and hasattr(m, "reset_parameters")
            and not isinstance(m, _NORMS)]


def randomize_layer(module: nn.Module, seed: int) -> None:
    """Re-initialise one module in place with PyTorch's default initialisation, reproducibly from ``seed``
    (the global random state is left as it was)."""
    devices = sorted({p.device.index or 0 for p in module.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for d in devices:
            with torch.cuda.device(d):
                torch.cuda.manual_seed(seed)
        module.reset_parameters()  # type: ignore[operator]


def cascading_randomization(model: nn.Module, layers: Sequence[str] | None = None,
                            seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(layer, model)`` after re-initialising each layer in turn, from the head down (cumulative).

    ``layers``: the names in the order to randomise them (default :func:`weight_layers` reversed). The
    model yielded is one deep copy of ``model``, changed a little more at each step; ``model`` is untouched.
    """
    order = list(layers) if layers is not None else weight_layers(model)[::-1]
    modules = dict(model.named_modules())
    missing = [name for name in order if name not in modules]
    if missing:
        raise ValueError(f"no layer named {missing} in the model; weight layers: {', '.join(weight_layers(model))}")
    randomized = copy.deepcopy(model)
    copies = dict(randomized.named_modules())
    for step, name in enumerate(order):
        randomize_layer(copies[name], seed + step)
        yield name, randomized


def random_labels(class_idx: torch.Tensor, num_classes: int, seed: int = 0) -> torch.Tensor:
    """One class per image drawn uniformly from the classes other than ``class_idx`` (needs ≥ 2 classes)."""
    if num_classes < 2:
        raise ValueError("a random wrong class needs at least two classes")
    generator = torch.Generator().manual_seed(seed)
    shift = torch.randint(1, num_classes, class_idx.shape, generator=generator)
    return (class_idx.cpu() + shift) % num_classes


@dataclass
class SanityResult:
    """Similarity to the trained model's maps, per method: ``spearman[m]`` and ``ssim[m]`` are (S + 1, N),
    row 0 the trained model itself (1 by definition, NaN for a constant map), row s after randomising
    ``steps[s]`` and every layer before it; ``label_spearman[m]`` / ``label_ssim[m]`` (N,) the random-label control."""

    steps: list[str]
    methods: list[str]
    class_idx: torch.Tensor
    wrong_class: torch.Tensor
    spearman: dict[str, torch.Tensor]
    ssim: dict[str, torch.Tensor]
    label_spearman: dict[str, torch.Tensor]
    label_ssim: dict[str, torch.Tensor]
    maps: dict[str, torch.Tensor] = field(repr=False)   # method -> (S + 1, N, H, W)

    def mean_spearman(self) -> dict[str, list[float]]:
        """Per method, the mean over images (NaN ignored) of the Spearman correlation at each step."""
        return {m: torch.nanmean(v, dim=1).tolist() for m, v in self.spearman.items()}


def sanity_check(model: nn.Module, x: torch.Tensor, target_layer: Layer, methods: Sequence[str] | None = None, *,
                 class_idx: torch.Tensor | None = None, layers: Sequence[str] | None = None, seed: int = 0,
                 mean: Normalization = None, std: Normalization = None, theta: float = 10.0,
                 batch_size: int | None = None) -> SanityResult:
    """Cascading randomisation and the random-label control for every method on images ``x``.

    ``methods``: default all registered (:data:`~unioncam_lite.cams.METHODS`: the six baselines and
    UnionCAM); ``class_idx``: default the trained model's predictions, kept at every step;
    ``target_layer``: a name, so that it is found in the copies.
    """
    if not isinstance(target_layer, str):
        raise TypeError("give target_layer by name, so that the randomised copies can find it")
    names = list(methods) if methods is not None else list(METHODS)
    with torch.no_grad(), eval_mode(model):
        logits = model(x)
    if class_idx is None:
        class_idx = logits.argmax(1)
    c = class_idx_tensor(class_idx).to(x.device)
    if c.numel() == 1 and x.shape[0] > 1:
        c = c.expand(x.shape[0])

    def maps_of(net: nn.Module, classes: torch.Tensor) -> dict[str, torch.Tensor]:
        return {m: compute_cam(m, net, x, target_layer, classes, mean=mean, std=std, theta=theta,
                               batch_size=batch_size).detach() for m in names}

    trained = maps_of(model, c)
    wrong = random_labels(c, int(logits.shape[1]), seed).to(x.device)
    other = maps_of(model, wrong)
    stages, steps = [trained], []
    for name, randomized in cascading_randomization(model, layers, seed):
        steps.append(name)
        stages.append(maps_of(randomized, c))
    stacked = {m: torch.stack([s[m] for s in stages]) for m in names}
    return SanityResult(
        steps, names, c, wrong,
        spearman={m: torch.stack([spearman(trained[m], s[m]) for s in stages]) for m in names},
        ssim={m: torch.stack([ssim(trained[m], s[m]) for s in stages]) for m in names},
        label_spearman={m: spearman(trained[m], other[m]) for m in names},
        label_ssim={m: ssim(trained[m], other[m]) for m in names},
        maps=stacked)
