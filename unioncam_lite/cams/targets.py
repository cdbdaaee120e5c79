"""What is explained: a *target* maps the model's output to one score per image, f_c in the paper.

Every method takes ``target=`` (``class_idx`` stays, as the common case). A target is any
callable ``output -> (B,) scores``; the ready ones below also know which image each row belongs
to (:meth:`ClassTarget.rows`), so the masked passes can batch the masks of several images:

* :class:`ClassLogit` — y_c, the pre-softmax logit of class c (Grad-CAM's choice);
* :class:`ClassProbability` — the softmax probability of class c;
* :class:`ClassSum` — the sum of several classes' logits (or probabilities), e.g. "any dog";
* ``output=`` on each selects the scores from a model that returns a tuple, a dict or an object
  with ``.logits`` (HuggingFace): an index, a key, or an attribute name. By default a tensor is
  used as it is, and ``.logits`` / ``["logits"]`` are found; anything else needs ``output=``.

A plain callable (``lambda out: out["logits"][:, 3]``) must score every row the same way, since
rows of different images share a batch; for a per-image target use a ready one.

For UnionCAM the target *is* f_c: with ``target=`` the region map's weights and every β use it.
Without it the library keeps its defaults (the logit for the gradient CAMs and Score-CAM's
weights, the probability for β, Group-CAM and the metrics).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import torch

#: Which part of a model's output holds the class scores: None (automatic), a tuple index, a key, an attribute
OutputKey = int | str | None


def select_output(output: object, key: OutputKey = None) -> torch.Tensor:
    """The (B, C) scores in a model's output: the tensor itself, ``output[key]`` / ``output.key``, or (``key``
    None) ``output.logits`` / ``output["logits"]``. A ValueError says what the output holds and how to choose."""
    if key is None:
        if isinstance(output, torch.Tensor):
            return output
        if isinstance(output, dict) and "logits" in output:
            key = "logits"
        elif isinstance(getattr(output, "logits", None), torch.Tensor):
            return output.logits  # type: ignore[attr-defined]
        else:
            raise ValueError(f"the model returns a {_describe(output)}, not class scores (N, C): say which part holds "
                             "them with target=ClassLogit(c, output=KEY) (an index, a key or an attribute name), "
                             "or wrap the model so that its forward returns the scores")
    try:
        if isinstance(output, (tuple, list, dict)):
            scores = output[key]  # type: ignore[index]
        else:
            scores = getattr(output, str(key))
    except (KeyError, IndexError, AttributeError, TypeError):
        raise ValueError(f"output={key!r} is not in the model's output, a {_describe(output)}") from None
    if not isinstance(scores, torch.Tensor):
        raise ValueError(f"output={key!r} of the model's output is a {type(scores).__name__}, not a tensor of scores")
    return scores


def _describe(output: object) -> str:
    if isinstance(output, dict):
        return f"{type(output).__name__} with keys {list(output)[:6]}"
    if isinstance(output, (tuple, list)):
        return f"{type(output).__name__} of {len(output)}"
    return type(output).__name__


@runtime_checkable
class ClassTarget(Protocol):
    """A target that knows each image's classes: ``rows(index)`` is the target of the rows ``index``."""

    def __call__(self, output: object) -> torch.Tensor: ...

    def rows(self, index: torch.Tensor) -> ClassTarget: ...


#: What the methods accept as ``target``: a ready target or any callable output -> (B,) scores
Target = ClassTarget | Callable[[Any], torch.Tensor]


def _as_classes(classes: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(classes)
    if t.dtype == torch.bool or t.is_floating_point():
        raise TypeError(f"classes must be integers, got {t.dtype}")
    return t.long().reshape(-1)


@dataclass(frozen=True, eq=False)
class ClassLogit:
    """y_c: the logit of class ``c`` (one int, or one per image)."""

    c: int | Sequence[int] | torch.Tensor
    output: OutputKey = None

    def classes_for(self, n: int, device: torch.device) -> torch.Tensor:
        """The class of each of ``n`` images (one class given: the same for all), on ``device``."""
        c = _as_classes(self.c).to(device)
        if c.numel() not in (1, n):
            raise ValueError(f"the target has {c.numel()} classes for {n} images: give one per image, or one")
        return c.expand(n) if c.numel() == 1 else c

    def _scores(self, output: object) -> torch.Tensor:
        scores = select_output(output, self.output)
        if scores.ndim != 2:
            raise ValueError(f"class scores must be (N, C); the selected output has shape {tuple(scores.shape)}")
        return scores.float()

    def __call__(self, output: object) -> torch.Tensor:
        scores = self._scores(output)
        c = self.classes_for(scores.shape[0], scores.device)
        if bool(((c < 0) | (c >= scores.shape[1])).any()):
            raise ValueError(f"class index out of range: the model has {scores.shape[1]} classes "
                             f"(use 0..{scores.shape[1] - 1})")
        return scores.gather(1, c[:, None]).squeeze(1)

    def rows(self, index: torch.Tensor) -> ClassLogit:
        c = _as_classes(self.c)
        return self if c.numel() == 1 else replace(self, c=c.to(index.device)[index])

    @property
    def classes(self) -> torch.Tensor:
        """The class per image (or one for all)."""
        return _as_classes(self.c)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_as_classes(self.c).tolist()}, output={self.output!r})"


class ClassProbability(ClassLogit):
    """The softmax probability of class ``c`` (one int, or one per image)."""

    def _scores(self, output: object) -> torch.Tensor:
        return super()._scores(output).softmax(dim=1)


@dataclass(frozen=True, eq=False)
class ClassSum:
    """Σ_c y_c over several classes (``probability=True``: Σ_c p_c), the same classes for every image."""

    classes: Sequence[int]
    probability: bool = False
    output: OutputKey = None

    def __call__(self, output: object) -> torch.Tensor:
        scores = select_output(output, self.output).float()
        if self.probability:
            scores = scores.softmax(dim=1)
        idx = _as_classes(list(self.classes)).to(scores.device)
        return scores[:, idx].sum(1)

    def rows(self, index: torch.Tensor) -> ClassSum:
        return self

    def __repr__(self) -> str:
        return f"ClassSum({list(self.classes)}, probability={self.probability}, output={self.output!r})"


def target_rows(target: Target, index: torch.Tensor) -> Callable[[Any], torch.Tensor]:
    """The target for the rows ``index`` of a batch (a plain callable scores every row the same way)."""
    return target.rows(index) if isinstance(target, ClassTarget) else target


def check_scores(scores: object, n: int) -> torch.Tensor:
    """A target's result must be n finite scores."""
    if not isinstance(scores, torch.Tensor) or scores.shape != (n,):
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"the target returned {shape}; it must return one score per image, shape ({n},)")
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("the target's scores are not finite (inf or NaN) for this input, so every map would be NaN: "
                         "check the input's scale and normalisation")
    return scores


def check_target(target: object) -> None:
    """``target=`` must be None or a callable ``output -> (N,) scores``; anything else is refused before
    the model runs, with what to give instead (a class index, a key of the output, pytorch-grad-cam's
    list of one target per image)."""
    if target is None or callable(target):
        return
    if isinstance(target, str):
        hint = f"to explain the class scores in the output's {target!r}, give target=ClassLogit(c, output={target!r})"
    elif isinstance(target, (int, torch.Tensor)) or (isinstance(target, (list, tuple)) and target
                                                     and all(isinstance(t, int) for t in target)):
        hint = "for class indices give class_idx= (or target=ClassLogit(c), one class or one per image)"
    elif isinstance(target, (list, tuple)) and target and all(callable(t) for t in target):
        hint = ("one target covers the whole batch, not one per image as pytorch-grad-cam's targets=[...]: "
                "for a class per image give target=ClassLogit([c1, c2, ...])")
    else:
        hint = "e.g. target=ClassLogit(c), ClassProbability(c) or lambda output: output[:, c]"
    kind = type(target).__name__
    raise ValueError(f"target= must be a callable that maps the model's output to one score per image, not "
                     f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}: {hint}")
