"""The installed console scripts that lab tools start as processes of their own."""

from __future__ import annotations

import shutil
import sysconfig


def console_script(name: str) -> str:
    """The path of the console script ``name`` (e.g. ``stcnbuf-eval``): the one installed beside the running
    interpreter's packages, else the first on ``PATH``."""
    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed with this interpreter nor on PATH (pip install -e .)")
    return found
