"""The buffer study on long videos: replacement policy × capacity, then burn-in passes × order and ablations of
burn-in (every frame segmented; its entries weighted down, evicted first, or kept only where confident), each
run an ``eval.py`` run of its own (resumable), summarised into a table and plots.

    python -m stcnbuf.lab.study --out docs/study/long_buffer -- model=stcn_small model.checkpoint=CKPT

Everything after ``--`` goes to every run (the data defaults to ``data=synthetic_long``; any other data
config works, e.g. ``data=lvos data.root=...``). The runs' folders go into ``--runs`` (default ``OUT/runs``),
with each run's output in ``<runs>/logs/<run>.txt``; runs already finished there are kept: running the command
again finishes an interrupted study, and ``--summary-only`` rebuilds the table and plots alone.

Written into ``OUT``: ``study.csv`` (one row per run), ``study.md`` (the tables, the machine, the command),
``capacity.png`` (J&F, J&F of the object that is away longer than the buffer spans and of the one that
enters late, fps and peak memory against capacity, a line per policy, the unbounded memory dashed, with the
ring dotted),
``over_time.png`` (J&F per tenth of the videos) and ``burn_in.png`` (J&F per burn-in setting).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from stcnbuf.lab.synthetic.long import EVENTS
from stcnbuf.io.atomic import atomic_write, atomic_write_text
from stcnbuf.engine.memory import check_burn_in_settings

log = logging.getLogger(__name__)

#: memory configs of the bounded policies (configs/memory/<name>.yaml) and the policy each one names
BOUNDED = {"buffer": "random_pixel", "random_frame": "random_frame", "fifo": "fifo", "reservoir": "reservoir"}
CAPACITIES = (4, 8, 16, 32, 64)
RANDOM = ("random_pixel", "random_frame", "reservoir")   # the policies whose choices depend on memory.seed
ORDERS = ("none", "random", "reverse", "strided")
MACHINE_FILE = "machine.txt"      # the CPU or GPU the runs ran on (written when runs are made)
PASSES = (1, 2)


@dataclass(frozen=True)
class StudyRun:
    """One run of the study: its folder name, its group and the overrides that define it."""

    name: str
    group: str          # "policy" (online, no burn-in) or "burn_in" (offline)
    policy: str
    capacity: Optional[int]
    passes: int
    order: Optional[str]
    seed: int = 0       # memory.seed: the random choices of the random policies
    every_frame: bool = False   # inference.burn_in_every_frame: burn-in segments every frame, with the ring
    treatment: Optional[str] = None   # how burn-in entries are treated in memory: a name of ``treatments()``
    treatment_overrides: Tuple[str, ...] = ()
    ring: Optional[int] = None  # memory.temp_size where it differs from the memory config's

    def overrides(self) -> List[str]:
        memory = next((config for config, policy in BOUNDED.items() if policy == self.policy), self.policy)
        result = [f"memory={memory}"] + ([f"memory.capacity={self.capacity}"] if self.capacity else [])
        result += [f"memory.seed={self.seed}"] if self.seed else []
        result += [f"memory.temp_size={self.ring}"] if self.ring is not None else []
        if self.group == "policy":
            return result + ["inference=online"]
        result += ["inference=offline", f"inference.burn_in_passes={self.passes}", f"inference.order={self.order}"]
        result += ["inference.burn_in_every_frame=true"] if self.every_frame else []
        return result + list(self.treatment_overrides)


TREATMENTS = ("weight", "evict_first", "confident")


def treatments(weight: float = 0.5, confidence: float = 0.9,
               kinds: Sequence[str] = TREATMENTS) -> Dict[str, Tuple[str, ...]]:
    """The ablations of what burn-in writes, each name with the memory overrides that apply it: ``weight``
    (entries read with a lower weight), ``evict_first`` (replaced before any other), ``confident`` (readable
    only where the prediction is at least ``confidence`` sure)."""
    unknown = [k for k in kinds if k not in TREATMENTS]
    if unknown:
        raise ValueError(f"unknown burn-in treatments {unknown}; choose from {', '.join(TREATMENTS)}")
    check_burn_in_settings(weight, confidence)
    every = {"weight": (f"weight{weight:g}", (f"memory.burn_in_weight={weight:g}",)),
             "evict_first": ("evict_first", ("memory.burn_in_evict_first=true",)),
             "confident": (f"confident{confidence:g}", (f"memory.burn_in_confidence={confidence:g}",))}
    return dict(every[k] for k in kinds)


def study_runs(policies: Sequence[str] = tuple(BOUNDED.values()), capacities: Sequence[int] = CAPACITIES,
               burn_in_policies: Sequence[str] = ("random_pixel",), reference_capacity: int = 16,
               passes: Sequence[int] = PASSES, orders: Sequence[str] = ORDERS,
               unbounded: bool = True, seeds: Sequence[int] = (),
               every_frame_orders: Sequence[str] = ("none", "strided"),
               treatment_orders: Sequence[str] = ("none", "strided"),
               burn_in_treatments: Optional[Dict[str, Tuple[str, ...]]] = None) -> List[StudyRun]:
    """The runs of the study: every bounded policy at every capacity online, the unbounded memory online
    without and with the bounded policies' one-frame ring (which separates what the ring does from what the
    memory keeps), then every burn-in policy at ``reference_capacity`` with every number of passes and order; and, for the
    spread of the random policies, each of them online at ``reference_capacity`` with every other memory seed
    of ``seeds``; one burn-in pass that segments every frame (with the ring) in each of
    ``every_frame_orders``, which tells whether sparse, ring-less burn-in is what costs; and one burn-in pass
    in each of ``treatment_orders`` under each of ``burn_in_treatments`` (default :func:`treatments`), which
    tells whether it is what burn-in writes."""
    unknown = [p for p in (*policies, *burn_in_policies) if p not in BOUNDED.values()]
    if unknown:
        raise ValueError(f"unknown bounded policies {unknown}; choose from {', '.join(BOUNDED.values())}")
    bad_orders = [o for o in (*orders, *every_frame_orders, *treatment_orders) if o not in ORDERS]
    if bad_orders:
        raise ValueError(f"unknown burn-in orders {bad_orders}; choose from {', '.join(ORDERS)}")
    burn_in_treatments = treatments() if burn_in_treatments is None else burn_in_treatments
    runs = [StudyRun(f"{p}-c{c}", "policy", p, int(c), 0, None) for p in policies for c in capacities]
    runs += [StudyRun(f"{p}-c{reference_capacity}-seed{seed}", "policy", p, int(reference_capacity), 0, None, int(seed))
             for p in policies if p in RANDOM for seed in seeds if seed]
    if unbounded:
        runs += [StudyRun("unbounded", "policy", "unbounded", None, 0, None),
                 StudyRun("unbounded-ring", "policy", "unbounded", None, 0, None, ring=1)]
    runs += [StudyRun(f"{p}-c{reference_capacity}-burn{n}-{o}", "burn_in", p, int(reference_capacity), int(n), o)
             for p in burn_in_policies for n in passes for o in orders]
    runs += [StudyRun(f"{p}-c{reference_capacity}-burn1-{o}-every", "burn_in", p, int(reference_capacity), 1, o,
                      every_frame=True) for p in burn_in_policies for o in every_frame_orders]
    runs += [StudyRun(f"{p}-c{reference_capacity}-burn1-{o}-{name}", "burn_in", p, int(reference_capacity), 1, o,
                      treatment=name, treatment_overrides=tuple(overrides))
             for p in burn_in_policies for name, overrides in burn_in_treatments.items() for o in treatment_orders]
    return runs


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _finished(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / "metrics.json").read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def run_study(runs: Sequence[StudyRun], runs_dir: Path, common: Sequence[str]) -> List[str]:
    """Run every study run not yet finished under ``runs_dir`` (``eval.py`` in a process of its own, its
    output in ``runs_dir/logs/<run>.txt``); returns the names of runs that failed."""
    from stcnbuf.lab.bench.machine import machine_info, machine_line

    logs = runs_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = [run for run in runs if not _finished(runs_dir / run.name)]
    if pending:
        line = machine_line(machine_info("cuda" if any(c == "device=cuda" for c in common) else "cpu"))
        recorded = _read(runs_dir / MACHINE_FILE)
        if recorded and line not in recorded:
            log.warning("earlier runs in %s ran on %s; these run on %s", runs_dir, recorded, line)
            line = f"{recorded}; later runs: {line}"
        atomic_write_text(runs_dir / MACHINE_FILE, line + "\n")
    failed = []
    for run in tqdm(runs, desc="study", unit="run"):
        folder = runs_dir / run.name
        if _finished(folder):
            continue
        command = [sys.executable, "-c", "from stcnbuf.apps.cli import evaluate; evaluate()",
                   "data=synthetic_long", *common, *run.overrides(), f"output_dir={folder}"]
        with open(logs / f"{run.name}.txt", "w") as stream:
            stream.write(" ".join(shlex.quote(c) for c in command) + "\n")
            stream.flush()
            code = subprocess.call(command, stdout=stream, stderr=subprocess.STDOUT)
        if code != 0 or not _finished(folder):
            log.error("study run %s failed (exit %s): see %s", run.name, code, logs / f"{run.name}.txt")
            failed.append(run.name)
    return failed


def _object_scores(folder: Path) -> Dict[int, float]:
    """Mean J&F of each object id over the sequences of a run (its ``per-sequence_results-<set>.csv``: rows
    ``<seq>_<id>``)."""
    scores: Dict[int, List[float]] = {}
    found = sorted(folder.glob("per-sequence_results-*.csv"))
    if not found:
        return {}
    path = found[0]
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            name, _, oid = row["Sequence"].rpartition("_")
            if name and oid.isdigit():
                scores.setdefault(int(oid), []).append((float(row["J-Mean"]) + float(row["F-Mean"])) / 2)
    return {oid: sum(v) / len(v) for oid, v in scores.items()}


def collect(runs: Sequence[StudyRun], runs_dir: Path) -> List[Dict[str, Any]]:
    """One row per finished run: its settings, J&F, the J&F of each event's object, fps, peak memory and
    the J&F per tenth."""
    rows = []
    for run in runs:
        folder = runs_dir / run.name
        if not _finished(folder):
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        objects = _object_scores(folder) if metrics.get("dataset") == "synthetic_long" else {}  # ids = events
        rows.append({"run": run.name, "group": run.group, "policy": run.policy, "capacity": run.capacity,
                     "burn_in_passes": run.passes, "order": run.order, "seed": run.seed,
                     "ring": (metrics.get("config") or {}).get("memory", {}).get("temp_size"),
                     "every_frame": run.every_frame if run.group == "burn_in" else None,
                     "treatment": run.treatment,
                     "dataset": metrics.get("dataset"), "sequences": metrics.get("sequences"),
                     "video_frames": (metrics.get("frames") or 0) - (metrics.get("burn_in_frames") or 0),
                     "J&F": _percent(metrics.get("J&F-Mean")), "J": _percent(metrics.get("J-Mean")),
                     "F": _percent(metrics.get("F-Mean")),
                     **{f"J&F {event}": _percent(objects.get(i + 1)) for i, event in enumerate(EVENTS)},
                     "fps": metrics.get("fps"), "peak_memory_mb": metrics.get("peak_memory_mb"),
                     "J&F-by-tenth": [_percent(v) for v in metrics.get("J&F-by-tenth") or []]})
    return rows


def _percent(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(100.0 * float(value), 2)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _markdown(rows: List[Dict[str, Any]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_summary(runs: Sequence[StudyRun], out: Path, runs_dir: Path, command: str) -> Optional[Path]:
    """``study.csv``, ``study.md`` and the plots in ``out`` for the runs finished in ``runs_dir``; returns the
    Markdown path."""
    rows = collect(runs, runs_dir)
    if not rows:
        log.warning("no finished study runs under %s", runs_dir)
        return None
    out.mkdir(parents=True, exist_ok=True)
    flat = [{k: v for k, v in r.items() if k != "J&F-by-tenth"} for r in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat[0]) + ["J&F-by-tenth"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({**f, "J&F-by-tenth": " ".join(_cell(v) for v in r["J&F-by-tenth"])} for f, r in zip(flat, rows))
    atomic_write_text(out / "study.csv", buffer.getvalue())
    events = [e for e in (f"J&F {e}" for e in EVENTS) if any(r[e] is not None for r in flat)]
    policy_rows = [r for r in flat if r["group"] == "policy"]
    burn_rows = [r for r in flat if r["group"] == "burn_in"]
    datasets = ", ".join(sorted({f"{r['dataset']} ({r['sequences']} sequences, {r['video_frames']} frames)"
                                 for r in flat}))
    text = ["# Buffer study", "",
            f"Command: `{command}`", "",
            f"Data: {datasets}", "",
            f"Machine: {_read(runs_dir / MACHINE_FILE) or 'not recorded'}", "",
            "J&F in %" + ("; `J&F <event>` is the J&F of the object given that event (see "
                          "stcnbuf/lab/synthetic/long.py: absence = away longer than capacity x mem_every, drift = slow "
                          "colour change, abrupt = sudden colour change, late = enters late and leaves)." if events
                          else "."), ""]
    if policy_rows:
        text += ["## Policy x capacity (online, no burn-in)", "",
                 _markdown(policy_rows, ["policy", "capacity", "ring", "seed", "J&F", "J", "F", *events, "fps",
                                         "peak_memory_mb"])]
    if burn_rows:
        text += ["## Burn-in passes x order (offline)", "",
                 _markdown(burn_rows, ["policy", "capacity", "burn_in_passes", "order", "every_frame", "treatment", "J&F",
                                       *events, "fps", "peak_memory_mb"])]
    text += ["## J&F per tenth of the videos", "",
             _markdown([{"run": r["run"], **{f"{i + 1}": v for i, v in enumerate(r["J&F-by-tenth"])}} for r in rows],
                       ["run", *[str(i + 1) for i in range(10)]])]
    atomic_write_text(out / "study.md", "\n".join(text))
    plot_study(rows, out)
    return out / "study.md"


def plot_study(rows: List[Dict[str, Any]], out: Path) -> None:
    """``capacity.png``, ``over_time.png`` and (with burn-in runs) ``burn_in.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policy_rows = [r for r in rows if r["group"] == "policy"]
    unbounded = [(r, style, label) for r in policy_rows if r["policy"] == "unbounded"
                 for style, label in [("--", "unbounded") if not r["ring"] else (":", "unbounded + ring")]]
    panels = [("J&F", "J&F (%)"), ("J&F absence", "J&F, object away longer than the buffer (%)"),
              ("J&F late", "J&F, object that enters late (%)"), ("fps", "frames per second"),
              ("peak_memory_mb", "peak memory (MiB)")]
    panels = [(key, label) for key, label in panels  # an event's panel only where the data has the events
              if not key.startswith("J&F ") or any(r[key] is not None for r in policy_rows)]
    capacities = sorted({r["capacity"] for r in policy_rows if r["capacity"]})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.8))
    for ax, (key, label) in zip(axes, panels):
        for policy in BOUNDED.values():
            points = sorted((r["capacity"], r[key]) for r in policy_rows
                            if r["policy"] == policy and r[key] is not None and not r["seed"])
            if points:
                line, = ax.plot(*zip(*points), marker="o", label=policy)
                others = [(r["capacity"], r[key]) for r in policy_rows
                          if r["policy"] == policy and r[key] is not None and r["seed"]]
                if others:  # the same settings with other memory seeds
                    ax.scatter(*zip(*others), marker="x", color=line.get_color())
        for r, style, name in unbounded:
            if r[key] is not None:
                ax.axhline(r[key], color="k", linestyle=style, label=name)
        ax.set_xscale("log", base=2)
        ax.set_xticks(capacities, [str(c) for c in capacities])
        ax.minorticks_off()
        ax.set(xlabel="capacity (frames)", ylabel=label)
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.suptitle("Replacement policy x capacity, online")
    fig.tight_layout()
    atomic_write(out / "capacity.png", lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)

    middle = capacities[len(capacities) // 2] if capacities else None
    shown = [r for r in policy_rows if r["capacity"] in (middle, None) and not r["seed"]]
    burn = [r for r in rows if r["group"] == "burn_in" and r["J&F"] is not None]
    if burn:
        shown.append(max(burn, key=lambda r: r["J&F"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in shown:
        values = r["J&F-by-tenth"]
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=r["run"])
    ax.set(xlabel="tenth of the video", ylabel="J&F (%)", title="J&F over the course of the videos")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(out / "over_time.png", lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)

    if burn:
        one_policy = len({r["policy"] for r in burn}) == 1
        labels = [("" if one_policy else f"{r['policy']}, ") + f"{r['burn_in_passes']}x {r['order']}"
                  + (", every frame" if r["every_frame"] else "") + (f", {r['treatment']}" if r.get("treatment") else "")
                  for r in burn]
        fig, ax = plt.subplots(figsize=(7, 1.2 + 0.3 * len(burn)))
        ax.scatter([r["J&F"] for r in burn], range(len(burn)), color="tab:blue", zorder=3)
        reference = next((r for r in policy_rows if r["policy"] == burn[0]["policy"]
                          and r["capacity"] == burn[0]["capacity"] and not r["seed"]), None)
        if reference is not None and reference["J&F"] is not None:
            ax.axvline(reference["J&F"], color="tab:red", linestyle="--", label=f"{reference['run']}, no burn-in")
            ax.legend(fontsize=8, loc="best")
        ax.set_yticks(range(len(burn)), labels, fontsize=8)
        ax.invert_yaxis()
        title = "Burn-in passes x order (offline)" + (f", {burn[0]['policy']} at {burn[0]['capacity']}" if one_policy
                                                      else "")
        ax.set(xlabel="J&F (%)", title=title)
        ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
        atomic_write(out / "burn_in.png", lambda tmp: fig.savefig(tmp, format="png", dpi=110))
        plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    common = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m stcnbuf.lab.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the table and the plots")
    parser.add_argument("--runs", type=Path, default=None, help="folder of the runs (default: OUT/runs)")
    parser.add_argument("--policies", nargs="+", default=list(BOUNDED.values()))
    parser.add_argument("--capacities", nargs="+", type=int, default=list(CAPACITIES))
    parser.add_argument("--no-unbounded", action="store_true", help="leave out the unbounded reference runs")
    parser.add_argument("--burn-in-policies", nargs="*", default=["random_pixel"])
    parser.add_argument("--reference-capacity", type=int, default=16,
                        help="capacity of the burn-in runs and of the runs with other memory seeds")
    parser.add_argument("--passes", nargs="+", type=int, default=list(PASSES))
    parser.add_argument("--orders", nargs="+", default=list(ORDERS))
    parser.add_argument("--every-frame-orders", nargs="*", default=["none", "strided"],
                        help="orders of the one-pass burn-in runs that segment every frame (with the ring)")
    parser.add_argument("--treatment-orders", nargs="*", default=["none", "strided"],
                        help="orders of the one-pass burn-in runs under each treatment of burn-in entries")
    parser.add_argument("--treatments", nargs="*", default=list(TREATMENTS),
                        help="treatments of burn-in entries to run (weight, evict_first, confident)")
    parser.add_argument("--burn-in-weight", type=float, default=0.5,
                        help="the weight of burn-in entries in the 'weight' treatment (memory.burn_in_weight)")
    parser.add_argument("--burn-in-confidence", type=float, default=0.9,
                        help="the threshold of the 'confident' treatment (memory.burn_in_confidence)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[],
                        help="memory seeds besides 0 for the random policies at --reference-capacity (their spread)")
    parser.add_argument("--summary-only", action="store_true", help="rebuild the table and plots, run nothing")
    args = parser.parse_args(own)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        runs = study_runs(args.policies, args.capacities, args.burn_in_policies, args.reference_capacity,
                          args.passes, args.orders, not args.no_unbounded, args.seeds, args.every_frame_orders,
                          args.treatment_orders, treatments(args.burn_in_weight, args.burn_in_confidence,
                                                            args.treatments))
    except ValueError as error:
        parser.error(str(error))
    runs_dir = args.runs or args.out / "runs"
    failed = [] if args.summary_only else run_study(runs, runs_dir, common)
    command = "python -m stcnbuf.lab.study " + shlex.join(a for a in argv if a != "--summary-only")
    path = write_summary(runs, args.out, runs_dir, command)
    if path is not None:
        print(path.read_text())
    if failed:
        print(f"failed runs: {', '.join(failed)} (logs in {runs_dir / 'logs'})", file=sys.stderr)
    return 1 if failed or path is None else 0


if __name__ == "__main__":
    sys.exit(main())
