"""Replacement policies as registered classes: adding one by name, the registry, a policy's state in snapshots,
and building the memory from its settings."""

import logging
import re
import shutil

import pytest
import torch

from stcnbuf.engine.build import build_memory, build_segmenter
from stcnbuf.engine.memory import (POLICIES, BurnInTreatment, FramePolicy, MemoryBank, ReplacementPolicy, policy_class,
                                   register_policy, unregister_policy)
from stcnbuf.engine.memory.policies import Reservoir, Unbounded
from stcnbuf.engine.settings import MemorySettings
from tests.conftest import CONFIGS, REPO, tiny_net

CK, CV, H, W = 4, 3, 2, 3
P = H * W


def frame(seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(CK, H, W, generator=g), torch.randn(1, CV, H, W, generator=g)


def stored(bank: MemoryBank) -> list:
    return sorted(torch.unique(bank.stored_frames()).tolist())


@pytest.fixture
def toy():
    """A policy defined and registered here ("toy": a full memory replaces the frame of the lowest index in the
    video); it leaves the registry when the test ends."""
    @register_policy("toy")
    class LowestIndex(FramePolicy):
        def choose(self, memory, evictable, first, pinned):
            candidates = evictable if first is None else first
            return candidates[torch.argmin(memory.per_slot(memory.frames)[candidates])]

    yield LowestIndex
    unregister_policy("toy")


def test_a_policy_defined_outside_the_package_is_built_by_name(toy):
    bank = build_memory({"policy": "toy", "capacity": 3, "temp_size": 1})
    assert isinstance(bank.policy, toy) and bank.stats()["policy"] == "toy" and "toy" in POLICIES
    bank.add_objects(1)
    bank.add(*frame(0), 0, annotated=True)           # pinned: never evicted, though its index is the lowest
    for index in (5, 3):
        bank.add(*frame(index), index)
    assert stored(bank) == [0, 3, 5]
    for index, kept in ((9, [0, 5, 9]), (2, [0, 2, 9]), (4, [0, 4, 9])):
        bank.add(*frame(index), index)
        bank.add(*frame(100 + index), 100 + index, temporary=True)   # the ring is not the policy's
        assert stored(bank) == kept
    evicting_burn_in_first = MemoryBank("toy", 2, burn_in=BurnInTreatment(evict_first=True))
    evicting_burn_in_first.add_objects(1)
    evicting_burn_in_first.add(*frame(1), 1)
    evicting_burn_in_first.add(*frame(8), 8, burn_in=True)
    evicting_burn_in_first.add(*frame(6), 6)
    assert stored(evicting_burn_in_first) == [1, 6]


def test_a_preset_names_a_registered_policy(toy, tmp_path):
    """The class and ``configs/memory/toy.yaml`` are all a new policy needs to run from a config."""
    from hydra import compose, initialize_config_dir

    from stcnbuf.apps.schemas import register_configs

    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    (configs / "memory" / "toy.yaml").write_text("defaults:\n  - schema\n  - _self_\n\npolicy: toy\n")
    register_configs()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STCNBUF_ROOT", str(REPO))
        with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
            cfg = compose(config_name="segment", overrides=["memory=toy", "memory.capacity=5", "video=clip.mp4"])
    bank = build_memory(cfg.memory)
    assert isinstance(bank.policy, toy) and bank.capacity == 5


def test_every_preset_names_a_registered_policy():
    from omegaconf import OmegaConf

    named = {OmegaConf.load(path).policy for path in (CONFIGS / "memory").glob("*.yaml")}
    assert named == set(POLICIES)


def test_an_unknown_policy_is_refused_with_the_registered_ones():
    assert {"unbounded", "random_pixel", "random_frame", "fifo", "reservoir"} <= set(POLICIES)
    choices = re.escape(f"unknown memory policy 'lru'; choose one of {', '.join(POLICIES)} (or a module.Class")
    for build in (lambda: MemoryBank("lru"), lambda: build_memory({"policy": "lru"}), lambda: policy_class("lru")):
        with pytest.raises(ValueError, match=choices):
            build()


def test_registering_and_unregistering():
    class Once(ReplacementPolicy):
        pass

    assert register_policy("once")(Once) is Once and Once.name == "once" and policy_class("once") is Once
    assert register_policy("once")(Once) is Once       # the same class again: nothing changes
    with pytest.raises(ValueError, match="'once' is already registered"):
        register_policy("once")(type("Other", (ReplacementPolicy,), {}))
    unregister_policy("once")
    assert "once" not in POLICIES
    with pytest.raises(ValueError, match="unknown memory policy 'once'"):
        unregister_policy("once")
    with pytest.raises(ValueError, match="unknown memory policy 'once'"):
        MemoryBank("once", capacity=2)


def test_the_toy_policy_left_the_registry():
    assert "toy" not in POLICIES


def test_a_policy_that_evicts_nothing_cannot_be_made():
    class Stuck(ReplacementPolicy):
        name = "stuck"

    class Undecided(FramePolicy):
        name = "undecided"

    with pytest.raises(TypeError, match="abstract method.*evict"):
        Stuck()
    with pytest.raises(TypeError, match="abstract method.*choose"):
        Undecided()


def test_the_policy_state_travels_with_the_bank_state():
    """Reservoir's count of offered frames is part of the bank's snapshot."""
    bank = MemoryBank("reservoir", capacity=2, seed=3)
    bank.add_objects(1)
    bank.add(*frame(0), 0, annotated=True)              # pinned frames are not offered
    for i in range(1, 8):
        bank.add(*frame(i), i)
    state = bank.state_dict()
    assert isinstance(bank.policy, Reservoir) and state["_offered"] == 7
    restored = MemoryBank("reservoir", capacity=2, seed=3)
    restored.load_state_dict(state)
    assert restored.policy.state_dict() == {"_offered": 7}
    for i in range(8, 30):
        bank.add(*frame(i), i)
        restored.add(*frame(i), i)
    assert torch.equal(bank.stored_frames(), restored.stored_frames())
    restored.reset()
    assert restored.policy.state_dict() == {"_offered": 0}
    assert "_offered" not in MemoryBank("fifo", capacity=2).state_dict()   # a policy without state adds nothing


def test_a_policy_state_named_like_the_bank_state_is_refused():
    class Clashing(Unbounded):
        name, state_attributes, _used = "clashing", ("_used",), 0

    bank = MemoryBank("unbounded")
    bank.policy = Clashing()
    with pytest.raises(ValueError, match=r"has state named like the bank's: \['_used'\]"):
        bank.state_dict()


def test_build_memory_takes_settings_or_a_mapping():
    settings = MemorySettings(policy="fifo", capacity=4, temp_size=2, pin_annotated=False, seed=7,
                              burn_in_weight=0.5, burn_in_evict_first=True, burn_in_confidence=0.9)
    for memory in (settings, vars(settings)):
        bank = build_memory(memory)
        assert (bank.policy.name, bank.capacity, bank.temp_size, bank.pin_annotated, bank.seed) == \
            ("fifo", 4, 2, False, 7)
        assert bank.burn_in == BurnInTreatment(weight=0.5, evict_first=True, confidence=0.9)


def test_burn_in_settings_without_burn_in_visits_are_warned_about(caplog):
    net = tiny_net()
    for memory, offline, warned in (({"burn_in_weight": 0.5}, False, True), ({"burn_in_evict_first": True}, False, True),
                                    ({"burn_in_confidence": 0.5}, True, False), ({}, False, False)):
        caplog.clear()
        inference = {"mode": "offline", "burn_in_passes": 1} if offline else {"mode": "online"}
        with caplog.at_level(logging.WARNING, logger="stcnbuf.engine.build"):
            build_segmenter(net, {"policy": "fifo", **memory}, inference, exact=True)
        assert ("act only on burn-in visits" in caplog.text) == warned, memory


def test_a_burn_in_treatment_checks_its_settings():
    with pytest.raises(ValueError, match="burn_in_weight must be in"):
        BurnInTreatment(weight=0)
    with pytest.raises(ValueError, match="burn_in_confidence must be in"):
        BurnInTreatment(confidence=1.0)
    assert not BurnInTreatment().active and BurnInTreatment(evict_first=True).active
    assert BurnInTreatment(confidence=0.2).needs_confidence and not BurnInTreatment(weight=0.2).needs_confidence


def test_a_policy_of_the_users_own_module_is_named_by_its_path(tmp_path, monkeypatch):
    """``memory.policy=module.Class``: a policy in a user's module, not registered, built from a preset's value."""
    (tmp_path / "my_policies.py").write_text(
        "import torch\nfrom stcnbuf.engine.memory import FramePolicy\n\n\n"
        "class NewestOut(FramePolicy):\n"
        "    def choose(self, memory, evictable, first, pinned):\n"
        "        candidates = evictable if first is None else first\n"
        "        return candidates[torch.argmax(memory.per_slot(memory.frames)[candidates])]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bank = build_memory({"policy": "my_policies.NewestOut", "capacity": 2, "temp_size": 0})
    bank.add_objects(1)
    for index in (0, 1, 2, 3):
        bank.add(*frame(index), index)
    assert stored(bank) == [0, 3] and bank.stats()["policy"] == "my_policies.NewestOut"
    with pytest.raises(ValueError, match="cannot import"):
        build_memory({"policy": "my_policies.Missing", "capacity": 2})
    with pytest.raises(ValueError, match="not a ReplacementPolicy"):
        build_memory({"policy": "torch.Tensor", "capacity": 2})
