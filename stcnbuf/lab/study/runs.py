"""The runs of the study: what each one sets, and the list a grid of settings makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from stcnbuf.engine.memory import check_burn_in_settings
from stcnbuf.engine.orderings import ORDERINGS
from stcnbuf.lab.study.grid import BOUNDED, default_grid, memory_preset

RANDOM = ("random_pixel", "random_frame", "reservoir")   # the policies whose choices depend on memory.seed
TREATMENTS = ("weight", "evict_first", "confident")


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
        """The eval overrides of this run (after the data and the study's common overrides)."""
        result = [f"memory={memory_preset(self.policy)}"]
        result += [f"memory.capacity={self.capacity}"] if self.capacity else []
        result += [f"memory.seed={self.seed}"] if self.seed else []
        result += [f"memory.temp_size={self.ring}"] if self.ring is not None else []
        if self.group == "policy":
            return result + ["inference=online"]
        result += ["inference=offline", f"inference.burn_in_passes={self.passes}", f"inference.order={self.order}"]
        result += ["inference.burn_in_every_frame=true"] if self.every_frame else []
        return result + list(self.treatment_overrides)


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


def study_runs(policies: Optional[Sequence[str]] = None, capacities: Optional[Sequence[int]] = None,
               burn_in_policies: Optional[Sequence[str]] = None, reference_capacity: Optional[int] = None,
               passes: Optional[Sequence[int]] = None, orders: Optional[Sequence[str]] = None,
               unbounded: bool = True, seeds: Sequence[int] = (),
               every_frame_orders: Sequence[str] = ("none", "strided"),
               treatment_orders: Sequence[str] = ("none", "strided"),
               burn_in_treatments: Optional[Dict[str, Tuple[str, ...]]] = None) -> List[StudyRun]:
    """The runs of the study: every bounded policy at every capacity online, the unbounded memory online
    without and with the bounded policies' one-frame ring (which separates what the ring does from what the
    memory keeps), then every burn-in policy at ``reference_capacity`` with every number of passes and order;
    and, for the spread of the random policies, each of them online at ``reference_capacity`` with every other
    memory seed of ``seeds``; one burn-in pass that segments every frame (with the ring) in each of
    ``every_frame_orders``, which tells whether sparse, ring-less burn-in is what costs; and one burn-in pass
    in each of ``treatment_orders`` under each of ``burn_in_treatments`` (default :func:`treatments`), which
    tells whether it is what burn-in writes. Settings left ``None`` are the grid's (:func:`default_grid`)."""
    grid = default_grid()
    policies = grid.policies if policies is None else policies
    capacities = grid.capacities if capacities is None else capacities
    burn_in_policies = grid.burn_in_policies if burn_in_policies is None else burn_in_policies
    reference_capacity = grid.reference_capacity if reference_capacity is None else reference_capacity
    passes = grid.passes if passes is None else passes
    orders = grid.orders if orders is None else orders
    unknown = [p for p in (*policies, *burn_in_policies) if p not in BOUNDED]
    if unknown:
        raise ValueError(f"unknown bounded policies {unknown}; choose from {', '.join(BOUNDED)}")
    bad_orders = [o for o in (*orders, *every_frame_orders, *treatment_orders) if o not in ORDERINGS]
    if bad_orders:
        raise ValueError(f"unknown burn-in orders {bad_orders}; choose from {', '.join(ORDERINGS)}")
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
