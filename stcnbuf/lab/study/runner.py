"""Running the study: each run not finished yet as an ``stcnbuf-eval`` process of its own, its output in a log
file, the machine the runs ran on recorded beside them."""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
from pathlib import Path
from typing import List, Optional, Sequence

from tqdm import tqdm

from stcnbuf.io.atomic import atomic_write_text
from stcnbuf.lab.bench.machine import machine_info, machine_line
from stcnbuf.lab.scripts import console_script
from stcnbuf.lab.study.runs import StudyRun

log = logging.getLogger(__name__)

MACHINE_FILE = "machine.txt"      # the CPU or GPU the runs ran on (written when runs are made)


def finished(folder: Path) -> bool:
    """The run in ``folder`` completed (its ``metrics.json`` says so)."""
    try:
        return bool(json.loads((folder / "metrics.json").read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def recorded_machine(runs_dir: Path) -> Optional[str]:
    """The machine line recorded in ``runs_dir``, if any."""
    try:
        return (runs_dir / MACHINE_FILE).read_text().strip()
    except OSError:
        return None


def run_study(runs: Sequence[StudyRun], runs_dir: Path, data: str, common: Sequence[str]) -> List[str]:
    """Run every study run not yet finished under ``runs_dir`` on ``data`` (a data config), with the overrides
    ``common`` before its own (``stcnbuf-eval`` in a process of its own, its output in ``runs_dir/logs/<run>.txt``);
    returns the names of runs that failed."""
    logs = runs_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if all(finished(runs_dir / run.name) for run in runs):
        return []
    line = machine_line(machine_info("cuda" if any(c == "device=cuda" for c in common) else "cpu"))
    recorded = recorded_machine(runs_dir)
    if recorded and line not in recorded:
        log.warning("earlier runs in %s ran on %s; these run on %s", runs_dir, recorded, line)
        line = f"{recorded}; later runs: {line}"
    atomic_write_text(runs_dir / MACHINE_FILE, line + "\n")
    evaluate = console_script("stcnbuf-eval")
    failed = []
    for run in tqdm(runs, desc="study", unit="run"):
        folder = runs_dir / run.name
        if finished(folder):
            continue
        command = [evaluate, f"data={data}", *common, *run.overrides(), f"output_dir={folder}"]
        with open(logs / f"{run.name}.txt", "w") as stream:
            stream.write(" ".join(shlex.quote(c) for c in command) + "\n")
            stream.flush()
            code = subprocess.call(command, stdout=stream, stderr=subprocess.STDOUT)
        if code != 0 or not finished(folder):
            log.error("study run %s failed (exit %s): see %s", run.name, code, logs / f"{run.name}.txt")
            failed.append(run.name)
    return failed
