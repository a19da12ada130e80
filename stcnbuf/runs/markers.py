"""Made-from markers: a small file beside a derived output recording what it was made from."""

from __future__ import annotations

from pathlib import Path

from stcnbuf.io.atomic import atomic_write_text


class MadeFrom:
    """The marker ``path``: :meth:`matches` tells whether the output beside it was made from ``source``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> str | None:
        """The recorded source; ``None`` when there is no marker or an unreadable one (its output is redone)."""
        try:
            return self.path.read_text(encoding="utf-8") if self.path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None

    def matches(self, source: str) -> bool:
        return self.read() == source

    def write(self, source: str) -> None:
        atomic_write_text(self.path, source)
