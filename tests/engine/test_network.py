"""The network a segmenter runs: folded BatchNorm, weights cast once, precision=auto, the label arg-max."""

import contextlib

import pytest
import torch
from torch import nn

from stcnbuf.engine import Segmenter, core
from stcnbuf.engine.memory import MemoryBank
from stcnbuf.engine.network import fold_batchnorm, foldable_pairs, inference_network
from stcnbuf.engine.prediction import channel_argmax
from tests.conftest import moving_squares, tiny_net


def trained_looking_net(seed: int = 0):
    """A tiny network whose BatchNorms hold non-trivial statistics (folding the defaults changes nothing)."""
    net = tiny_net(seed)
    generator = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(torch.rand(c, generator=generator) - 0.5)
            module.running_var.copy_(0.5 + torch.rand(c, generator=generator))
            module.weight.data.copy_(0.5 + torch.rand(c, generator=generator))
            module.bias.data.copy_(torch.rand(c, generator=generator) - 0.5)
    return net.eval()


def test_folding_removes_every_batchnorm_and_keeps_the_outputs():
    net = trained_looking_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = inference_network(net, torch.device("cpu"), channels_last=False, fold=True)
    assert folded is not net and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert len(foldable_pairs(net)) == sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert net.state_dict().keys() == before.keys()  # the caller's network still loads and exports as before
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())
    image = torch.randn(1, 3, 64, 96)
    masks = torch.rand(1, 2, 64, 96)
    with torch.no_grad():
        for ours, theirs in zip(folded.encode_key(image), net.encode_key(image)):
            torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
        f16 = net.encode_key(image)[2]
        torch.testing.assert_close(folded.encode_value(image, f16, masks), net.encode_value(image, f16, masks),
                                   atol=1e-4, rtol=1e-4)


def test_a_network_without_batchnorm_is_not_copied():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert inference_network(net, torch.device("cpu"), channels_last=False, fold=True) is net
    assert fold_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4).eval()))[1].__class__ is nn.Identity


def test_segmenter_defaults_agree_with_the_exact_computation():
    frames, labels = moving_squares(num_frames=6)
    runs = []
    for fast in (False, True):
        net = trained_looking_net()
        seg = Segmenter(net, MemoryBank("fifo", 3, temp_size=1), mem_every=2, channels_last=fast,
                              fold_batchnorm=fast)
        assert (seg.net is net) == (not fast)
        runs.append([seg.start(frames[0], labels[0]).probs] + [seg.step(f).probs for f in frames[1:]])
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_bf16_weights_are_cast_once_on_a_copy():
    net = trained_looking_net()
    frames, labels = moving_squares(num_frames=4)
    with pytest.warns(UserWarning, match="emulated") if core.cpu_has_native_bf16() is False else contextlib.nullcontext():
        seg = Segmenter(net, MemoryBank("unbounded"), mem_every=2, precision="bf16")
    assert all(p.dtype == torch.bfloat16 for p in seg.net.parameters())
    assert all(p.dtype == torch.float32 for p in net.parameters())
    probs = [seg.start(frames[0], labels[0]).probs] + [seg.step(f).probs for f in frames[1:]]
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in probs)


def test_auto_precision_is_bf16_only_where_it_is_native(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(core, "cpu_has_native_bf16", lambda: True)
    assert core.resolve_precision(cpu, "auto") == "bf16"
    monkeypatch.setattr(core, "cpu_has_native_bf16", lambda: False)
    assert core.resolve_precision(cpu, "auto") == "fp32"
    assert Segmenter(tiny_net(), MemoryBank(), precision="auto").precision == "fp32"
    assert core.resolve_precision(cpu, "fp32") == "fp32" and core.resolve_precision(cpu, "bf16") == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        core.resolve_precision(cpu, "half")


def test_channel_argmax_equals_argmax_with_ties():
    probs = torch.rand(4, 33, 47)
    probs[2, :5] = probs[1, :5]  # ties go to the first channel
    probs[:, 7] = 0.25
    assert torch.equal(channel_argmax(probs), probs.argmax(0))

