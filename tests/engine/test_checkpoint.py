import json
import logging
import subprocess
import sys

import pytest
import torch
import torchvision

from stcnbuf.apps.checkpoint import main as checkpoint_main
from stcnbuf.engine.build import build_network
from stcnbuf.engine.checkpoint import (RELEASED_LAYOUTS, CheckpointError, export_original, guess_architecture,
                                       load_imagenet_backbones, load_network_weights, read_weights_file,
                                       released_layout, released_shapes)
from stcnbuf.engine.model import STCN
from tests.conftest import REPO, tiny_net


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A random-weight full-size STCN saved as a plain state dict, as released files are."""
    torch.manual_seed(1)
    net = STCN()
    for module in net.modules():  # give BatchNorm non-default running stats so they are checked too
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.num_batches_tracked.fill_(7)
    path = tmp_path_factory.mktemp("ckpt") / "stcn.pth"
    torch.save(net.state_dict(), path)
    return net, path


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_released_layout_round_trips_strictly(original, tmp_path):
    net, path = original
    loaded = load_network_weights(STCN(), path)
    assert_same_state(net, loaded)
    out = export_original(loaded, tmp_path / "export.pth")
    plain = torch.load(out, weights_only=True)
    assert isinstance(plain, dict) and all(not k.startswith(("module.", "net.")) for k in plain)
    STCN().load_state_dict(plain, strict=True)


def test_stage0_file_gets_a_zero_fifth_channel(tmp_path):
    net = tiny_net()
    state = net.state_dict()
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4].clone()
    torch.save(state, tmp_path / "stage0.pth")
    loaded = load_network_weights(tiny_net(seed=5), tmp_path / "stage0.pth")
    weight = loaded.value_encoder.conv1.weight
    assert weight.shape[1] == 5
    assert torch.equal(weight[:, :4], state["value_encoder.conv1.weight"])
    assert torch.count_nonzero(weight[:, 4]) == 0


def test_training_and_lightning_checkpoints_load(tmp_path):
    net = tiny_net(seed=3)
    wrapped = {"network": {"module." + k: v for k, v in net.state_dict().items()}, "it": 100}
    torch.save(wrapped, tmp_path / "train.pth")
    assert_same_state(net, load_network_weights(tiny_net(), tmp_path / "train.pth"))
    lightning = {"state_dict": {"net." + k: v for k, v in net.state_dict().items()}, "global_step": 5}
    torch.save(lightning, tmp_path / "run.ckpt")
    assert_same_state(net, load_network_weights(tiny_net(), tmp_path / "run.ckpt"))


def test_wrong_files_give_clear_errors(original, tmp_path):
    _, path = original
    with pytest.raises(CheckpointError, match="not found"):
        load_network_weights(STCN(), tmp_path / "missing.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_network_weights(STCN(), tmp_path / "corrupt.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_network_weights(STCN(), tmp_path / "list.pth")
    state = torch.load(path, weights_only=True)
    state.pop("decoder.pred.bias")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "keys.pth")
    with pytest.raises(CheckpointError) as error:
        load_network_weights(STCN(), tmp_path / "keys.pth")
    assert "missing keys: decoder.pred.bias" in str(error.value)
    assert "unexpected keys: extra.weight" in str(error.value)
    torch.save(tiny_net().state_dict(), tmp_path / "small.pth")
    with pytest.raises(CheckpointError, match="shape mismatches: key_encoder") as error:
        load_network_weights(STCN(), tmp_path / "small.pth")
    assert "holds an STCN with key_backbone=resnet18, key_dim=16, value_dim=32" in str(error.value)


def test_a_checkpoint_never_runs_code(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return open, (str(marker), "w")

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch.load's unsafe default, unless told
    torch.save({"x": Payload()}, tmp_path / "evil.pth")
    for load in (read_weights_file, lambda path: load_network_weights(STCN(), path)):
        with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*evil\.pth: it needs the global io\.open"):
            load(tmp_path / "evil.pth")
    assert not marker.exists()


class RunsShell:
    def __reduce__(self):
        import os

        return os.system, ("true",)


def test_a_blocked_global_is_named_without_advice_to_load_unsafely(tmp_path, monkeypatch):
    """torch words a blocked module's global "unsupported GLOBAL posix.system whose module posix is blocked" and
    advises "Re-running with weights_only=False will likely succeed": the error names the global, never that."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    torch.save({"state_dict": {}, "payload": RunsShell()}, tmp_path / "shell.ckpt")
    with pytest.raises(CheckpointError) as error:
        read_weights_file(tmp_path / "shell.ckpt")
    message = str(error.value)
    assert f"cannot read checkpoint {tmp_path / 'shell.ckpt'}: it needs the global posix.system, which " \
           "weights-only loading refuses" in message
    assert "weights_only" not in message and "will likely succeed" not in message.lower()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_holding_nan_names_the_first_bad_tensor(tmp_path, bad):
    net = tiny_net()
    state = {"state_dict": {"net." + k: v.clone() for k, v in net.state_dict().items()}}
    state["state_dict"]["net.decoder.pred.weight"].view(-1)[5] = bad
    state["state_dict"]["net.decoder.pred.bias"][:] = float("nan")
    torch.save(state, tmp_path / "diverged.ckpt")
    with pytest.raises(CheckpointError, match=r"diverged\.ckpt holds non-finite weights: decoder\.pred\.weight has "
                                              r"1 NaN or infinite value\(s\) of \d+ "):
        load_network_weights(tiny_net(), tmp_path / "diverged.ckpt")
    with pytest.raises(CheckpointError, match=r"decoder\.pred\.weight has 1 NaN"):
        build_network({"checkpoint": str(tmp_path / "diverged.ckpt"), "net": {}})


@pytest.mark.parametrize("name, dependents", [("key_comp.weight", "key_comp.bias"),
                                              ("value_encoder.conv1.weight", "value_encoder.bn1.weight"),
                                              ("decoder.compress.conv1.weight", "decoder.compress.conv2.weight"),
                                              ("decoder.up_8_4.out_conv.conv1.weight", "decoder.pred.weight")])
def test_one_wrong_shaped_tensor_is_named_with_both_shapes(tmp_path, capsys, name, dependents):
    """The architecture is read off the file by majority, so a damaged tensor is the one reported, not the
    healthy tensors that depend on its size."""
    state = tiny_net().state_dict()
    good = tuple(state[name].shape)
    bad = (good[0] + 1, *good[1:])
    state[name] = torch.zeros(bad)
    torch.save(state, tmp_path / "damaged.pth")
    with pytest.raises(CheckpointError) as error:
        build_network({"checkpoint": str(tmp_path / "damaged.pth"), "net": {}})
    assert f"shape mismatches: {name}: file {bad} vs model {good}\n" in str(error.value)
    assert dependents not in str(error.value)
    with pytest.raises(SystemExit) as exited:
        checkpoint_main(["inspect", str(tmp_path / "damaged.pth")])
    assert exited.value.code == 2
    assert f"shape mismatches: {name}: file {bad} vs model {good}\n" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="saving GPU tensors needs CUDA")
def test_gpu_saved_file_loads_on_cpu(tmp_path):
    net = tiny_net()
    torch.save({k: v.cuda() for k, v in net.state_dict().items()}, tmp_path / "gpu.pth")
    loaded = load_network_weights(tiny_net(seed=9), tmp_path / "gpu.pth")
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    assert_same_state(net, loaded)


def test_imagenet_backbones_load_from_local_files(tmp_path, caplog):
    torch.manual_seed(2)
    r50, r18 = torchvision.models.resnet50(weights=None), torchvision.models.resnet18(weights=None)
    torch.save(r50.state_dict(), tmp_path / "resnet50.pth")
    torch.save(r18.state_dict(), tmp_path / "resnet18.pth")
    net = load_imagenet_backbones(STCN(), str(tmp_path / "resnet50.pth"), str(tmp_path / "resnet18.pth"))
    assert torch.equal(net.key_encoder.res2[0].conv1.weight, r50.layer1[0].conv1.weight)
    assert torch.equal(net.key_encoder.layer3[5].bn3.running_var, r50.layer3[5].bn3.running_var)
    assert torch.equal(net.value_encoder.conv1.weight[:, :3], r18.conv1.weight)
    for channel in (3, 4):  # each mask channel orthogonal, as STCN's load_weights_sequential initialises it
        pad = net.value_encoder.conv1.weight[:, channel].detach().reshape(64, 49).double()
        assert torch.allclose(pad.T @ pad, torch.eye(49, dtype=torch.float64), atol=1e-5)  # orthonormal columns
    assert torch.equal(net.value_encoder.layer2[0].downsample[0].weight, r18.layer2[0].downsample[0].weight)
    assert torch.count_nonzero(net.value_encoder.layer1[0].conv1.bias) == 0
    with caplog.at_level(logging.WARNING):
        load_imagenet_backbones(STCN(), None, None)
    assert [r.message for r in caplog.records if "random initialisation" in r.message] == [
        "no ImageNet weights for the key and value encoder (model.imagenet.key, model.imagenet.value): random "
        "initialisation"]  # one line
    with pytest.raises(CheckpointError, match="no torchvision ResNet weights"):
        load_imagenet_backbones(STCN(), str(tmp_path / "resnet18.pth"), None)


def test_export_command_writes_the_original_format(tmp_path):
    net = tiny_net(seed=4)
    torch.save({"state_dict": {"net." + k: v for k, v in net.state_dict().items()}}, tmp_path / "run.ckpt")
    done = subprocess.run([sys.executable, "-m", "stcnbuf.apps.checkpoint", "export", str(tmp_path / "run.ckpt"),
                           str(tmp_path / "out.pth")], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    plain = torch.load(tmp_path / "out.pth", weights_only=True)
    rebuilt = STCN(**guess_architecture(plain))
    rebuilt.load_state_dict(plain, strict=True)
    assert_same_state(net, rebuilt)
    bad = subprocess.run([sys.executable, "-m", "stcnbuf.apps.checkpoint", "inspect", str(tmp_path / "nope.pth")],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_released_shapes_are_those_of_the_original_files():
    """The embedded reference (STCN()'s own state dict) against the key names and shapes of a released stcn.pth."""
    fixture = REPO.parent / "shared" / "fixtures" / "stcn_state_dict_shapes.json"
    if not fixture.is_file():
        pytest.skip(f"reference shapes of the original checkpoints not found at {fixture}")
    original = json.loads(fixture.read_text())
    assert released_shapes() == {name: tuple(shape) for name, shape in original.items()}
    assert list(released_shapes()) == list(original)


def test_released_layout_needs_every_name_and_shape():
    shapes = released_shapes()
    stage0 = "value_encoder.conv1.weight"

    def layout(changes: dict) -> str | None:
        state = {**shapes, **changes}
        return released_layout({name: torch.empty(shape, device="meta") for name, shape in state.items()
                                if shape is not None})

    assert layout({}) == RELEASED_LAYOUTS[5]
    assert layout({stage0: (64, 4, 7, 7)}) == RELEASED_LAYOUTS[4]
    assert layout({stage0: (64, 3, 7, 7)}) is None
    assert layout({stage0: (64, 4, 7, 7), "key_comp.bias": (256,)}) is None
    assert layout({"decoder.pred.bias": None}) is None
    assert layout({"extra.weight": (1,)}) is None


def test_without_a_checkpoint_the_newest_of_a_finished_training_run_is_used(tmp_path, caplog):
    """Runs that are interrupted or still running (or killed while running) are passed over, and said to be; a
    run that records no status (from before runs recorded it) counts as finished."""
    import os

    from stcnbuf.engine.checkpoint import find_checkpoint
    from stcnbuf.runs.training_status import write_training_status

    def run(name, age, status=None):
        checkpoint = tmp_path / "train" / "runs" / name / "checkpoints" / "last.ckpt"
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(b"weights")
        os.utime(checkpoint, (1000 - age, 1000 - age))
        if status:
            reason = "SIGTERM" if status == "interrupted" else None
            write_training_status(checkpoint.parent.parent, status, 60, 150, reason)
        return checkpoint

    old = run("old", 3)
    finished = run("finished", 2, "finished")
    run("running", 1, "running")
    run("interrupted", 0, "interrupted")
    with caplog.at_level(logging.WARNING):
        assert find_checkpoint(None, tmp_path) == str(finished)
    assert f"using {finished}, the newest checkpoint of a finished training run; passed over the checkpoints of 2 " \
           "unfinished run(s): " in caplog.text
    assert "interrupted (interrupted at step 60 of 150 (SIGTERM))" in caplog.text and "(running, or killed, since" \
        in caplog.text
    (finished.parent.parent / "training.json").write_text("{damaged")
    assert find_checkpoint(None, tmp_path) == str(old)
    assert "training run (one that records no status)" in caplog.text
    assert find_checkpoint("given.pth", tmp_path) == "given.pth"
