"""The embedded default dataset: the synthetic generator's output read as DAVIS 2017."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from stcnbuf.datasets.davis import DavisDataset
from stcnbuf.lab.synthetic.default import SyntheticConfig, ensure_synthetic_dataset


class SyntheticDataset(DavisDataset):
    """Generates the synthetic videos into ``data_dir`` on first use (keyed by the generator parameters),
    then reads them as a DAVIS 2017 set. Splits: ``train``, ``val``, ``long``."""

    def __init__(self, data_dir: str | Path, split: str = "val", sequences: Optional[Sequence[str]] = None,
                 shorter_side: Optional[int] = None, resize: str = "stcn", **generator: int) -> None:
        self.config = SyntheticConfig(**generator)
        root = ensure_synthetic_dataset(self.config, Path(data_dir).expanduser())
        super().__init__(root, year=2017, split=split, sequences=sequences, shorter_side=shorter_side, resize=resize)
        self.name = "synthetic"
