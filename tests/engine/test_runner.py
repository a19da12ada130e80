"""The runner: executing plans, resuming anywhere, writing the given masks exactly, the frame source's cache."""

import numpy as np
import pytest
import torch

from stcnbuf.engine import Action, Segmenter, RunStats, offline_plan, run_plan, stream_plan, written_labels
from stcnbuf.engine.frame_source import FrameSource
from stcnbuf.engine.labels import Annotation
from stcnbuf.engine.memory import MemoryBank
from tests.conftest import moving_squares


def segmenter(net, policy="random_pixel", capacity=3, temp_size=1, mem_every=2):
    return Segmenter(net, MemoryBank(policy, capacity, temp_size=temp_size, seed=3), mem_every=mem_every)


def labels_of(steps):
    return {s.position: s.prediction.probs.clone() for s in steps}


@pytest.fixture(scope="module")
def clip():
    frames, labels = moving_squares(num_frames=14)
    only_first = np.where(labels[6] == 1, 1, 0).astype(np.uint8)
    annotations = {6: Annotation(6, only_first, [1]), 9: Annotation(9, labels[9], [2])}
    return frames, annotations


def test_the_stream_plan_equals_start_and_step(net):
    frames, labels = moving_squares(num_frames=9)
    seg = segmenter(net)
    manual = [seg.start(frames[0], labels[0])] + [seg.step(f, update_memory=i < 8) for i, f in enumerate(frames[1:], 1)]
    plan = stream_plan(9, [0], mem_every=2, ring=True)
    ran = list(run_plan(segmenter(net), plan, frames, {0: Annotation(0, labels[0], None)}))
    assert [s.visit.frame for s in ran] == list(range(9)) and [s.position for s in ran] == list(range(9))
    for a, b in zip(manual, ran):
        assert torch.equal(a.probs, b.prediction.probs)


@pytest.mark.parametrize("stop", [3, 9, 17, 24])  # burn-in, burn-in's second pass, forward run, backward run
def test_a_run_resumed_anywhere_equals_an_uninterrupted_one(net, clip, stop):
    frames, annotations = clip
    plan = offline_plan(14, 6, mem_every=2, ring=True, order="random", burn_in_passes=2, seed=5, annotated=[6, 9])
    assert plan.burn_in_visits == 12 and plan[stop - 1].action is (Action.BURN_IN if stop < 13 else Action.SEGMENT)
    assert stop < 21 or plan[stop - 1].frame < 6  # the last one stops in the backward run
    straight = labels_of(run_plan(segmenter(net), plan, frames, annotations))
    first = segmenter(net)
    done = {}
    for step in run_plan(first, plan, frames, annotations):
        done[step.position] = step.prediction.probs.clone()
        if step.position == stop - 1:
            state = first.state_dict()
            break
    resumed = segmenter(net)
    resumed.load_state_dict(state)
    for step in run_plan(resumed, plan, frames, annotations, start=stop):
        assert step.position not in done  # every visit runs exactly once
        done[step.position] = step.prediction.probs.clone()
    assert sorted(done) == list(range(len(plan)))
    for position in straight:
        assert torch.equal(straight[position], done[position]), position


def test_resume_needs_the_state_and_annotations(net, clip):
    frames, annotations = clip
    plan = stream_plan(14, [6, 9])
    with pytest.raises(RuntimeError, match="state of position 2"):
        next(run_plan(segmenter(net), plan, frames, annotations, start=3))
    with pytest.raises(ValueError, match=r"annotates frame\(s\) \[9\]"):
        next(run_plan(segmenter(net), plan, frames, {6: annotations[6]}))
    with pytest.raises(ValueError, match="plan is for 14 frames"):
        next(run_plan(segmenter(net), plan, frames[:5], annotations))


def test_given_masks_are_written_exactly_at_the_native_size(net, clip):
    frames, annotations = clip
    native = (101, 143)  # not a multiple of the working size (72×100)
    given = {}
    for frame, annotation in annotations.items():
        labels = np.zeros(native, np.uint8)
        labels[20:50, 30:77] = annotation.labels.max()
        labels[0:3, 0:3] = 255  # void is never written
        given[frame] = Annotation(frame, labels, annotation.object_ids)
    stats = RunStats()
    for step in run_plan(segmenter(net), stream_plan(14, [6, 9]), frames, annotations):
        stats.add(step)
        written = written_labels(step, native, given)
        assert written.shape == native
        if step.visit.frame == 6:  # the start frame: exactly the given objects
            assert np.array_equal(written, np.where(given[6].labels == 1, 1, 0))
            every_id = {6: Annotation(6, given[6].labels, None)}  # ids not named: all present but void
            assert np.array_equal(written_labels(step, native, every_id), written)
        elif step.visit.frame == 9:  # a later annotation: its objects as given, the others predicted
            own = given[9].labels == 2
            assert np.array_equal(written[own], given[9].labels[own])
            assert np.array_equal(written[~own], step.prediction.labels_at(native)[~own])
    assert stats.segmented == 14 and stats.outputs == 14 and stats.burn_in == 0 and stats.fps > 0


def test_frame_source_keeps_frames_up_to_its_budget_and_decodes_in_runs():
    frames = [np.full((10, 20, 3), i, np.uint8) for i in range(30)]
    calls = []

    def decode(indices):
        calls.append(list(indices))
        return (frames[i] for i in indices)

    frame_mb = 10 * 20 * 3 / 2 ** 20
    source = FrameSource(30, (10, 20), decode, budget_mb=4.5 * frame_mb)
    order = [5, 6, 7, 1, 5, 6, 7, 8, 9]
    assert [int(f[0, 0, 0]) for f in source.iterate(order)] == order
    assert calls == [[5, 6, 7, 1, 8, 9]]  # one decoder call per request; frames kept are not decoded again
    assert source.kept_frames == 4 and source.capacity == 4
    assert [int(f[0, 0, 0]) for f in source.iterate([9, 5])] == [9, 5] and calls[-1] == [9]
    nothing = FrameSource(30, (10, 20), decode, budget_mb=0)
    list(nothing.iterate([1, 1]))
    assert nothing.kept_frames == 0 and calls[-1] == [1, 1]
    with pytest.raises(IndexError, match="outside the video"):
        list(source.iterate([30]))
