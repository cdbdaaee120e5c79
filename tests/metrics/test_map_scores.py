"""Localisation scores of any map, against hand-computed values."""
import pytest
import torch

from unioncam_lite.metrics import background_energy, object_recall
from unioncam_lite.metrics.map_scores import localisation_names, localisation_scores, score_maps

CAM = torch.tensor([[[1.0, 0.5], [0.25, 0.0]]])
MASK = torch.tensor([[[True, False], [True, False]]])


def test_hand_case():
    s = localisation_scores(CAM, MASK, threshold=0.5)
    assert list(s) == ["energy pointing game", "background energy", "object recall@0.5", "IoU@0.5"]
    # energy 1.75 in all, 1.25 inside the mask; {L >= 0.5} = two pixels, one of them in the 2-pixel mask
    assert float(s["energy pointing game"][0]) == pytest.approx(1.25 / 1.75)
    assert float(s["background energy"][0]) == pytest.approx(0.5 / 1.75)
    assert float(s["object recall@0.5"][0]) == pytest.approx(0.5)
    assert float(s["IoU@0.5"][0]) == pytest.approx(1 / 3)
    assert float(object_recall(CAM, MASK, 0.2)[0]) == 1.0 and float(object_recall(CAM, MASK, 1.1)[0]) == 0.0
    assert float(background_energy(CAM, ~MASK)[0]) == pytest.approx(1.25 / 1.75)


def test_every_map_scored_alike():
    other = torch.ones_like(CAM)
    scores = score_maps({"a": CAM, "ones": other}, MASK, threshold=0.3)
    assert set(scores) == {"a", "ones"} and list(scores["ones"]) == list(localisation_names(0.3))
    assert float(scores["ones"]["object recall@0.3"][0]) == 1.0 and float(scores["ones"]["IoU@0.3"][0]) == 0.5
    with pytest.raises(ValueError, match="same images"):
        score_maps({"a": CAM, "b": torch.ones(2, 2, 2)}, MASK)
    with pytest.raises(ValueError, match="must match"):
        object_recall(CAM, MASK[:, :1])


def test_an_empty_mask_has_zero_recall():
    assert float(object_recall(CAM, torch.zeros_like(MASK))[0]) == 0.0
