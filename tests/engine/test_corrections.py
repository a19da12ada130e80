"""A correction (a mask given on a later frame for a tracked object), as STCN's ``interact`` treats it."""

import copy

import numpy as np
import pytest
import torch

from stcnbuf.engine import Segmenter, run_plan, stream_plan
from stcnbuf.engine.labels import Annotation
from stcnbuf.engine.memory import MemoryBank
from tests.conftest import moving_squares


def by_hand(probs: torch.Tensor, masks: dict) -> torch.Tensor:
    """STCN's interact: the predicted object probabilities, zero under the given masks, the given masks set,
    re-aggregated: background = prod(1 - p), odds of each clamped to [1e-7, 1 - 1e-7], normalised."""
    objects = probs[1:].double().clone()
    under = torch.zeros(objects.shape[1:], dtype=torch.bool)
    for mask in masks.values():
        under |= torch.from_numpy(mask)
    objects[:, under] = 0
    for column, mask in masks.items():
        objects[column] = torch.from_numpy(mask).double()
    p = torch.cat([torch.prod(1 - objects, 0, keepdim=True), objects]).clamp(1e-7, 1 - 1e-7)
    odds = p / (1 - p)
    return odds / odds.sum(0, keepdim=True)


def test_a_correction_replaces_one_object_and_the_others_go_on(net):
    frames, labels = moving_squares(num_frames=8)
    seg = Segmenter(net, MemoryBank("random_pixel", 3, temp_size=1, seed=3), mem_every=2)
    for step in run_plan(seg, stream_plan(8, [0], 2, True, backward=False), frames[:8], {0: Annotation(0, labels[0], None)}):
        if step.visit.frame == 4:
            break
    state = copy.deepcopy(seg.state_dict())
    predicted = seg.process(frames[5], 5, seg.write_mode(5)).probs
    seg.load_state_dict(copy.deepcopy(state))
    fixed = np.roll(labels[5] == 1, 3, axis=1)  # object 1, three pixels off its place
    corrected = seg.add_objects(frames[5], fixed.astype(np.uint8), [1], frame_index=5)
    assert torch.allclose(corrected.probs.double(), by_hand(predicted, {0: fixed}), atol=1e-5)
    assert np.array_equal(np.asarray(corrected.labels) == 1, fixed)  # the corrected object follows the mask
    # the correction enters memory as an annotated frame and the schedule counts from it
    assert seg.last_annotated == 5 and seg.object_ids == [1, 2]
    pinned = seg.memory._row_pinned[seg.memory._row_frame == 5]
    assert len(pinned) and bool(pinned.all())  # stored, pinned as an annotated frame


def test_a_mask_before_the_start_frame_is_a_correction_in_the_backward_run():
    plan = stream_plan(10, [3, 6], mem_every=2, start=6)
    assert [(v.frame, v.action.value) for v in plan.visits if v.annotated] == [(6, "start"), (3, "add_objects")]
    backward = [v.frame for v in plan.visits[4:]]
    assert backward == [5, 4, 3, 2, 1, 0] and plan.visits[4].new_run
    # the schedule of the backward run counts from the correction once it is passed: 3 (annotated), 1
    assert [v.frame for v in plan.visits[4:] if v.write.value == "permanent"] == [4, 3, 1]
    assert stream_plan(10, [3, 6], 2).visits[0].frame == 3  # default: the first annotated frame
    with pytest.raises(ValueError, match="starts at frame 5, which is not annotated"):
        stream_plan(10, [3, 6], start=5)
