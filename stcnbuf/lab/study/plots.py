"""The study's plots: J&F, event J&F, fps and peak memory against capacity per policy, with their bootstrap
intervals as error bars (bands for the unbounded memory); J&F over the course of the videos; each burn-in
setting's paired difference to the same memory online with its interval (where the runs recorded per-object
scores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from stcnbuf.io.atomic import atomic_write
from stcnbuf.lab.study.grid import BOUNDED


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
        for number, policy in enumerate(BOUNDED):
            shift = 2 ** (0.05 * (number - 1.5))  # policies side by side at each capacity: their bars apart
            chosen = sorted((r for r in policy_rows if r["policy"] == policy and r[key] is not None and not r["seed"]),
                            key=lambda r: r["capacity"])
            if chosen:
                xs, ys = [r["capacity"] * shift for r in chosen], [r[key] for r in chosen]
                errors = _error_bars(chosen, key)
                if errors is not None:
                    line = ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=policy).lines[0]
                else:
                    line, = ax.plot(xs, ys, marker="o", label=policy)
                others = [(r["capacity"] * shift, r[key]) for r in policy_rows
                          if r["policy"] == policy and r[key] is not None and r["seed"]]
                if others:  # the same settings with other memory seeds
                    ax.scatter(*zip(*others), marker="x", color=line.get_color())
        for r, style, name in unbounded:
            if r[key] is not None:
                ax.axhline(r[key], color="k", linestyle=style, label=name)
                if r.get(f"{key}-low") is not None:  # its interval as a band
                    ax.axhspan(r[f"{key}-low"], r[f"{key}-high"], color="k", alpha=0.06)
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
        _plot_burn_in(burn, policy_rows, out, plt)


def _plot_burn_in(burn: List[Dict[str, Any]], policy_rows: List[Dict[str, Any]], out: Path, plt: Any) -> None:
    """``burn_in.png``: each burn-in setting's paired J&F difference to the same memory online with its interval
    (red where the interval excludes 0) or, without intervals, its J&F beside the online run's."""
    one_policy = len({r["policy"] for r in burn}) == 1
    labels = [("" if one_policy else f"{r['policy']}, ") + f"{r['burn_in_passes']}x {r['order']}"
              + (", every frame" if r["every_frame"] else "") + (f", {r['treatment']}" if r.get("treatment") else "")
              for r in burn]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.3 * len(burn)))
    paired = all(r.get("J&F-burn-in") is not None for r in burn)
    if paired:
        errors = _error_bars(burn, "J&F-burn-in")
        for number, (row, below, above) in enumerate(zip(burn, *errors)):
            differs = row["J&F-burn-in-low"] > 0 or row["J&F-burn-in-high"] < 0
            ax.errorbar([row["J&F-burn-in"]], [number], xerr=[[below], [above]], fmt="o", capsize=3, zorder=3,
                        color="tab:red" if differs else "tab:blue")
        ax.axvline(0, color="k", linestyle="--", label="the same memory online (red: interval excludes 0)")
        ax.legend(fontsize=8, loc="best")
        xlabel = "J&F difference to the same memory online, paired (points)"
    else:
        ax.plot([r["J&F"] for r in burn], range(len(burn)), "o", color="tab:blue", zorder=3)
        reference = next((r for r in policy_rows if r["policy"] == burn[0]["policy"]
                          and r["capacity"] == burn[0]["capacity"] and not r["seed"]), None)
        if reference is not None and reference["J&F"] is not None:
            ax.axvline(reference["J&F"], color="tab:red", linestyle="--", label=f"{reference['run']}, no burn-in")
            ax.legend(fontsize=8, loc="best")
        xlabel = "J&F (%)"
    ax.set_yticks(range(len(burn)), labels, fontsize=8)
    ax.invert_yaxis()
    title = "Burn-in passes x order (offline)" + (f", {burn[0]['policy']} at {burn[0]['capacity']}" if one_policy
                                                  else "")
    ax.set(xlabel=xlabel, title=title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    atomic_write(out / "burn_in.png", lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def _error_bars(rows: List[Dict[str, Any]], key: str) -> Optional[List[List[float]]]:
    """Matplotlib's ``[below, above]`` of each row's interval of ``key`` (``None`` unless every row has one)."""
    if not rows or any(r.get(f"{key}-low") is None for r in rows):
        return None
    return [[max(0.0, r[key] - r[f"{key}-low"]) for r in rows], [max(0.0, r[f"{key}-high"] - r[key]) for r in rows]]
