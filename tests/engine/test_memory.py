import math

import pytest
import torch

from stcnbuf.engine.memory import (POLICIES, BurnInTreatment, MemoryBank, MemoryFullError, check_burn_in_settings,
                                   dense_topk_readout, key_bias, read_memory, topk_readout)
from stcnbuf.lab import study

CK, CV, H, W = 4, 3, 2, 3
P = H * W
BOUNDED = [p for p in POLICIES if p != "unbounded"]


def frame(seed: int, objects: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(CK, H, W, generator=g), torch.randn(objects, CV, H, W, generator=g)


def fill(bank: MemoryBank, count: int, start: int = 0, annotated_first: bool = False, objects: int = 1):
    if bank.num_objects == 0:
        bank.add_objects(objects)
    for i in range(start, start + count):
        key, values = frame(i, objects)
        bank.add(key, values, frame_index=i, annotated=annotated_first and i == start)


@pytest.mark.parametrize("policy", BOUNDED)
def test_capacity_is_never_exceeded(policy):
    bank = MemoryBank(policy, capacity=5, temp_size=2)
    bank.add_objects(1)
    for i in range(60):
        key, values = frame(i)
        bank.add(key, values, i, temporary=i % 3 == 1, annotated=i == 0)
        stats = bank.stats()
        assert stats["frames"] <= 5 and stats["rows"] <= 5 * P
        assert stats["temporary_frames"] <= 2


@pytest.mark.parametrize("policy", BOUNDED)
def test_bounded_storage_is_preallocated_and_written_in_place(policy):
    bank = MemoryBank(policy, capacity=4, temp_size=1)
    fill(bank, 4)
    pointers = (bank._keys.data_ptr(), bank._values.data_ptr())
    shapes = (bank._keys.shape, bank._values.shape)
    for i in range(4, 200):
        key, values = frame(i)
        bank.add(key, values, i, temporary=i % 2 == 0)
        assert (bank._keys.data_ptr(), bank._values.data_ptr()) == pointers
        assert (bank._keys.shape, bank._values.shape) == shapes
        assert bank.read_inputs()[0].shape[0] == bank.stats()["rows"] + P


def test_unbounded_grows_geometrically_and_keeps_everything():
    bank = MemoryBank("unbounded")
    fill(bank, 100)
    frames = bank.stored_frames()
    assert sorted(torch.unique(frames).tolist()) == list(range(100))
    assert bank._keys.shape[0] >= 100 * P
    assert bank._keys.shape[0] < 2 * 100 * P


def test_unbounded_reallocation_count_is_logarithmic():
    bank = MemoryBank("unbounded")
    bank.add_objects(1)
    sizes = []
    for i in range(256):
        key, values = frame(i)
        bank.add(key, values, i)
        sizes.append(bank._keys.shape[0])
    assert len(set(sizes)) <= math.ceil(math.log2(256 / 8)) + 1


def test_fifo_keeps_the_most_recent_frames():
    bank = MemoryBank("fifo", capacity=4, pin_annotated=False)
    fill(bank, 10)
    assert sorted(torch.unique(bank.stored_frames()).tolist()) == [6, 7, 8, 9]
    key, values = frame(10)
    bank.add(key, values, 10)
    assert sorted(torch.unique(bank.stored_frames()).tolist()) == [7, 8, 9, 10]


@pytest.mark.parametrize("policy", BOUNDED)
def test_pinned_annotated_frames_are_never_evicted(policy):
    bank = MemoryBank(policy, capacity=3, seed=3)
    fill(bank, 300, annotated_first=True)
    assert int((bank.stored_frames() == 0).sum()) == P


@pytest.mark.parametrize("policy", ["random_frame", "fifo"])
def test_annotated_frames_can_be_evicted_when_not_pinned(policy):
    bank = MemoryBank(policy, capacity=3, pin_annotated=False)
    fill(bank, 50, annotated_first=True)
    assert int((bank.stored_frames() == 0).sum()) == 0


def test_memory_full_of_pinned_frames_raises():
    bank = MemoryBank("random_frame", capacity=2)
    bank.add_objects(1)
    for i in range(2):
        bank.add(*frame(i), i, annotated=True)
    with pytest.raises(MemoryFullError, match="memory.capacity"):
        bank.add(*frame(2), 2, annotated=True)
    with pytest.raises(MemoryFullError):
        bank.add(*frame(3), 3)


@pytest.mark.parametrize("policy", ["random_pixel", "random_frame"])
def test_random_replacement_ages_follow_the_geometric_law(policy):
    """Each insert keeps a stored entry with probability 1 - 1/C, so the age of a stored entry (in inserts)
    is geometric: P(age >= a) = (1 - 1/C)^a and E[age] = C - 1."""
    capacity = 8
    bank = MemoryBank(policy, capacity=capacity, seed=11)
    fill(bank, capacity)
    ages = []
    for i in range(capacity, 3000):
        bank.add(*frame(i), i)
        if i >= 200 and i % 10 == 0:  # snapshots after the start-up transient, spaced to reduce correlation
            ages.append(bank.step - 1 - bank.stored_steps())
    ages = torch.cat(ages).double()
    survive = 1 - 1 / capacity
    assert abs(ages.mean().item() - (capacity - 1)) < 0.35
    for a in (1, 4, 8, 16):
        assert abs((ages >= a).double().mean().item() - survive ** a) < 0.03


def test_random_pixel_replaces_exactly_one_frame_worth_of_entries_per_insert():
    bank = MemoryBank("random_pixel", capacity=6, seed=1)
    fill(bank, 6)
    before = bank.stored_steps()
    bank.add(*frame(6), 6)
    changed = (bank.stored_steps() != before).sum().item()
    assert changed == P


def test_reservoir_keeps_a_uniform_sample():
    capacity, length, trials = 5, 40, 400
    counts = torch.zeros(length)
    for seed in range(trials):
        bank = MemoryBank("reservoir", capacity=capacity, seed=seed, pin_annotated=False)
        fill(bank, length)
        counts[torch.unique(bank.stored_frames())] += 1
    assert counts.sum() == capacity * trials
    expected = trials * capacity / length
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 80  # 39 degrees of freedom: p ~ 1e-4 at 80


@pytest.mark.parametrize("policy", BOUNDED)
def test_same_seed_same_memory(policy):
    def run(seed):
        bank = MemoryBank(policy, capacity=4, seed=seed)
        fill(bank, 40)
        return bank.stored_frames(), bank.read_inputs()[0].clone()

    frames_a, keys_a = run(5)
    frames_b, keys_b = run(5)
    assert torch.equal(frames_a, frames_b) and torch.equal(keys_a, keys_b)
    if policy != "fifo":
        assert not torch.equal(run(6)[0], frames_a)


def test_reset_reseeds():
    bank = MemoryBank("random_pixel", capacity=3, seed=2)
    fill(bank, 20)
    first = bank.stored_frames()
    bank.reset()
    fill(bank, 20)
    assert torch.equal(first, bank.stored_frames())


def test_temporary_ring_holds_the_latest_frames_and_is_flushed_by_memory_writes():
    bank = MemoryBank("unbounded", temp_size=2)
    fill(bank, 1)
    for i in (1, 2, 3):
        bank.add(*frame(i), i, temporary=True)
    keys, biases, _, _ = bank.read_inputs()
    ring = keys[: 2 * P]
    readable = torch.isfinite(biases[0, : 2 * P])
    assert readable.all()
    expected = {tuple(frame(i)[0].reshape(CK, P).t()[0].tolist()) for i in (2, 3)}
    assert {tuple(ring[0].tolist()), tuple(ring[P].tolist())} == expected
    bank.add(*frame(4), 4)
    _, biases, _, _ = bank.read_inputs()
    assert not torch.isfinite(biases[0, : 2 * P]).any()
    assert bank.stats()["temporary_frames"] == 0


def test_topk_gather_read_equals_dense_reference():
    g = torch.Generator().manual_seed(0)
    n, hw, d = 900, 130, 48
    query, keys, values = torch.randn(64, hw, generator=g), torch.randn(n, 64, generator=g), torch.randn(n, d, generator=g)
    dense = dense_topk_readout(query, keys, values, 20)
    fast = topk_readout(query, keys, key_bias(keys), values, 20)
    torch.testing.assert_close(fast, dense, atol=1e-5, rtol=1e-5)
    chunked = topk_readout(query, keys, key_bias(keys), values, 20, chunk_elements=n * 7)
    torch.testing.assert_close(chunked, dense, atol=1e-5, rtol=1e-5)
    few = topk_readout(query, keys[:5], key_bias(keys[:5]), values[:5], 20)
    torch.testing.assert_close(few, dense_topk_readout(query, keys[:5], values[:5], 20), atol=1e-5, rtol=1e-5)


def test_bank_read_equals_dense_read_over_stored_frames():
    bank = MemoryBank("unbounded", temp_size=1)
    fill(bank, 5, objects=2)
    bank.add(*frame(5, 2), 5, temporary=True)
    query = torch.randn(CK, H, W)
    out = bank.read(query, top_k=7)
    keys = torch.cat([frame(i, 2)[0].reshape(CK, P).t() for i in range(6)])
    values = torch.cat([frame(i, 2)[1].reshape(2 * CV, P).t() for i in range(6)])
    dense = dense_topk_readout(query.reshape(CK, P), keys, values, 7)
    torch.testing.assert_close(out, dense.t().reshape(2, CV, H, W), atol=1e-5, rtol=1e-5)


def test_objects_added_later_read_only_frames_since_their_start():
    bank = MemoryBank("unbounded")
    fill(bank, 4, objects=1)
    bank.add_objects(1)
    later = [frame(10 + i, 2) for i in range(3)]
    for i, (key, values) in enumerate(later):
        bank.add(key, values, 10 + i, annotated=i == 0)
    query = torch.randn(CK, H, W)
    out = bank.read(query, top_k=5)
    keys_all = torch.cat([frame(i)[0].reshape(CK, P).t() for i in range(4)] + [k.reshape(CK, P).t() for k, _ in later])
    values_first = torch.cat([frame(i)[1].reshape(CV, P).t() for i in range(4)] + [v[0].reshape(CV, P).t() for _, v in later])
    keys_late = torch.cat([k.reshape(CK, P).t() for k, _ in later])
    values_late = torch.cat([v[1].reshape(CV, P).t() for _, v in later])
    q = query.reshape(CK, P)
    torch.testing.assert_close(out[0].reshape(CV, P), dense_topk_readout(q, keys_all, values_first, 5).t(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1].reshape(CV, P), dense_topk_readout(q, keys_late, values_late, 5).t(), atol=1e-5, rtol=1e-5)


def test_removing_objects_keeps_the_others():
    bank = MemoryBank("unbounded")
    fill(bank, 3, objects=3)
    query = torch.randn(CK, H, W)
    before = bank.read(query)
    bank.remove_objects([1])
    after = bank.read(query)
    assert bank.num_objects == 2
    torch.testing.assert_close(after, before[[0, 2]])
    with pytest.raises(ValueError, match="out of range"):
        bank.remove_objects([5])


def test_configuration_errors_are_explained():
    with pytest.raises(ValueError, match="unknown memory policy"):
        MemoryBank("lru")
    with pytest.raises(ValueError, match="needs memory.capacity"):
        MemoryBank("fifo")
    assert MemoryBank("unbounded", capacity=4).capacity is None  # ignored (with a warning) so sweeps can mix policies
    bank = MemoryBank("fifo", capacity=2)
    bank.add_objects(1)
    bank.add(*frame(0), 0)
    with pytest.raises(ValueError, match="one size"):
        bank.add(torch.randn(CK, H + 1, W), torch.randn(1, CV, H + 1, W), 1)
    with pytest.raises(ValueError, match="values for 2 objects"):
        bank.add(*frame(1, 2), 1)
    with pytest.raises(ValueError, match="temp_size=0"):
        bank.add(*frame(1), 1, temporary=True)
    with pytest.raises(RuntimeError, match="memory is empty"):
        MemoryBank().read_inputs()


def test_read_memory_combines_cohorts():
    g = torch.Generator().manual_seed(1)
    keys, values = torch.randn(50, CK, generator=g), torch.randn(50, 2 * CV, generator=g)
    query = torch.randn(CK, 10, generator=g)
    bias = key_bias(keys)
    late = bias.clone()
    late[:20] = -math.inf
    out = read_memory(query, keys, torch.stack([bias, late]), values, torch.tensor([0, 1]), 6)
    first = dense_topk_readout(query, keys, values[:, :CV], 6).t()
    second = dense_topk_readout(query, keys[20:], values[20:, CV:], 6).t()
    torch.testing.assert_close(out[0], first, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1], second, atol=1e-5, rtol=1e-5)


def test_empty_ring_rows_are_never_picked_even_when_top_k_exceeds_the_memory():
    bank = MemoryBank("unbounded", temp_size=3)
    fill(bank, 1)
    out = bank.read(torch.randn(CK, H, W), top_k=50)
    assert torch.isfinite(out).all()
    keys = frame(0)[0].reshape(CK, P).t()
    values = frame(0)[1].reshape(CV, P).t()
    query = torch.randn(CK, H, W)
    torch.testing.assert_close(bank.read(query, top_k=50).reshape(CV, P),
                               dense_topk_readout(query.reshape(CK, P), keys, values, 50).t(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("policy", ["random_pixel", "unbounded"])
def test_a_restored_snapshot_continues_identically(policy):
    def make():
        return MemoryBank(policy, capacity=None if policy == "unbounded" else 3, temp_size=1, seed=7)

    straight = make()
    fill(straight, 12)
    first = make()
    fill(first, 6)
    state = first.state_dict()
    second = make()
    second.load_state_dict(state)
    fill(second, 6, start=6)
    assert torch.equal(second.stored_frames(), straight.stored_frames())
    torch.testing.assert_close(second.read_inputs()[0], straight.read_inputs()[0])
    with pytest.raises(ValueError, match="does not fit"):
        MemoryBank("fifo", capacity=3).load_state_dict(state)


# -- entries written by burn-in visits -------------------------------------------------------------------------


def test_burn_in_entries_are_read_with_their_weight():
    """A burn-in frame read with weight w: its softmax weights are those of a plain read multiplied by w,
    renormalised (computed by hand from the L2 affinities)."""
    weight = 0.25
    bank = MemoryBank("unbounded", burn_in=BurnInTreatment(weight=weight))
    bank.add_objects(1)
    (k0, v0), (k1, v1) = frame(0), frame(1)
    bank.add(k0, v0, 0, annotated=True)
    bank.add(k1, v1, 1, burn_in=True)
    query = torch.randn(CK, H, W, generator=torch.Generator().manual_seed(9))
    keys = torch.cat([k0.reshape(CK, P).t(), k1.reshape(CK, P).t()])
    values = torch.cat([v0.reshape(CV, P).t(), v1.reshape(CV, P).t()])
    affinity = -torch.cdist(query.reshape(CK, P).t(), keys).pow(2) / math.sqrt(CK)   # [P, 2P]
    affinity[:, P:] += math.log(weight)
    expected = torch.softmax(affinity, 1) @ values                                      # [P, CV]
    got = bank.read(query, top_k=2 * P)[0].reshape(CV, P).t()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    plain = MemoryBank("unbounded")
    plain.add_objects(1)
    plain.add(k0, v0, 0, annotated=True)
    plain.add(k1, v1, 1, burn_in=True)
    assert not torch.allclose(plain.read(query, top_k=2 * P), bank.read(query, top_k=2 * P))
    # with a top-k smaller than the memory, the weight also decides which entries are among the k
    k = 3
    top = torch.topk(affinity, k, dim=1)
    expected_k = (torch.softmax(top.values, 1).unsqueeze(2) * values[top.indices]).sum(1)
    torch.testing.assert_close(bank.read(query, top_k=k)[0].reshape(CV, P).t(), expected_k, rtol=1e-4, atol=1e-5)


def test_unconfident_burn_in_positions_are_never_read():
    bank = MemoryBank("random_pixel", capacity=4, burn_in=BurnInTreatment(confidence=0.8))
    fill(bank, 1, annotated_first=True)
    key, values = frame(5)
    confidence = torch.tensor([[0.9, 0.5, 0.8], [0.79, 1.0, 0.1]])
    bank.add(key, values, 5, burn_in=True, confidence=confidence)
    bias = bank.read_inputs()[1][0]
    burn_rows = bias[P:2 * P]
    assert torch.isinf(burn_rows).tolist() == (confidence.reshape(-1) < 0.8).tolist()
    assert torch.isfinite(bias[:P]).all()
    plain_key, plain_values = frame(6)
    bank.add(plain_key, plain_values, 6, confidence=torch.zeros(H, W))   # not burn-in: every position readable
    assert torch.isfinite(bank.read_inputs()[1][0][2 * P:3 * P]).all()
    with pytest.raises(ValueError, match="burn_in_confidence needs the confidence"):
        bank.add(key, values, 7, burn_in=True)


def test_a_memory_of_unsure_burn_in_frames_still_reads_finite_values():
    """Annotated frames unpinned and evicted: what is left is burn-in frames predicted with no confidence at
    all; each keeps its most confident position readable, so reads never average over -inf alone."""
    bank = MemoryBank("fifo", capacity=2, pin_annotated=False, burn_in=BurnInTreatment(confidence=0.5))
    fill(bank, 1, annotated_first=True)
    for i in (1, 2):
        bank.add(*frame(i), i, burn_in=True, confidence=torch.zeros(H, W))
    assert bank.stored_frames().unique().tolist() == [1, 2]
    assert int(torch.isfinite(bank.read_inputs()[1][0]).sum()) == 2     # one position of each frame
    assert torch.isfinite(bank.read(frame(9)[0])).all()


@pytest.mark.parametrize("policy", BOUNDED)
def test_burn_in_frames_are_evicted_first(policy):
    """Memory full of [annotated, plain, burn-in, burn-in]: with the switch, new plain frames replace the
    burn-in ones first, so the plain frame 1 outlives them; fifo without the switch evicts frame 1 first."""
    lost_without = 0
    for seed in range(6):
        for evict_first in (True, False):
            bank = MemoryBank(policy, capacity=4, seed=seed, burn_in=BurnInTreatment(evict_first=evict_first))
            bank.add_objects(1)
            for i, burn_in in enumerate((False, False, True, True)):
                bank.add(*frame(i), i, annotated=i == 0, burn_in=burn_in)
            kept = []
            for i in range(4, 200):
                bank.add(*frame(i), i)
                kept.append(1 in bank.stored_frames().tolist())
                if bank.stats()["stored_burn_in_frames"] == 0:
                    break
            if evict_first:
                assert all(kept) and bank.stats()["stored_burn_in_frames"] == 0 and bank.stats()["frames"] == 4
            else:
                lost_without += not all(kept)
    assert lost_without >= (6 if policy == "fifo" else 1)   # without the switch, frame 1 is not safe


def test_burn_in_settings_are_checked_and_part_of_a_snapshot():
    with pytest.raises(ValueError, match="burn_in_weight must be in"):
        MemoryBank("fifo", capacity=2, burn_in=BurnInTreatment(weight=0))
    with pytest.raises(ValueError, match="burn_in_confidence must be in"):
        check_burn_in_settings(0.5, 1.0)
    with pytest.raises(ValueError, match="burn_in_weight must be in"):
        study.treatments(weight=2.0)
    evict_first = BurnInTreatment(evict_first=True)
    bank = MemoryBank("fifo", capacity=3, burn_in=evict_first)
    fill(bank, 1, annotated_first=True)
    bank.add(*frame(1), 1, burn_in=True)
    state = bank.state_dict()
    other = MemoryBank("fifo", capacity=3, burn_in=evict_first)
    other.load_state_dict(state)
    assert other.stats()["stored_burn_in_frames"] == 1
    with pytest.raises(ValueError, match="does not fit"):
        MemoryBank("fifo", capacity=3).load_state_dict(state)
