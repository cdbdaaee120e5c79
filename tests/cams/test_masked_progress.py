"""masked_scores' optional progress callable (issue 18: the explorer's progress bar on the region pass)."""
import threading

import pytest
import torch
from conftest import TinyCNN

from unioncam_lite.cams import scorecam
from unioncam_lite.cams.capture import capture
from unioncam_lite.cams.common import PixelSpace, normalize_maps
from unioncam_lite.cams.masked import masked_scores, reporting_progress
from unioncam_lite.cams.options import CamOptions


def _case(m: int = 7):
    model = TinyCNN().eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    masks = torch.rand(m, 8, 8, generator=torch.Generator().manual_seed(2))
    index = torch.arange(m) % 2
    return model, x, masks, index, torch.tensor([1, 3])


def test_progress_is_called_before_and_after_every_batch_and_changes_no_score():
    model, x, masks, index, classes = _case(7)
    calls = []
    options = CamOptions(batch_size=3, fuse=False)
    with_progress = masked_scores(model, x, masks, index, classes, PixelSpace(None, None, x), options=options,
                                  progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 7), (3, 7), (6, 7), (7, 7)]                     # batches of 3, 3 and 1
    plain = masked_scores(model, x, masks, index, classes, PixelSpace(None, None, x), options=options)
    assert torch.equal(with_progress, plain)
    # and no call for no masks
    masked_scores(model, x, masks[:0], index[:0], classes, PixelSpace(None, None, x), progress=calls.append)
    assert len(calls) == 4


def test_reporting_progress_reaches_the_passes_of_a_public_cam_function_in_this_thread_only():
    model = TinyCNN(k=6).eval()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    calls, elsewhere = [], []
    with reporting_progress(lambda d, t: calls.append((d, t))):
        cam = scorecam(model, x, "act", 2, batch_size=2)
        other = threading.Thread(target=lambda: elsewhere.append(scorecam(model, x, "act", 2)))
        other.start()
        other.join()
    assert torch.equal(cam, scorecam(model, x, "act", 2, batch_size=2))   # outside the block: nothing reported
    assert len(calls) == len(set(calls)) and elsewhere and len(calls) >= 2
    # the total is the number of live, distinct masks that Score-CAM forwards (it skips the others exactly)
    A = capture(model, x, "act", 2, gradients=False).activations
    low = normalize_maps(A.float())[0].flatten(1)
    live = low[low.amax(1) > 0]
    total = torch.unique(live, dim=0).shape[0]
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_an_exception_from_progress_stops_the_passes():
    model, x, masks, index, classes = _case(9)
    forwards = []
    model.register_forward_hook(lambda *a: forwards.append(1))

    def cancel(done, total):
        if done >= 3:
            raise KeyboardInterrupt("nobody waits for this any more")

    with pytest.raises(KeyboardInterrupt):
        masked_scores(model, x, masks, index, classes, PixelSpace(None, None, x),
                      options=CamOptions(batch_size=3, fuse=False), progress=cancel)
    assert len(forwards) == 1                                            # one batch of 3, then stopped
