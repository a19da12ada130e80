"""What the generators' parameter dataclasses share: integer checks, their JSON form and the key that names their
dataset's folder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Dict, Optional, Sequence

import numpy as np


def parameters_key(parameters: dict) -> str:
    """A short stable hash of generator parameters: sha1 of their sorted JSON, 10 hex digits."""
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:10]


class GeneratorConfig:
    """Base of a generator's frozen parameter dataclass; every field goes into :meth:`key` and the metadata file."""

    def check_ints(self, names: Optional[Sequence[str]] = None) -> None:
        """Refuse fields ``names`` (default: every field) that are not ints, and a negative ``seed``."""
        for name in names if names is not None else [f.name for f in dataclasses.fields(self)]:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise TypeError(f"{type(self).__name__}.{name} must be an int, got {value!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")

    def as_dict(self) -> Dict[str, object]:
        """The parameters as JSON values."""
        return {f.name: int(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def key(self) -> str:
        """A short stable hash of every parameter (see :func:`parameters_key`)."""
        return parameters_key(self.as_dict())
