"""target=: explain any output (issue 20 §1), checked against the class-index path and hand computations."""
import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import (
    ClassLogit,
    ClassProbability,
    ClassSum,
    capture,
    gradcam,
    gradcampp,
    groupcam,
    layercam,
    score_gain,
    scorecam,
    union_cam,
    xgradcam,
)
from unioncam_lite.cams import METHODS, compute_cam
from unioncam_lite.cams.common import PixelSpace
from unioncam_lite.cams.masked import masked_scores

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


class DictScores(TinyCNN):
    def forward(self, x):
        return {"scores": super().forward(x), "extra": x.mean()}


class TupleScores(TinyCNN):
    def forward(self, x):
        return x.mean(), super().forward(x)


class LogitsObject:
    def __init__(self, logits):
        self.logits = logits


class HFStyle(TinyCNN):
    """An output object with ``.logits`` that is neither a tensor, a tuple nor a dict."""

    def forward(self, x):
        return LogitsObject(super().forward(x))


@pytest.mark.parametrize("method", [gradcam, gradcampp, xgradcam, layercam])
def test_a_logit_target_equals_todays_class_index_exactly(method, tiny, images):
    assert torch.equal(method(tiny, images, "act", target=ClassLogit(3)), method(tiny, images, "act", 3))
    assert torch.equal(method(tiny, images, "act", target=ClassLogit([3, 1])), method(tiny, images, "act", [3, 1]))
    assert torch.equal(scorecam(tiny, images, "act", target=ClassLogit(2)), scorecam(tiny, images, "act", 2))


def test_a_plain_callable_is_a_target(tiny, images):
    assert torch.equal(gradcam(tiny, images, "act", target=lambda out: out[:, 3]), gradcam(tiny, images, "act", 3))
    assert torch.allclose(scorecam(tiny, images, "act", target=lambda out: out[:, 3]),
                          scorecam(tiny, images, "act", 3), atol=1e-6)


def test_a_class_sum_has_the_sum_of_the_gradients(tiny, images):
    """∂(y_1 + y_2)/∂A = ∂y_1/∂A + ∂y_2/∂A (linearity)."""
    both = capture(tiny, images, "act", target=ClassSum([1, 2])).gradients
    one, two = capture(tiny, images, "act", 1).gradients, capture(tiny, images, "act", 2).gradients
    assert torch.allclose(both, one + two, atol=1e-7)


def test_probability_target_gradients_by_hand(tiny, images):
    """∂p_c/∂A = Σ_j p_c (δ_cj − p_j) ∂y_j/∂A (the softmax's Jacobian)."""
    cap = capture(tiny, images, "act", target=ClassProbability(0))
    p = torch.softmax(tiny(images), 1).detach()
    expected = sum(p[:, 0, None, None, None] * (float(j == 0) - p[:, j, None, None, None])
                   * capture(tiny, images, "act", j).gradients for j in range(5))
    assert torch.allclose(cap.gradients, expected, atol=1e-7)


@pytest.mark.parametrize("model, output", [(DictScores, "scores"), (TupleScores, 1), (HFStyle, None)])
def test_models_returning_dicts_tuples_or_objects_are_explained(model, output, images):
    """The same weights behind a dict, a tuple or a ``.logits`` object give the plain model's maps, for every method."""
    plain, wrapped = TinyCNN().eval(), model().eval()
    target = ClassLogit([2, 4], output=output)
    for method in (gradcam, layercam):
        assert torch.equal(method(wrapped, images, "act", target=target), method(plain, images, "act", [2, 4]))
    assert torch.allclose(scorecam(wrapped, images, "act", target=target, mean=MEAN, std=STD),
                          scorecam(plain, images, "act", [2, 4], mean=MEAN, std=STD), atol=1e-6)
    a = union_cam(wrapped, images, "act", target=target, mean=MEAN, std=STD)
    b = union_cam(plain, images, "act", target=ClassLogit([2, 4]), mean=MEAN, std=STD)
    for field in ("cam", "denoised", "region", "beta_denoised", "beta_region", "beta_fused"):
        assert torch.allclose(getattr(a, field), getattr(b, field), atol=1e-6), field
    assert a.class_idx.tolist() == [2, 4]
    assert torch.allclose(groupcam(wrapped, images, "act", target=target, mean=MEAN, std=STD),
                          groupcam(plain, images, "act", target=ClassLogit([2, 4]), mean=MEAN, std=STD), atol=1e-6)


def test_for_unioncam_the_target_is_f_c_of_every_beta(tiny, images):
    """β_reg = f_c(L_reg ⊙ I0) − f_c(I_b) with f_c the target: here the logit, computed by hand."""
    r = union_cam(tiny, images, "act", target=ClassLogit(1), mean=MEAN, std=STD, fuse=False)
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    pixels = images * std + mean
    with torch.no_grad():
        masked = tiny((r.region[:, None] * pixels - mean) / std)[:, 1]
        black = tiny((torch.zeros_like(pixels) - mean) / std)[:, 1]
    assert torch.allclose(r.beta_region, masked - black, atol=1e-5)
    # without a target, β's f_c is the probability: score_gain with ClassProbability gives the same numbers
    default = union_cam(tiny, images, "act", 1, mean=MEAN, std=STD)
    c = torch.tensor([1, 1])
    assert torch.allclose(score_gain(tiny, images, default.region, c, mean=MEAN, std=STD, target=ClassProbability(1)),
                          default.beta_region, atol=1e-6)
    # with a probability target the gradients are ∂p_c/∂A, so L_den (and its β) change too
    as_probability = union_cam(tiny, images, "act", target=ClassProbability(1), mean=MEAN, std=STD)
    assert not torch.allclose(as_probability.denoised, default.denoised, atol=1e-4)


def test_a_unioncam_object_keeps_targets_apart(tiny, images):
    from unioncam_lite import UnionCAM

    explainer = UnionCAM(tiny, "act")
    a = explainer(images, target=ClassLogit(1))
    b = explainer(images, target=ClassProbability(1))
    c = explainer(images, target=ClassLogit(1))
    assert len(explainer._cache) == 2 and torch.equal(a.cam, c.cam)
    assert not torch.allclose(a.beta_region, b.beta_region)


def test_bad_targets_get_one_clear_error(tiny, images):
    with pytest.raises(ValueError, match="give class_idx or target, not both"):
        gradcam(tiny, images, "act", 1, target=ClassLogit(1))
    with pytest.raises(ValueError, match=r"the target returned \(2, 5\); it must return one score per image"):
        gradcam(tiny, images, "act", target=lambda out: out)
    with pytest.raises(ValueError, match="do not depend on the input"):
        gradcam(tiny, images, "act", target=lambda out: torch.ones(out.shape[0]))
    with pytest.raises(ValueError, match=r"output='nope' is not in the model's output, a dict with keys"):
        gradcam(DictScores().eval(), images, "act", target=ClassLogit(1, output="nope"))
    with pytest.raises(ValueError, match="class index out of range: the model has 5 classes"):
        gradcam(tiny, images, "act", target=ClassLogit(7))


@pytest.mark.parametrize("bad, hint", [
    ("logits", r"not a str: .* give target=ClassLogit\(c, output='logits'\)"),
    (3, r"not an int: for class indices give class_idx="),
    ([1, 4], r"not a list: for class indices give class_idx="),
    (torch.tensor([1, 4]), r"not a Tensor: for class indices give class_idx="),
    ([ClassLogit(1), ClassLogit(4)], r"not a list: one target covers the whole batch, not one per image as "
                                     r"pytorch-grad-cam's targets=\[...\]: .* target=ClassLogit\(\[c1, c2, ...\]\)"),
    (object(), r"not an object: e.g. target=ClassLogit\(c\)")])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_target_that_is_not_callable_is_refused_before_the_model_runs(method, bad, hint, tiny, images):
    """Before: every method raised TypeError "'str' object is not callable" (or 'int', 'list') from inside
    the forward pass, naming neither target= nor the fix."""
    runs = []
    handle = tiny.register_forward_hook(lambda *_: runs.append(1))
    try:
        with pytest.raises(ValueError, match="target= must be a callable that maps the model's output to one "
                                             "score per image, " + hint):
            compute_cam(method, tiny, images, "act", target=bad, mean=MEAN, std=STD)
    finally:
        handle.remove()
    assert runs == []


def test_masked_scores_refuses_a_target_that_is_not_callable(tiny, images):
    with pytest.raises(ValueError, match="target= must be a callable .* not a str"):
        masked_scores(tiny, images, torch.ones(2, 4, 4), torch.tensor([0, 1]), "logits", PixelSpace(MEAN, STD, images))
