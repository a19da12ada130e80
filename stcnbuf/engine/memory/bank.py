"""The memory bank: preallocated key/value storage, a temporary ring and objects, under a replacement policy.

Storage is a single set of row tensors: rows ``[0, T)`` hold the temporary ring (``temp_size`` frames of
``P`` positions each), rows ``[T, T + R)`` the permanent memory, filled as a prefix and then rewritten in
place where the replacement policy (:mod:`~stcnbuf.engine.memory.policies`) says. A read looks at rows
``[0, T + used)``; rows that must not be read (an empty ring slot, rows older than an object's first
annotation, unconfident burn-in positions) get an affinity bias of ``-inf``; burn-in rows read with a weight
get ``log(weight)`` added to theirs (:class:`~stcnbuf.engine.memory.burn_in.BurnInTreatment`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import astuple, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from stcnbuf.engine.memory.burn_in import BurnInTreatment
from stcnbuf.engine.memory.policies import PermanentMemory, ReplacementPolicy, policy_class
from stcnbuf.engine.memory.read import key_bias, read_memory

log = logging.getLogger(__name__)

_INITIAL_UNBOUNDED_FRAMES = 8


@dataclass(frozen=True)
class MemoryLayout:
    """Sizes fixed by the first write: key channels, value channels per object, positions per frame."""

    key_dim: int
    value_dim: int
    height: int
    width: int

    @property
    def positions(self) -> int:
        return self.height * self.width


class MemoryBank:
    """Key/value memory of past frames under a replacement policy.

    Args:
        policy: the name of a registered replacement policy (:data:`~stcnbuf.engine.memory.POLICIES`):
            ``unbounded`` (STCN: every memory frame is kept), ``random_pixel`` (each new pixel entry overwrites
            a random stored pixel slot), ``random_frame`` (a new frame overwrites a random stored frame),
            ``fifo`` (the oldest frame goes), ``reservoir`` (a uniform sample over all history), or another.
        capacity: frames in permanent memory (annotated frames included); required by bounded policies.
        temp_size: frames in the temporary ring of the most recent non-memory frames; every permanent
            write empties the ring (STCN's "last frame" slot is ``temp_size=1``).
        pin_annotated: annotated frames are never evicted.
        seed: seed of the generator behind every random choice.
        burn_in: the treatment of entries written by burn-in visits (default: like any other).
        device, dtype: where and in which precision keys and values are stored.

    Attributes:
        policy: the :class:`~stcnbuf.engine.memory.policies.ReplacementPolicy`, made afresh at every :meth:`reset`.
    """

    def __init__(self, policy: str = "unbounded", capacity: Optional[int] = None, temp_size: int = 0,
                 pin_annotated: bool = True, seed: int = 0, burn_in: BurnInTreatment = BurnInTreatment(),
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self._policy_class = policy_class(policy)
        if not self._policy_class.bounded:
            if capacity is not None:
                log.warning("memory.capacity=%s is ignored with policy=%s", capacity, policy)
                capacity = None
            if burn_in.evict_first:
                log.warning("memory.burn_in_evict_first is ignored with policy=%s (nothing is evicted)", policy)
        elif capacity is None or int(capacity) < 1:
            raise ValueError(f"policy={policy} needs memory.capacity >= 1 (frames), got {capacity!r}")
        if temp_size < 0:
            raise ValueError(f"memory.temp_size must be >= 0, got {temp_size}")
        self.burn_in = burn_in
        self.capacity = None if capacity is None else int(capacity)
        self.temp_size = int(temp_size)
        self.pin_annotated = bool(pin_annotated)
        self.seed = int(seed)
        self.device = torch.device(device)
        self.dtype = dtype
        self.generator = torch.Generator()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every frame and object, reseed the generator and make the policy afresh."""
        self.generator.manual_seed(self.seed)
        self.policy: ReplacementPolicy = self._policy_class()
        self.layout: Optional[MemoryLayout] = None
        self._object_start: List[int] = []
        self._step = 0
        self._used = 0
        self._ring_next = 0
        self._ring_count = 0
        self._writes = 0
        self._discarded = 0
        self._keys = torch.empty(0, 0, device=self.device, dtype=self.dtype)
        self._values = torch.empty(0, 0, device=self.device, dtype=self.dtype)
        self._bias = torch.empty(0, device=self.device)
        self._row_step = torch.empty(0, dtype=torch.long, device=self.device)
        self._row_frame = torch.empty(0, dtype=torch.long)
        self._row_pinned = torch.empty(0, dtype=torch.bool)
        self._row_burn_in = torch.empty(0, dtype=torch.bool)
        self._row_step_cpu = torch.empty(0, dtype=torch.long)

    @property
    def num_objects(self) -> int:
        return len(self._object_start)

    @property
    def _ring_rows(self) -> int:
        return self.temp_size * (self.layout.positions if self.layout else 0)

    @property
    def _used_rows(self) -> slice:
        """The permanent rows in use."""
        return slice(self._ring_rows, self._ring_rows + self._used)

    @property
    def _permanent_rows(self) -> int:
        return self._keys.shape[0] - self._ring_rows

    def add_objects(self, count: int) -> None:
        """Add ``count`` object columns; their values exist from the next write on (an annotated frame)."""
        if count < 1:
            raise ValueError("add_objects needs count >= 1")
        old_count = self.num_objects
        self._object_start.extend([self._step] * count)
        if self.layout is not None:
            rows, cv = self._values.shape[0], self.layout.value_dim
            grown = torch.zeros(rows, self.num_objects, cv, device=self.device, dtype=self.dtype)
            grown[:, :old_count] = self._values.view(rows, old_count, cv)
            self._values = grown.view(rows, -1)

    def remove_objects(self, columns: Sequence[int]) -> None:
        """Drop the object columns ``columns`` (indices into the current objects)."""
        drop = set(int(c) for c in columns)
        if not drop <= set(range(self.num_objects)):
            raise ValueError(f"object columns {sorted(drop)} out of range for {self.num_objects} objects")
        keep = [i for i in range(self.num_objects) if i not in drop]
        self._object_start = [self._object_start[i] for i in keep]
        if self.layout is not None:
            rows, cv = self._values.shape[0], self.layout.value_dim
            index = torch.tensor(keep, dtype=torch.long, device=self.device)
            values = self._values.view(rows, len(drop) + len(keep), cv)
            self._values = values.index_select(1, index).reshape(rows, -1)

    # ------------------------------------------------------------------ writing
    def add(self, key: Tensor, values: Tensor, frame_index: int, *, temporary: bool = False,
            annotated: bool = False, burn_in: bool = False, confidence: Optional[Tensor] = None) -> bool:
        """Store one frame.

        Args:
            key: ``[Ck, h, w]`` key of the frame.
            values: ``[K, Cv, h, w]`` one value per current object.
            frame_index: the frame's index in the video (kept for statistics).
            temporary: write into the temporary ring instead of permanent memory.
            annotated: the frame carries given masks (pinned when ``pin_annotated``).
            burn_in: the frame was segmented by a burn-in visit (the bank's ``burn_in`` treatment applies).
            confidence: ``[h, w]`` how confident the frame's prediction is at each position (0..1); needed
                for a burn-in frame when ``burn_in.needs_confidence``.

        Returns:
            whether the frame was stored (a policy may discard a frame: ``reservoir`` does).
        """
        if values.shape[0] != self.num_objects:
            raise ValueError(f"got values for {values.shape[0]} objects, memory holds {self.num_objects}; "
                             "call add_objects first")
        self._ensure_layout(key, values)
        positions = self.layout.positions
        key_rows = key.reshape(key.shape[0], positions).t()
        value_rows = values.reshape(values.shape[0], values.shape[1], positions).permute(2, 0, 1)
        value_rows = value_rows.reshape(positions, -1)
        bias = key_bias(key_rows)
        if burn_in:
            bias = self.burn_in.bias(bias, confidence)
        step = self._step
        self._step += 1
        if temporary:
            if self.temp_size == 0:
                raise ValueError("temporary write with memory.temp_size=0")
            start = (self._ring_next % self.temp_size) * positions
            rows = torch.arange(start, start + positions)
            self._ring_next += 1
            self._ring_count = min(self._ring_count + 1, self.temp_size)
            pinned = False
        else:
            self._clear_ring()
            pinned = annotated and self.pin_annotated
            rows = self._allocate_rows(positions, pinned)
            if rows is None:
                self._discarded += 1
                return False
        self._write(rows, key_rows, value_rows, bias, step, frame_index, pinned, burn_in)
        self._writes += 1
        return True

    def clear_temporary(self) -> None:
        """Empty the temporary ring."""
        self._clear_ring()

    def _clear_ring(self) -> None:
        if self._ring_count and self._ring_rows:
            self._bias[: self._ring_rows] = -math.inf
        self._ring_next = 0
        self._ring_count = 0

    def _ensure_layout(self, key: Tensor, values: Tensor) -> None:
        layout = MemoryLayout(key.shape[0], values.shape[1], key.shape[1], key.shape[2])
        if self.layout is None:
            self.layout = layout
            frames = self.capacity if self.policy.bounded else _INITIAL_UNBOUNDED_FRAMES
            self._allocate(self.temp_size * layout.positions + frames * layout.positions)
        elif layout != self.layout:
            raise ValueError(f"frame features of shape key {tuple(key.shape)} / values {tuple(values.shape[1:])} "
                             f"do not match the memory's {self.layout}; all frames of a video must share one size")

    def _allocate(self, rows: int) -> None:
        """(Re)allocate storage for ``rows`` rows, keeping what is stored."""
        layout = self.layout
        old = self._keys.shape[0]
        # Permanent rows beyond the used ones are never read: no need to clear them (or touch their pages).
        # Ring rows are read before they are written (with bias -inf and weight 0), so they must be finite.
        keys = torch.empty(rows, layout.key_dim, device=self.device, dtype=self.dtype)
        values = torch.empty(rows, self.num_objects * layout.value_dim, device=self.device, dtype=self.dtype)
        ring = self.temp_size * layout.positions
        keys[:ring] = 0
        values[:ring] = 0
        bias = torch.full((rows,), -math.inf, device=self.device)
        row_step = torch.full((rows,), -1, dtype=torch.long, device=self.device)
        if old:
            keys[:old] = self._keys
            values[:old, : self._values.shape[1]] = self._values
            bias[:old] = self._bias
            row_step[:old] = self._row_step
        self._keys, self._values, self._bias, self._row_step = keys, values, bias, row_step
        self._row_frame = torch.cat([self._row_frame, torch.full((rows - old,), -1, dtype=torch.long)])
        self._row_pinned = torch.cat([self._row_pinned, torch.zeros(rows - old, dtype=torch.bool)])
        self._row_burn_in = torch.cat([self._row_burn_in, torch.zeros(rows - old, dtype=torch.bool)])
        self._row_step_cpu = torch.cat([self._row_step_cpu, torch.full((rows - old,), -1, dtype=torch.long)])

    def _write(self, rows: Tensor, key_rows: Tensor, value_rows: Tensor, bias: Tensor, step: int, frame_index: int,
               pinned: bool, burn_in: bool) -> None:
        dev_rows = rows.to(self.device)
        self._keys.index_copy_(0, dev_rows, key_rows.to(self.dtype))
        self._values.index_copy_(0, dev_rows, value_rows.to(self.dtype))
        self._bias.index_copy_(0, dev_rows, bias)
        self._row_step.index_fill_(0, dev_rows, step)
        self._row_step_cpu[rows] = step
        self._row_frame[rows] = frame_index
        self._row_pinned[rows] = pinned
        self._row_burn_in[rows] = burn_in

    def _allocate_rows(self, positions: int, pinned: bool) -> Optional[Tensor]:
        """Rows for a new permanent frame where the policy places it; ``None`` when the policy discards it."""
        if not self.policy.bounded and self._used + positions > self._permanent_rows:
            self._allocate(self._ring_rows + 2 * max(self._permanent_rows, positions))
        rows = self.policy.place(self._permanent_memory(), pinned)
        if rows is None:
            return None
        self._used = max(self._used, int(rows.max()) + 1)
        return self._ring_rows + rows

    def _permanent_memory(self) -> PermanentMemory:
        """What the policy sees of the permanent memory."""
        used = self._used_rows
        return PermanentMemory(
            positions=self.layout.positions, rows=self._permanent_rows, used=self._used,
            pinned=self._row_pinned[used], evict_first=self._row_burn_in[used] if self.burn_in.evict_first else None,
            steps=self._row_step_cpu[used], frames=self._row_frame[used], generator=self.generator)

    # ------------------------------------------------------------------ reading
    def read_inputs(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """What :func:`read_memory` needs: keys ``[N,Ck]``, one bias row per object cohort ``[G,N]``,
        values ``[N, K*Cv]`` and each object's cohort ``[K]``.

        Objects added at the same write form a cohort; a cohort reads only rows written since it started.
        """
        if self.layout is None or self.num_objects == 0:
            raise RuntimeError("memory is empty: start a video with its annotated frame first")
        n = self._ring_rows + self._used
        bias = self._bias[:n]
        starts = sorted(set(self._object_start))
        if len(starts) == 1 and starts[0] == 0:
            biases = bias.unsqueeze(0)
        else:
            row_step = self._row_step[:n]
            biases = torch.stack([torch.where(row_step >= s, bias, torch.full_like(bias, -math.inf))
                                  for s in starts])
        cohort = torch.tensor([starts.index(s) for s in self._object_start], dtype=torch.long, device=self.device)
        return self._keys[:n], biases, self._values[:n], cohort

    def read(self, query: Tensor, top_k: int = 20) -> Tensor:
        """Read for a query key ``[Ck, h, w]``; returns ``[K, Cv, h, w]``."""
        keys, biases, values, cohort = self.read_inputs()
        out = read_memory(query.reshape(query.shape[0], -1), keys, biases, values, cohort, top_k)
        return out.reshape(out.shape[0], out.shape[1], query.shape[1], query.shape[2])

    # ------------------------------------------------------------------ snapshots
    _TENSORS = ("_keys", "_values", "_bias", "_row_step", "_row_frame", "_row_pinned", "_row_burn_in",
                "_row_step_cpu")
    _COUNTERS = ("_step", "_used", "_ring_next", "_ring_count", "_writes", "_discarded")

    def state_dict(self) -> Dict[str, object]:
        """Everything needed to continue later: configuration, storage, counters, generator and policy state."""
        state: Dict[str, object] = {name: getattr(self, name).cpu() for name in self._TENSORS}
        state.update({name: getattr(self, name) for name in self._COUNTERS})
        state.update(config=self._config(),
                     layout=None if self.layout is None else tuple(vars(self.layout).values()),
                     object_start=list(self._object_start), generator=self.generator.get_state())
        policy_state = self.policy.state_dict()
        if policy_state.keys() & state.keys():
            raise ValueError(f"memory policy {self.policy.name!r} has state named like the bank's: "
                             f"{sorted(policy_state.keys() & state.keys())}")
        state.update(policy_state)
        return state

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore a :meth:`state_dict` of a bank with the same configuration."""
        config = self._config()
        if tuple(state["config"]) != config:
            raise ValueError(f"memory snapshot of configuration {tuple(state['config'])} does not fit {config}")
        self.layout = None if state["layout"] is None else MemoryLayout(*state["layout"])
        self._object_start = list(state["object_start"])
        for name in self._COUNTERS:
            setattr(self, name, int(state[name]))
        for name in self._TENSORS:
            tensor = state[name]
            setattr(self, name, tensor if name in ("_row_frame", "_row_pinned", "_row_burn_in", "_row_step_cpu")
                    else tensor.to(self.device))
        self.generator.set_state(state["generator"])
        self.policy.load_state_dict({name: state[name] for name in self.policy.state_dict()})

    def _config(self) -> tuple:
        return (self.policy.name, self.capacity, self.temp_size, self.pin_annotated, self.seed, *astuple(self.burn_in))

    # ------------------------------------------------------------------ introspection
    def stored_frames(self) -> Tensor:
        """Frame index of every used permanent row (CPU, ``[rows]``)."""
        return self._row_frame[self._used_rows].clone()

    def stored_steps(self) -> Tensor:
        """Write step of every used permanent row (CPU, ``[rows]``); ages are ``current step - step``."""
        return self._row_step_cpu[self._used_rows].clone()

    @property
    def step(self) -> int:
        """Number of writes so far (permanent and temporary)."""
        return self._step

    def stats(self) -> Dict[str, float | int | str | None]:
        """Sizes and counters: frames stored (``stored_burn_in_frames``: frames' worth of permanent entries written
        by burn-in visits), rows, bytes held, writes and discarded frames."""
        positions = self.layout.positions if self.layout else 0
        pinned_rows = int(self._row_pinned[self._used_rows].sum()) if self._used else 0
        burn_in_rows = int(self._row_burn_in[self._used_rows].sum()) if self._used else 0  # permanent
        tensors = (self._keys, self._values, self._bias, self._row_step)
        return {
            "policy": self.policy.name,
            "capacity_frames": self.capacity,
            "frames": self._used / positions if positions else 0,
            "distinct_frames": int(torch.unique(self.stored_frames()).numel()) if self._used else 0,
            "pinned_frames": pinned_rows / positions if positions else 0,
            "stored_burn_in_frames": burn_in_rows / positions if positions else 0,
            "temporary_frames": self._ring_count,
            "objects": self.num_objects,
            "rows": self._used,
            "allocated_rows": self._keys.shape[0],
            "bytes": sum(t.numel() * t.element_size() for t in tensors),
            "writes": self._writes,
            "discarded": self._discarded,
        }
