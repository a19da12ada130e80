"""STCN's per-frame networks as ONNX files, and a network that runs them with onnxruntime.

:func:`export_onnx` writes ``encode_key.onnx``, ``encode_value.onnx`` and ``decode.onnx`` (dynamic frame size,
multiples of 16, and dynamic object count). :class:`OnnxNetwork` runs them behind STCN's three methods, so the
project's :class:`~stcnbuf.engine.Segmenter` (memory bank, schedule, plans) drives them unchanged::

    export_onnx(net, "onnx/")
    segmenter = Segmenter(OnnxNetwork("onnx/"), MemoryBank("random_pixel", capacity=8), channels_last=False)

Needs ``pip install -e '.[onnx]'`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from stcnbuf.engine.model.stcn import STCN

#: file stem -> (input names, output names)
SIGNATURES: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "encode_key": (("frames",), ("k16", "f16_thin", "f16", "f8", "f4")),
    "encode_value": (("frames", "f16", "masks"), ("values",)),
    "decode": (("readout", "f16_thin", "f8", "f4"), ("logits",)),
}


class _Method(nn.Module):
    """One of STCN's methods as a module's ``forward`` (what the exporter traces)."""

    def __init__(self, net: STCN, name: str) -> None:
        super().__init__()
        self.net, self.name = net, name

    def forward(self, *inputs: Tensor):
        return getattr(self.net, self.name)(*inputs)


def _examples(net: STCN, height: int, width: int, objects: int) -> Dict[str, Tuple[Tensor, ...]]:
    frames = torch.randn(1, 3, height, width)
    with torch.no_grad():
        k16, f16_thin, f16, f8, f4 = net.encode_key(frames)
        readout = torch.randn(1, objects, net.value_dim, *k16.shape[-2:])
    return {"encode_key": (frames,), "encode_value": (frames, f16, torch.rand(1, objects, height, width)),
            "decode": (readout, f16_thin, f8, f4)}


def _dynamic_shapes(name: str) -> Tuple[Dict[int, object], ...]:
    h, w = torch.export.Dim("h16", min=1, max=1024), torch.export.Dim("w16", min=1, max=1024)
    k = torch.export.Dim("objects", min=1, max=254)
    full = {2: 16 * h, 3: 16 * w}
    return {"encode_key": (full,),
            "encode_value": (full, {2: h, 3: w}, {1: k, **full}),
            "decode": ({1: k, 3: h, 4: w}, {2: h, 3: w}, {2: 2 * h, 3: 2 * w}, {2: 4 * h, 3: 4 * w})}[name]


def export_onnx(net: STCN, folder: str | Path, height: int = 480, width: int = 864, objects: int = 2) -> Dict[str, Path]:
    """Write the three networks of ``net`` into ``folder`` (example size ``height×width``, multiples of 16;
    any size and object count run afterwards); returns their paths."""
    if height % 16 or width % 16:
        raise ValueError(f"the example size {height}×{width} must be a multiple of 16")
    net = net.eval().cpu()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    examples, paths = _examples(net, height, width, max(objects, 2)), {}
    for name, (inputs, outputs) in SIGNATURES.items():
        with warnings.catch_warnings():  # the exporter's notes on how it names the dynamic axes
            warnings.filterwarnings("ignore", message="# The axis name")
            program = torch.onnx.export(_Method(net, name).eval(), examples[name], dynamo=True,
                                        input_names=list(inputs), output_names=list(outputs),
                                        dynamic_shapes=(_dynamic_shapes(name),), verbose=False)
        paths[name] = folder / f"{name}.onnx"
        program.save(str(paths[name]))
    return paths


class OnnxNetwork:
    """The ONNX files of :func:`export_onnx`, run by onnxruntime behind STCN's ``encode_key``, ``encode_value``
    and ``decode`` (torch tensors in and out, on the CPU)."""

    def __init__(self, folder: str | Path, providers: Optional[Sequence[str]] = None) -> None:
        import onnxruntime

        folder = Path(folder)
        missing = [f"{name}.onnx" for name in SIGNATURES if not (folder / f"{name}.onnx").is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}: write them with "
                                    "python -m stcnbuf.apps.export onnx CHECKPOINT FOLDER")
        providers = list(providers or ["CPUExecutionProvider"])
        self.sessions = {name: onnxruntime.InferenceSession(str(folder / f"{name}.onnx"), providers=providers)
                         for name in SIGNATURES}

    def _run(self, name: str, *inputs: Tensor) -> Tuple[Tensor, ...]:
        feed = {key: t.detach().float().contiguous().cpu().numpy() for key, t in zip(SIGNATURES[name][0], inputs)}
        return tuple(torch.from_numpy(np.asarray(out)) for out in self.sessions[name].run(None, feed))

    def encode_key(self, frames: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return self._run("encode_key", frames)  # type: ignore[return-value]

    def encode_value(self, frames: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
        return self._run("encode_value", frames, f16, masks)[0]

    def decode(self, readout: Tensor, f16_thin: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        return self._run("decode", readout, f16_thin, f8, f4)[0]

    def to(self, *args, **kwargs) -> "OnnxNetwork":
        """Kept on onnxruntime's device (what the segmenter's ``.to(device)`` meets)."""
        return self

    def eval(self) -> "OnnxNetwork":
        return self
