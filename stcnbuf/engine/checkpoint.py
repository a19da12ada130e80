"""Load, convert and export weights: released STCN files, stage-0 files, Lightning checkpoints, ImageNet.

Every file is read with ``torch.load(..., weights_only=True, map_location="cpu")`` (:func:`read_weights_file`,
which training's resume goes through too): a checkpoint never runs code, also with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set, and files saved from GPU tensors load on any machine.

Command line: ``stcnbuf-checkpoint inspect FILE`` and ``stcnbuf-checkpoint export IN OUT.pth``
(:mod:`stcnbuf.apps.checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from stcnbuf.engine.model.stcn import STCN

log = logging.getLogger(__name__)

#: Prefixes of the network's parameters in a Lightning checkpoint of ours.
LIGHTNING_PREFIX = "net."
_STAGE0_KEY = "value_encoder.conv1.weight"


class CheckpointError(ValueError):
    """A weights file that cannot be used, with the reason and the fix."""


def read_weights_file(path: str | os.PathLike, what: str = "checkpoint") -> Mapping:
    """``torch.load`` a file safely (weights only, CPU), with clear errors for missing, corrupt or unsafe files.

    ``weights_only=True`` is explicit, which torch honours over ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} file not found: {path} (put the file there or give its path in the config)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"cannot read {what} {path}: {_load_failure(error)}. Files are read weights-only "
                              "(tensors and plain data; loading never runs code): give a state dict or checkpoint "
                              "saved with torch.save") from error


def _load_failure(error: Exception) -> str:
    """What ``torch.load`` refused (e.g. ``it needs the global posix.system, ...``), without torch's advice to
    load the file unsafely."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError):
        # torch words it "Unsupported global: GLOBAL io.open was not an allowed global" or "Trying to load
        # unsupported GLOBAL posix.system whose module posix is blocked"
        found = re.search(r"unsupported global:?\s+(?:GLOBAL\s+)?([\w.]+)", text, re.IGNORECASE)
        if found:
            return (f"it needs the global {found.group(1)}, which weights-only loading refuses (unpickling it "
                    "could run code)")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _unsafe_advice(line)]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _unsafe_advice(line: str) -> bool:
    """Whether a line of torch's message suggests loading with ``weights_only=False`` or points to its docs."""
    lowered = line.lower()
    return any(words in lowered for words in ("weights_only", "weights only load failed",
                                              "documentation of torch.load"))


def first_non_finite(state: Mapping[str, Tensor]) -> Optional[Tuple[str, int, int]]:
    """The first floating tensor of ``state`` holding a NaN or an infinity: its name, how many of its values are
    not finite and its size; ``None`` when every floating tensor is finite."""
    for name, tensor in state.items():
        if tensor.is_floating_point():
            finite = torch.isfinite(tensor)
            if not bool(finite.all()):
                return name, int(tensor.numel() - finite.sum()), tensor.numel()
    return None


def extract_state_dict(obj: Mapping, path: str | os.PathLike = "<memory>") -> Dict[str, Tensor]:
    """The network state dict inside a loaded file.

    Accepts a plain state dict (released ``stcn.pth``), the original training checkpoints (``network``
    entry, ``module.`` prefixes) and our Lightning checkpoints (``state_dict`` entry, ``net.`` prefixes). A state
    holding a NaN or an infinity is refused, naming the first such tensor (:func:`first_non_finite`).
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict")
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        inner = obj["state_dict"]
        state = {k[len(LIGHTNING_PREFIX):]: v for k, v in inner.items() if k.startswith(LIGHTNING_PREFIX)}
        if not state:
            raise CheckpointError(f"{path} is a Lightning checkpoint without '{LIGHTNING_PREFIX}*' weights")
    elif "network" in obj and isinstance(obj["network"], Mapping):
        state = dict(obj["network"])
    else:
        state = dict(obj)
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad or not state:
        raise CheckpointError(f"{path} is not a state dict of tensors (offending entries: {bad[:5]})")
    non_finite = first_non_finite(state)
    if non_finite is not None:
        name, count, total = non_finite
        raise CheckpointError(f"{path} holds non-finite weights: {name} has {count} NaN or infinite value(s) of "
                              f"{total} (the first such tensor; a training run that diverged?): use an earlier "
                              "checkpoint of the run")
    return state


#: How a stage-0 file's missing 5th value-encoder input channel is filled: ``zeros`` (STCN's evaluation
#: scripts: the network then ignores the other objects' masks, as the stage-0 network did) or ``orthogonal``
#: (STCN's ``load_network`` before training: ``nn.init.orthogonal_``, drawn from torch's seeded generator).
STAGE0_CHANNEL_INITS = ("zeros", "orthogonal")


def convert_stage0(state: Dict[str, Tensor], fifth_channel: str = "zeros") -> Dict[str, Tensor]:
    """Stage-0 (single-object) weights have a 4-channel value-encoder input: add the 5th channel
    (:data:`STAGE0_CHANNEL_INITS`)."""
    if fifth_channel not in STAGE0_CHANNEL_INITS:
        raise ValueError(f"unknown stage-0 channel init {fifth_channel!r}; choose one of "
                         f"{', '.join(STAGE0_CHANNEL_INITS)}")
    weight = state.get(_STAGE0_KEY)
    if weight is not None and weight.ndim == 4 and weight.shape[1] == 4:
        state = dict(state)
        pad = torch.zeros_like(weight[:, :1])
        if fifth_channel == "orthogonal":
            torch.nn.init.orthogonal_(pad)
        state[_STAGE0_KEY] = torch.cat([weight, pad], 1)
    return state


def value_input_channels(path: str | os.PathLike) -> int:
    """Input channels of a weights file's value encoder: 4 in a stage-0 file, 5 in a multi-object one."""
    return int(extract_state_dict(read_weights_file(path), path)[_STAGE0_KEY].shape[1])


def single_object_state(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """A network trained on one object per clip written as STCN's stage-0 files are: without the value encoder's
    5th input channel (the other objects' masks, always empty in such training), which a later run from the file
    then initialises afresh (:func:`convert_stage0`)."""
    state = dict(state)
    state[_STAGE0_KEY] = state[_STAGE0_KEY][:, :4].contiguous()
    return state


def state_differences(own: Mapping[str, Tensor], state: Mapping[str, Tensor], shown: int = 6) -> List[str]:
    """Indented lines naming the missing keys, unexpected keys and shape mismatches of ``state`` against
    ``own`` (at most ``shown`` of each); empty when they fit."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    lines = []
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if items:
            listed = ", ".join(items[:shown]) + (f", ... ({len(items)} in all)" if len(items) > shown else "")
            lines.append(f"  {title}: {listed}")
    return lines


def check_compatible(net: torch.nn.Module, state: Mapping[str, Tensor], path: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` listing missing keys, unexpected keys and shape mismatches."""
    differences = state_differences(net.state_dict(), state)
    if not differences:
        return
    lines = [f"{path} does not fit this network ({type(net).__name__}):", *differences]
    try:
        arch = guess_architecture(state)
    except KeyError:
        arch = None
    if arch is not None:
        lines.append("  the file holds an STCN with " + ", ".join(f"{k}={v}" for k, v in arch.items()) +
                     " (model=stcn is the released layout; set model.net.* to match other files)")
    raise CheckpointError("\n".join(lines))


def read_network_state(path: str | os.PathLike, fifth_channel: str = "zeros") -> Dict[str, Tensor]:
    """The network state dict of any supported weights file, stage-0 files converted
    (:func:`convert_stage0`)."""
    return convert_stage0(extract_state_dict(read_weights_file(path), path), fifth_channel)


def load_state(net: STCN, state: Mapping[str, Tensor], path: str | os.PathLike) -> STCN:
    """Load ``state`` (read from ``path``) strictly, after a compatibility check with a readable error."""
    check_compatible(net, state, path)
    net.load_state_dict(state, strict=True)
    return net


def load_network_weights(net: STCN, path: str | os.PathLike) -> STCN:
    """Load a released STCN file, a stage-0 file, an original training checkpoint or one of ours (strict)."""
    return load_state(net, read_network_state(path), path)


def architecture_of(state: Mapping[str, Tensor], path: str | os.PathLike) -> Dict[str, object]:
    """:func:`guess_architecture` with an error naming the file when it is no STCN state dict."""
    try:
        return guess_architecture(state)
    except KeyError as error:
        raise CheckpointError(f"{path} is not an STCN checkpoint (it has no {error.args[0]})") from error


def load_imagenet_backbones(net: STCN, key_weights: Optional[str], value_weights: Optional[str]) -> STCN:
    """Initialise the encoders from local torchvision ImageNet files (nothing is downloaded).

    ``key_weights``: e.g. ``resnet50-19c8e357.pth`` (or ``resnet18-f37072fd.pth`` for ``stcn_small``);
    ``value_weights``: ``resnet18-f37072fd.pth``. Without a file the encoder keeps its random initialisation
    and a one-line warning says so.
    """
    key_state = extract_state_dict(read_weights_file(key_weights, "ImageNet key backbone")) if key_weights else None
    value_state = (extract_state_dict(read_weights_file(value_weights, "ImageNet value backbone"))
                   if value_weights else None)
    missing = [name for name, given in (("key", key_weights), ("value", value_weights)) if not given]
    if missing:
        log.warning("no ImageNet weights for the %s encoder (%s): random initialisation",
                    " and ".join(missing), ", ".join(f"model.imagenet.{name}" for name in missing))
    mapped = net.imagenet_state_dict(key_state, value_state)
    own = net.state_dict()
    for state, file, prefix in ((key_state, key_weights, "key_encoder."), (value_state, value_weights, "value_encoder.")):
        if state is None:
            continue
        wanted = [k for k in own if k.startswith(prefix) and not k.startswith(prefix + "fuser.")]
        absent = [k for k in wanted if k not in mapped or mapped[k].shape != own[k].shape]
        if absent:
            raise CheckpointError(f"{file} holds no torchvision ResNet weights that fit the {prefix[:-1]} "
                                  f"({len(absent)} of {len(wanted)} tensors missing or of another shape, "
                                  f"e.g. {absent[0]})")
    net.load_state_dict(mapped, strict=False)
    return net


def export_original(state_or_net: Mapping[str, Tensor] | torch.nn.Module, out: str | os.PathLike) -> Path:
    """Write a plain CPU state dict in the released STCN layout (atomically)."""
    state = state_or_net.state_dict() if isinstance(state_or_net, torch.nn.Module) else state_or_net
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    return atomic_save(state, out)


def atomic_save(obj, out: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``out``, then rename it into place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (identifies the checkpoint behind a result)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Where each size of the architecture can be read off a state dict: (tensor, dimension) pairs, the first
#: one decides a tie. The size most of them agree on is taken, so a file with one damaged tensor is reported
#: as that tensor's mismatch, not as mismatches of the healthy tensors of the size it misstates.
_SIZE_SOURCES: Dict[str, Sequence[Tuple[str, int]]] = {
    "key_dim": (("key_proj.key_proj.weight", 0), ("key_proj.key_proj.bias", 0)),
    "value_dim": (("key_comp.weight", 0), ("key_comp.bias", 0), ("value_encoder.fuser.block2.conv2.weight", 0),
                  ("value_encoder.fuser.block2.conv2.bias", 0)),
    "decoder_0": (("decoder.compress.conv1.weight", 0), ("decoder.compress.conv1.bias", 0),
                  ("decoder.compress.conv2.weight", 0), ("decoder.compress.conv2.bias", 0)),
    "decoder_1": (("decoder.up_16_8.out_conv.conv1.weight", 0), ("decoder.up_16_8.out_conv.conv1.bias", 0),
                  ("decoder.up_16_8.out_conv.conv2.weight", 0), ("decoder.up_8_4.skip_conv.weight", 0)),
    "decoder_2": (("decoder.up_8_4.out_conv.conv1.weight", 0), ("decoder.up_8_4.out_conv.conv1.bias", 0),
                  ("decoder.up_8_4.out_conv.conv2.weight", 0), ("decoder.pred.weight", 1)),
    "key_width": (("key_encoder.conv1.weight", 0), ("key_encoder.bn1.weight", 0), ("key_encoder.bn1.bias", 0),
                  ("key_encoder.bn1.running_mean", 0)),
    "value_width": (("value_encoder.conv1.weight", 0), ("value_encoder.conv1.bias", 0),
                    ("value_encoder.bn1.weight", 0), ("value_encoder.bn1.bias", 0)),
}


def _size(state: Mapping[str, Tensor], name: str) -> int:
    """The size ``name`` most of its source tensors agree on (:data:`_SIZE_SOURCES`); ``KeyError`` naming the
    first source when none is in ``state``."""
    sources = _SIZE_SOURCES[name]
    sizes = [int(state[k].shape[d]) for k, d in sources if k in state and state[k].ndim > d]
    if not sizes:
        raise KeyError(sources[0][0])
    return Counter(sizes).most_common(1)[0][0]  # ties: the first source's size comes first


def guess_architecture(state: Mapping[str, Tensor]) -> Dict[str, object]:
    """STCN constructor arguments that fit a state dict (key backbone, key/value widths, decoder widths)."""
    key_backbone = "resnet50" if "key_encoder.res2.0.conv3.weight" in state else "resnet18"
    return {
        "key_backbone": key_backbone,
        "key_dim": _size(state, "key_dim"),
        "value_dim": _size(state, "value_dim"),
        "decoder_dims": [_size(state, f"decoder_{i}") for i in range(3)],
        "key_width": _size(state, "key_width") if key_backbone == "resnet18" else 64,
        "value_width": _size(state, "value_width"),
    }


#: STCN's released files told apart by layout: the value encoder's input channels -> which files have it.
RELEASED_LAYOUTS: Dict[int, str] = {
    5: "STCN's s01, s03 or s012 layout (multi-object network, 5th value channel; STCN publishes no hash that "
       "tells them apart)",
    4: "STCN's stage-0 layout, s0 (4 value input channels; loaded with a zero 5th channel)",
}


def released_shapes() -> Dict[str, Tuple[int, ...]]:
    """Tensor name -> shape of STCN's released multi-object files: :class:`STCN`'s own state dict, equal by
    construction (built on the meta device: no memory, no initialisation)."""
    with torch.device("meta"):
        net = STCN()
    return {name: tuple(tensor.shape) for name, tensor in net.state_dict().items()}


def released_layout(state: Mapping[str, Tensor]) -> Optional[str]:
    """Which released STCN layout (:data:`RELEASED_LAYOUTS`) a state dict as read (before
    :func:`convert_stage0`) has: every tensor name and shape equal; ``None`` when it has none of them."""
    reference = released_shapes()
    if state.keys() != reference.keys():
        return None
    for channels, description in RELEASED_LAYOUTS.items():
        reference[_STAGE0_KEY] = (reference[_STAGE0_KEY][0], channels, *reference[_STAGE0_KEY][2:])
        if all(tuple(state[name].shape) == shape for name, shape in reference.items()):
            return description
    return None


def parameter_count(state: Mapping[str, Tensor], net: torch.nn.Module) -> int:
    """Values of ``state`` that are ``net``'s parameters (BatchNorm running statistics left out)."""
    return sum(state[name].numel() for name, _ in net.named_parameters())


#: The file in a training run's folder that says how the run stands: ``{"status": "running" | "interrupted" |
#: "finished", "step": ..., "max_steps": ..., "reason": ...}`` (written by :mod:`stcnbuf.runs.training_status`).
TRAINING_STATUS = "training.json"


def training_status(run_folder: str | os.PathLike) -> Optional[Dict[str, object]]:
    """The status record of a training run (:data:`TRAINING_STATUS`); ``None`` for a run that wrote none (one
    from before runs recorded it); a damaged record reads as ``{"status": "unreadable"}``."""
    path = Path(run_folder) / TRAINING_STATUS
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and isinstance(record.get("status"), str):
            return record
    except (OSError, ValueError):
        pass
    return {"status": "unreadable"}


def _unfinished(record: Mapping[str, object]) -> str:
    """How an unfinished run stands, e.g. ``interrupted at step 60 of 150 (SIGTERM)``."""
    if record["status"] == "running":  # no end recorded: it runs, or it was killed (SIGKILL, power loss)
        return f"running, or killed, since {record.get('at', '?')}"
    where = f" at step {record['step']} of {record.get('max_steps')}" if "step" in record else ""
    reason = f" ({record['reason']})" if record.get("reason") else ""
    return f"{record['status']}{where}{reason}"


def find_checkpoint(checkpoint: Optional[str | os.PathLike], log_dir: str | os.PathLike) -> str:
    """``checkpoint``, or else the newest checkpoint of a finished ``python train.py`` run under ``log_dir/train``.

    A run that is interrupted (killed, stopped by a signal, failed) or still running is passed over, and so
    said; a run from before runs recorded their status (:data:`TRAINING_STATUS`) counts as finished.
    """
    if checkpoint:
        return str(checkpoint)
    runs = Path(log_dir) / "train"
    found = sorted(runs.glob("**/checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime) if runs.is_dir() else []
    skipped: Dict[Path, str] = {}
    for candidate in reversed(found):
        run = candidate.parent.parent
        record = training_status(run)
        if record is not None and record["status"] != "finished":
            skipped[run] = _unfinished(record)
            continue
        passed = (f"; passed over the checkpoints of {len(skipped)} unfinished run(s): "
                  + "; ".join(f"{r} ({why})" for r, why in skipped.items())) if skipped else ""
        why = "finished training run" if record is not None else "training run (one that records no status)"
        log.warning("model.checkpoint not set: using %s, the newest checkpoint of a %s%s", candidate, why, passed)
        return str(candidate)
    if skipped:
        unfinished = "; ".join(f"{r} ({why})" for r, why in skipped.items())
        raise FileNotFoundError(f"no checkpoint given, and every training run under {runs} is unfinished: "
                                f"{unfinished}. Continue one (python train.py output_dir=RUN), or set "
                                "model.checkpoint=FILE to use one of its checkpoints as it is")
    raise FileNotFoundError("no checkpoint given: set model.checkpoint=FILE (a released STCN stcn.pth, a "
                            f"stage-0 file or one of ours), or train one with `python train.py` (looked in {runs})")
