"""Generate a synthetic dataset (or find it already generated) and print its folder.

    python -m stcnbuf.lab.synthetic {default,transfer,long} --root DIR [--seed N --height H --width W ...]

Each generator takes ``--root`` and one option per parameter (``SUBCOMMAND --help`` lists them); the dataset goes
into ``ROOT/<name>-<key>``, where the key is a hash of the parameters, as when a config generates it on first use.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

from stcnbuf.lab.synthetic import default, long, transfer
from stcnbuf.lab.synthetic.config import GeneratorConfig


class Generator(NamedTuple):
    """A generator as the command line offers it."""

    config: type                                        # its GeneratorConfig dataclass
    ensure: Callable[[GeneratorConfig, Path], Path]     # generates into (or finds in) a data folder
    folder: str                                         # the dataset's folder name before ``-<key>``
    about: str                                          # its module's docstring


GENERATORS: Dict[str, Generator] = {
    "default": Generator(default.SyntheticConfig, default.ensure_synthetic_dataset, default.FOLDER, default.__doc__),
    "transfer": Generator(transfer.TransferConfig, transfer.ensure_transfer_dataset, transfer.FOLDER, transfer.__doc__),
    "long": Generator(long.LongSyntheticConfig, long.ensure_long_dataset, long.FOLDER, long.__doc__),
}


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per generator with ``--root`` and an option per parameter (several values for a tuple)."""
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.lab.synthetic", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="generator", required=True)
    for name, generator in GENERATORS.items():
        about = generator.about.split("\n\n")[0]
        command = commands.add_parser(name, help=about.split(":")[0], description=about)
        command.add_argument("--root", required=True, type=Path,
                             help=f"data folder; the dataset goes into ROOT/{generator.folder}-<key>")
        defaults = generator.config()
        for field in dataclasses.fields(generator.config):
            value = getattr(defaults, field.name)
            several = isinstance(value, tuple)
            command.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=value,
                                 nargs="+" if several else None,
                                 help=f"(default {' '.join(map(str, value)) if several else value})")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    generator = GENERATORS[args.generator]
    config = generator.config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(generator.config)})
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(generator.ensure(config, args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
