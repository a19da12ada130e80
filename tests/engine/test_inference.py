import numpy as np
import pytest
import torch

from stcnbuf.engine import OfflineSegmenter, Segmenter, WriteMode
from stcnbuf.engine.core import cpu_has_native_bf16
from stcnbuf.engine.memory import BurnInTreatment, MemoryBank
from stcnbuf.engine.orderings import bit_reversal_order, burn_in_order
from stcnbuf.engine.preprocess import padding_for, unpad, pad
from stcnbuf.engine.segmenter import key_confidence
from tests.conftest import moving_squares, require_shared


def online_run(net, frames, mask, memory, **kwargs):
    seg = Segmenter(net, memory, **kwargs)
    out = [seg.start(frames[0], mask)]
    out += [seg.step(f) for f in frames[1:]]
    return seg, out


def test_padding_is_split_evenly_with_the_odd_pixel_after():
    assert padding_for(480, 854) == (5, 5, 0, 0)
    assert padding_for(100, 130) == (7, 7, 6, 6)
    assert padding_for(33, 17) == (7, 8, 7, 8)
    x = torch.randn(2, 33, 17)
    assert torch.equal(unpad(pad(x, padding_for(33, 17)), padding_for(33, 17)), x)


def test_stcn_schedule_stores_every_fifth_frame_from_the_annotation(net, video):
    frames, labels = video
    seg, out = online_run(net, frames, labels[0], MemoryBank("unbounded"), mem_every=5, top_k=20)
    assert sorted(torch.unique(seg.memory.stored_frames()).tolist()) == [0, 5, 10]
    assert seg.memory.stats()["temporary_frames"] == 0
    assert [p.frame_index for p in out] == list(range(len(frames)))
    assert torch.equal(out[0].labels, torch.from_numpy(labels[0]).long())
    for p in out:
        assert p.probs.shape == (3, 72, 100)
        torch.testing.assert_close(p.probs.sum(0), torch.ones(72, 100))
        assert set(torch.unique(p.labels).tolist()) <= {0, 1, 2}


def test_temporary_ring_follows_the_latest_frame(net, video):
    frames, labels = video
    seg, _ = online_run(net, frames[:8], labels[0], MemoryBank("unbounded", temp_size=1), mem_every=5)
    assert seg.memory.stats()["temporary_frames"] == 1
    assert seg.write_mode(8) is WriteMode.TEMPORARY and seg.write_mode(10) is WriteMode.PERMANENT


@pytest.mark.parametrize("policy,capacity,temp", [("unbounded", None, 0), ("random_pixel", 2, 1), ("reservoir", 2, 2)])
def test_streaming_equals_offline_without_reordering(net, video, policy, capacity, temp):
    frames, labels = video
    _, streamed = online_run(net, frames, labels[0], MemoryBank(policy, capacity, temp_size=temp, seed=4), mem_every=2)
    offline = OfflineSegmenter(Segmenter(net, MemoryBank(policy, capacity, temp_size=temp, seed=4), mem_every=2),
                               order="none", burn_in_passes=0)
    result = offline.run(frames, labels[0], init_frame=0, keep_probs=True)
    assert result.object_ids == [1, 2]
    for s, labels_off, probs_off in zip(streamed, result.labels, result.probs):
        assert torch.equal(s.labels, labels_off)
        assert torch.equal(s.probs, probs_off)


def test_scripted_core_equals_eager(net, video):
    frames, labels = video
    _, eager = online_run(net, frames, labels[0], MemoryBank("random_pixel", 3, temp_size=1), mem_every=2)
    _, scripted = online_run(net, frames, labels[0], MemoryBank("random_pixel", 3, temp_size=1), mem_every=2,
                             compile="script")
    for a, b in zip(eager, scripted):
        torch.testing.assert_close(a.probs, b.probs, atol=1e-5, rtol=1e-5)
        assert (a.labels == b.labels).float().mean() > 0.999


def test_bf16_autocast_runs_on_cpu_and_mostly_agrees(net, video):
    frames, labels = video
    _, fp32 = online_run(net, frames[:5], labels[0], MemoryBank("unbounded"), mem_every=2)
    _, bf16 = online_run(net, frames[:5], labels[0], MemoryBank("unbounded"), mem_every=2, precision="bf16")
    # random weights give near-tied objects, so probabilities (not labels) are compared
    worst = max((a.probs - b.probs).abs().max().item() for a, b in zip(fp32, bf16))
    assert 0 < worst < 0.05
    assert all(p.probs.dtype == torch.float32 for p in bf16)
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        Segmenter(net, MemoryBank(), precision="fp16")
    if cpu_has_native_bf16() is False:  # emulated bf16 is slower than fp32: users are told
        with pytest.warns(UserWarning, match="emulated"):
            Segmenter(net, MemoryBank(), precision="bf16")


def test_offline_returns_frames_in_original_order_from_a_middle_annotation(net):
    frames, labels = moving_squares(num_frames=11)
    seg = Segmenter(net, MemoryBank("fifo", 3, temp_size=1), mem_every=2)
    offline = OfflineSegmenter(seg, order="strided", burn_in_passes=2)
    assert offline.plan(11, 5).outputs == [5, 6, 7, 8, 9, 10, 4, 3, 2, 1, 0]
    result = offline.run(frames, labels[5])
    assert len(result.labels) == 11 and all(lab.shape == (72, 100) for lab in result.labels)
    assert torch.equal(result.labels[5], torch.from_numpy(labels[5]).long())
    assert seg.memory.stats()["frames"] <= 3


def test_burn_in_writes_every_mem_every_th_frame_of_each_pass(net, video):
    frames, labels = video
    seg = Segmenter(net, MemoryBank("unbounded"), mem_every=3)
    offline = OfflineSegmenter(seg, order="random", burn_in_passes=2, seed=1)
    offline.segmenter.reset()
    writes = []
    original = seg.process

    def counting(frame, index, write, burn_in=False):
        writes.append((index, write, burn_in))
        return original(frame, index, write, burn_in)

    seg.process = counting
    offline.run(frames, labels[0], init_frame=0)
    burn_in = writes[: 2 * ((len(frames) - 1) // 3)]
    assert all(w is WriteMode.PERMANENT and flagged for _, w, flagged in burn_in)
    final = writes[len(burn_in):]
    assert [i for i, _, _ in final] == list(range(1, len(frames))) and not any(flagged for *_, flagged in final)
    assert seg.memory.stats()["stored_burn_in_frames"] == len(burn_in)


def test_burn_in_every_frame_stores_the_same_frames_and_uses_the_ring(net, video):
    frames, labels = video
    runs = {}
    for every in (False, True):
        seg = Segmenter(net, MemoryBank("unbounded", temp_size=1), mem_every=3)
        offline = OfflineSegmenter(seg, order="none", burn_in_passes=1, burn_in_every_frame=every)
        result = offline.run(frames, labels[0], init_frame=0)
        runs[every] = (seg.memory.stats()["frames"], offline.plan(len(frames), 0).burn_in_visits, result.labels)
    assert runs[True][0] == runs[False][0]                      # the same permanent frames
    assert runs[True][1] == len(frames) - 1 and runs[False][1] == (len(frames) - 1) // 3
    assert len(runs[True][2]) == len(frames)


def test_burn_in_frames_are_masked_where_the_prediction_is_unsure(net, video):
    """Through the segmenter: a high confidence threshold leaves most burn-in positions unreadable (-inf), but
    never a whole frame; a threshold of 0 none; frames of the final pass are never masked."""
    frames, labels = video
    masked = {}
    for threshold in (0.0, 0.999):
        memory = MemoryBank("unbounded", burn_in=BurnInTreatment(confidence=threshold))
        offline = OfflineSegmenter(Segmenter(net, memory, mem_every=3), order="none", burn_in_passes=1)
        offline.run(frames, labels[0], init_frame=0)
        positions = memory.layout.positions
        bias = memory.read_inputs()[1][0]
        burn_in = memory._row_burn_in[:bias.numel()].view(-1, positions)[:, 0]
        bias = bias.view(-1, positions)
        assert not torch.isinf(bias[~burn_in]).any()
        assert torch.isfinite(bias[burn_in]).any(dim=1).all()
        masked[threshold] = int(torch.isinf(bias[burn_in]).sum())
    assert masked[0.0] == 0 and masked[0.999] > 0


def test_orderings():
    order = bit_reversal_order(10)
    assert sorted(order) == list(range(10))
    assert order[:4] == [0, 8, 4, 2]
    for n in (50, 301):
        order = bit_reversal_order(n)
        assert sorted(order) == list(range(n))
        prefix = sorted(order[: n // 4])
        assert max(b - a for a, b in zip(prefix, prefix[1:])) <= 8  # a quarter of the frames covers evenly
    assert burn_in_order(6, 2, "none", 0, 0) == [0, 1, 3, 4, 5]
    assert burn_in_order(6, 2, "reverse", 0, 0) == [5, 4, 3, 1, 0]
    a, b = burn_in_order(30, 0, "random", 7, 0), burn_in_order(30, 0, "random", 7, 1)
    assert sorted(a) == list(range(1, 30)) and a != b and a == burn_in_order(30, 0, "random", 7, 0)
    assert sorted(burn_in_order(30, 4, "strided", 0, 1)) == [i for i in range(30) if i != 4]
    starts = [burn_in_order(33, 0, "strided", 0, k)[0] for k in range(4)]
    assert len(set(starts)) == 4  # every pass starts elsewhere
    with pytest.raises(ValueError, match="unknown ordering"):
        burn_in_order(5, 0, "shuffle", 0, 0)


def test_objects_can_join_and_leave(net, video):
    frames, labels = video
    seg = Segmenter(net, MemoryBank("random_frame", 4, temp_size=1), mem_every=2)
    only_first = np.where(labels[0] == 1, 1, 0).astype(np.uint8)
    seg.start(frames[0], only_first)
    seg.step(frames[1])
    joined = seg.add_objects(frames[2], labels[2], object_ids=[2])
    assert seg.object_ids == [1, 2]
    assert torch.equal(joined.labels == 2, torch.from_numpy(labels[2] == 2))
    assert seg.memory._object_start == [0, 2]
    later = seg.step(frames[3])
    assert later.probs.shape[0] == 3
    seg.remove_objects([1])
    assert seg.object_ids == [2] and seg.memory.num_objects == 1
    assert set(torch.unique(seg.step(frames[4]).labels).tolist()) <= {0, 2}
    with pytest.raises(ValueError, match="not tracked"):
        seg.remove_objects([7])


def test_bad_input_is_explained(net, video):
    frames, labels = video
    seg = Segmenter(net, MemoryBank())
    with pytest.raises(RuntimeError, match="call start"):
        seg.step(frames[0])
    with pytest.raises(ValueError, match="empty mask|no object"):
        seg.start(frames[0], np.zeros_like(labels[0]))
    with pytest.raises(ValueError, match=r"object id\(s\) \[3\] not in the initial mask"):
        seg.start(frames[0], labels[0], object_ids=[1, 3])
    with pytest.raises(ValueError, match="100×72"):
        seg.start(frames[0], labels[0][:, :99])
    with pytest.raises(ValueError, match="uint8 RGB"):
        seg.start(frames[0].astype(np.float32), labels[0])
    stacked = np.stack([labels[0] == 1, np.zeros_like(labels[0], bool)])
    with pytest.raises(ValueError, match=r"object id\(s\) \[9\] have an empty mask"):
        seg.start(frames[0], stacked, object_ids=[4, 9])
    seg.start(frames[0], labels[0])
    with pytest.raises(ValueError, match="started at 100×72"):
        seg.step(frames[1][:-1])
    with pytest.raises(ValueError, match="mem_every"):
        Segmenter(net, MemoryBank(), mem_every=0)


def test_real_davis_frames_end_to_end(net):
    from PIL import Image

    root = require_shared("davis2016")
    frame_dir, mask_dir = root / "JPEGImages/480p/blackswan", root / "Annotations/480p/blackswan"
    frames = [np.asarray(Image.open(p).convert("RGB").resize((214, 120))) for p in sorted(frame_dir.glob("*.jpg"))[:6]]
    mask = (np.asarray(Image.open(mask_dir / "00000.png").resize((214, 120), Image.NEAREST)) > 127).astype(np.uint8)
    seg = OfflineSegmenter(Segmenter(net, MemoryBank("random_pixel", 2, temp_size=1), mem_every=2),
                           order="strided", burn_in_passes=1)
    result = seg.run(frames, mask, init_frame=0)
    assert torch.equal(result.labels[0], torch.from_numpy(mask).long())
    assert all(lab.shape == (120, 214) for lab in result.labels)


def test_key_confidence_is_the_cell_mean_of_the_most_likely_label():
    probs = torch.zeros(2, 32, 48)
    probs[0] = 0.7                     # background 0.7 everywhere but one cell
    probs[1] = 0.3
    probs[0, :16, 16:32], probs[1, :16, 16:32] = 0.4, 0.6
    probs[0, 16:, :8], probs[1, 16:, :8] = 0.5, 0.5
    confidence = key_confidence(probs, (2, 3))
    expected = torch.tensor([[0.7, 0.6, 0.7], [0.6, 0.7, 0.7]])   # half of cell (1, 0) at 0.5
    torch.testing.assert_close(confidence, expected)
