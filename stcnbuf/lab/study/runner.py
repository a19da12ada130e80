"""Running the study: each run not finished yet as an ``stcnbuf-eval`` process of its own, its output in a log
file, the machine the runs ran on recorded beside them."""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Dict, List, Optional, Sequence

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


def child_environment(jobs: int) -> Optional[Dict[str, str]]:
    """The environment of the runs when ``jobs`` run at once: each gets its share of the cores as torch's
    threads (``OMP_NUM_THREADS``), unless the caller set that; ``None`` (inherit) for one job at a time."""
    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    threads = max(1, (os.cpu_count() or 1) // jobs)
    log.info("%d runs at once, %d torch thread%s each (set OMP_NUM_THREADS to choose)", jobs, threads,
             "" if threads == 1 else "s")
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


def run_study(runs: Sequence[StudyRun], runs_dir: Path, data: str, common: Sequence[str], jobs: int = 1) -> List[str]:
    """Run every study run not yet finished under ``runs_dir`` on ``data`` (a data config), with the overrides
    ``common`` before its own (``stcnbuf-eval`` in a process of its own, its output in ``runs_dir/logs/<run>.txt``),
    ``jobs`` processes at a time; returns the names of runs that failed."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    logs = runs_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = [run for run in runs if not finished(runs_dir / run.name)]
    if not pending:
        return []
    environment = child_environment(jobs)
    info = machine_info("cuda" if any(c == "device=cuda" for c in common) else "cpu")
    if environment is not None:
        info["torch_threads"] = int(environment["OMP_NUM_THREADS"])   # each run's, not this process's
    line = machine_line(info) + (f", {jobs} runs at once" if jobs > 1 else "")
    recorded = recorded_machine(runs_dir)
    if recorded and line not in recorded:
        log.warning("earlier runs in %s ran on %s; these run on %s", runs_dir, recorded, line)
        line = f"{recorded}; later runs: {line}"
    atomic_write_text(runs_dir / MACHINE_FILE, line + "\n")
    evaluate = console_script("stcnbuf-eval")

    def run_one(run: StudyRun) -> bool:
        folder = runs_dir / run.name
        command = [evaluate, f"data={data}", *common, *run.overrides(), f"output_dir={folder}"]
        with open(logs / f"{run.name}.txt", "w") as stream:
            stream.write(" ".join(shlex.quote(c) for c in command) + "\n")
            stream.flush()
            code = subprocess.call(command, stdout=stream, stderr=subprocess.STDOUT, env=environment)
        if code != 0 or not finished(folder):
            log.error("study run %s failed (exit %s): see %s", run.name, code, logs / f"{run.name}.txt")
            return False
        return True

    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool, tqdm(total=len(runs), initial=len(runs) - len(pending),
                                                            desc="study", unit="run") as bar:
        futures = {pool.submit(run_one, run): run.name for run in pending}
        for future in as_completed(futures):
            if not future.result():
                failed.append(futures[future])
            bar.update()
    return [run.name for run in pending if run.name in failed]
