"""Made-from markers: a small file beside a derived output recording what it was made from."""

from __future__ import annotations

from pathlib import Path

from stcnbuf.io.atomic import atomic_write_text


class MadeFrom:
    """The marker ``path``: :meth:`matches` tells whether the output beside it was made from ``source``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> str | None:
        return self.path.read_text() if self.path.is_file() else None

    def matches(self, source: str) -> bool:
        return self.read() == source

    def write(self, source: str) -> None:
        atomic_write_text(self.path, source)
