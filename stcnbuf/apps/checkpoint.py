"""``stcnbuf-checkpoint`` (``python -m stcnbuf.apps.checkpoint``): what a weights file holds, and its export in
the original STCN format.

    stcnbuf-checkpoint inspect FILE          # tensors, parameters, architecture, released file, sha256
    stcnbuf-checkpoint export IN OUT.pth     # the original STCN format (plain CPU state dict)
"""

from __future__ import annotations

import argparse
from typing import List, Optional

from stcnbuf.engine.checkpoint import (CheckpointError, architecture_of, check_compatible, convert_stage0,
                                       export_original, extract_state_dict, file_sha256, parameter_count,
                                       read_network_state, read_weights_file, released_layout)
from stcnbuf.engine.model.stcn import STCN

NO_RELEASED_LAYOUT = "none (tensor names or shapes differ from STCN's released files)"


def inspect(path: str) -> None:
    """Print what a weights file holds, the architecture it fits, the released STCN file it matches and its
    sha256."""
    stored = extract_state_dict(read_weights_file(path), path)
    state = convert_stage0(stored)
    arch = architecture_of(state, path)
    net = STCN(**arch)
    check_compatible(net, state, path)
    print(f"{path}: {len(stored)} tensors, {parameter_count(stored, net):,} parameters "
          f"({sum(v.numel() for v in stored.values()):,} values with the BatchNorm statistics)")
    print(f"architecture: {arch}")
    print(f"released file: {released_layout(stored) or NO_RELEASED_LAYOUT}")
    print(f"sha256: {file_sha256(path)}")


def export(source: str, out: str) -> None:
    """Write ``source`` (any weights file) as ``out`` in the original STCN format."""
    state = read_network_state(source)
    check_compatible(STCN(**architecture_of(state, source)), state, source)
    export_original(state, out)
    print(f"wrote {out} ({len(state)} tensors, original STCN layout)")


def main(argv: Optional[List[str]] = None) -> None:
    """``stcnbuf-checkpoint``: inspect a weights file, or export it in the original STCN format."""
    parser = argparse.ArgumentParser(prog="stcnbuf-checkpoint", description=" ".join(__doc__.split("\n\n")[0].split()))
    sub = parser.add_subparsers(dest="command", required=True)
    p_inspect = sub.add_parser("inspect", help="describe a weights file")
    p_inspect.add_argument("file")
    p_export = sub.add_parser("export", help="write a checkpoint in the original STCN format")
    p_export.add_argument("source")
    p_export.add_argument("out")
    args = parser.parse_args(argv)
    try:
        if args.command == "inspect":
            inspect(args.file)
        else:
            export(args.source, args.out)
    except CheckpointError as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
