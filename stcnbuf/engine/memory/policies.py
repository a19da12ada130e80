"""Replacement policies: which rows of the permanent memory a new frame gets, and what it evicts.

A policy is a class registered under the name that ``memory.policy`` gives it; the bank keeps the storage and
asks its policy where each new permanent frame goes (:meth:`ReplacementPolicy.place`). Adding one takes the
class and a preset ``configs/memory/NAME.yaml`` (``defaults: [schema, _self_]`` and ``policy: NAME``)::

    @register_policy("lowest_index")
    class LowestIndex(FramePolicy):      # a full memory replaces the stored frame of the lowest video index
        def choose(self, memory, evictable, first, pinned):
            candidates = evictable if first is None else first
            return candidates[torch.argmin(memory.per_slot(memory.frames)[candidates])]

The class must be defined (its module imported) before a bank asks for the name: the policies here are.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, KeysView, Optional, Tuple, Type, TypeVar

import torch
from torch import Tensor


class MemoryFullError(RuntimeError):
    """Raised when every stored frame is pinned and a new frame must be stored."""


@dataclass(frozen=True)
class PermanentMemory:
    """What a policy sees of the permanent memory as a frame arrives: CPU views of the bank's storage, to read
    only. Rows ``[0, used)`` are in use, a prefix of ``rows``; slot ``s`` is rows ``[s * positions, (s + 1) *
    positions)``, one frame's worth (a policy that moves single rows, ``random_pixel``, mixes frames in a slot).

    Attributes:
        positions: rows per frame (the positions of a frame's key).
        rows: rows the permanent memory has room for (``capacity`` frames' worth under a bounded policy).
        used: rows in use.
        pinned: ``[used]`` rows that must not be evicted (annotated frames under ``pin_annotated``).
        evict_first: ``[used]`` rows to replace before any other (burn-in entries under ``evict_first``), or
            ``None`` when no row goes first.
        steps: ``[used]`` the write step of each row (a lower step: written earlier).
        frames: ``[used]`` the video frame index of each row.
        generator: the bank's seeded generator, for every random choice.
    """

    positions: int
    rows: int
    used: int
    pinned: Tensor
    evict_first: Optional[Tensor]
    steps: Tensor
    frames: Tensor
    generator: torch.Generator

    @property
    def has_room(self) -> bool:
        """Whether a frame fits in the rows not in use."""
        return self.used + self.positions <= self.rows

    def free_rows(self) -> Tensor:
        """The rows a new frame takes while there is room: the next ones after those in use."""
        return torch.arange(self.used, self.used + self.positions)

    def slot_rows(self, slot: int) -> Tensor:
        """The rows of slot ``slot``."""
        return torch.arange(slot * self.positions, (slot + 1) * self.positions)

    def per_slot(self, per_row: Tensor) -> Tensor:
        """A per-row tensor read per slot, at the slot's first row."""
        return per_row.view(-1, self.positions)[:, 0]

    def full_error(self) -> MemoryFullError:
        """The error of a memory whose every evictable slot is pinned."""
        return MemoryFullError(
            f"memory is full of pinned (annotated) frames (capacity {self.rows // self.positions}); raise "
            "memory.capacity or set memory.pin_annotated=false")


def split_first(candidates: Tensor, first: Optional[Tensor]) -> Optional[Tuple[Tensor, Tensor]]:
    """``candidates`` (rows or slots) split into those that ``first`` flags (to replace before the others) and
    the rest; ``None`` when ``first`` is ``None`` or flags none of them."""
    if first is None:
        return None
    flags = first[candidates]
    if not bool(flags.any()):
        return None
    return candidates[flags], candidates[~flags]


def random_choice(candidates: Tensor, generator: torch.Generator) -> Tensor:
    """One of ``candidates``, uniformly at random."""
    return candidates[int(torch.randint(candidates.numel(), (1,), generator=generator))]


def random_sample(candidates: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` of ``candidates`` (all of them if fewer), without repeats, in random order."""
    return candidates[torch.randperm(candidates.numel(), generator=generator)[:count]]


class ReplacementPolicy(ABC):
    """The choice of what a memory keeps: the rows a new permanent frame gets and the stored rows it evicts.

    A bounded policy implements :meth:`evict` (a :class:`FramePolicy`, :meth:`FramePolicy.choose`). A bank makes
    its policy afresh, with no arguments, at every reset. A policy with state that a snapshot must carry names the
    attributes holding it in ``state_attributes``; they are stored beside the bank's own entries, so their
    names must differ from those (the bank's state has ``config``, ``layout``, ``object_start``, ``generator``
    and its private attribute names).

    Attributes:
        name: the registered name (``memory.policy``), set by :func:`register_policy`.
        bounded: the memory holds at most ``capacity`` frames; an unbounded one grows so that every frame fits.
        state_attributes: the attributes that :meth:`state_dict` saves.
    """

    name: ClassVar[str]
    bounded: ClassVar[bool] = True
    state_attributes: ClassVar[Tuple[str, ...]] = ()

    def place(self, memory: PermanentMemory, pinned: bool) -> Optional[Tensor]:
        """The rows of the permanent memory (0: its first row) a new frame is written to, ``None`` to discard
        the frame: the free rows while it fits, then the rows :meth:`evict` chooses. Rows past ``memory.used``
        must be the free rows, so that the rows in use stay a prefix.

        Args:
            memory: the permanent memory as the frame arrives.
            pinned: the new frame is pinned (it counts as an annotated frame).
        """
        return memory.free_rows() if memory.has_room else self.evict(memory, pinned)

    @abstractmethod
    def evict(self, memory: PermanentMemory, pinned: bool) -> Optional[Tensor]:
        """The ``memory.positions`` rows in use that a new frame overwrites in a full memory, ``None`` to
        discard the frame; raises :class:`MemoryFullError` (``memory.full_error()``) when nothing can go."""

    def state_dict(self) -> Dict[str, object]:
        """The policy's state for a snapshot: its ``state_attributes``."""
        return {attribute: getattr(self, attribute) for attribute in self.state_attributes}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore a :meth:`state_dict`."""
        for attribute in self.state_attributes:
            setattr(self, attribute, state[attribute])


class FramePolicy(ReplacementPolicy):
    """A policy that replaces whole frames: a new frame takes the slot of one evictable stored frame, the one
    that :meth:`choose` picks."""

    def evict(self, memory: PermanentMemory, pinned: bool) -> Optional[Tensor]:
        evictable = torch.nonzero(~memory.per_slot(memory.pinned)).flatten()
        if evictable.numel() == 0:
            raise memory.full_error()
        first = None if memory.evict_first is None else memory.per_slot(memory.evict_first)
        split = split_first(evictable, first)
        slot = self.choose(memory, evictable, None if split is None else split[0], pinned)
        return None if slot is None else memory.slot_rows(int(slot))

    @abstractmethod
    def choose(self, memory: PermanentMemory, evictable: Tensor, first: Optional[Tensor],
               pinned: bool) -> Optional[Tensor | int]:
        """The slot the new frame takes, ``None`` to discard the frame.

        Args:
            memory: the permanent memory as the frame arrives.
            evictable: the slots of frames that are not pinned (at least one).
            first: the evictable slots to replace before the others, or ``None`` (no slot goes first).
            pinned: the new frame is pinned.
        """


Policy = TypeVar("Policy", bound=ReplacementPolicy)
_REGISTRY: Dict[str, Type[ReplacementPolicy]] = {}
#: The names of the registered policies, in the order of registration (a live view of the registry).
POLICIES: KeysView[str] = _REGISTRY.keys()


def register_policy(name: str) -> Callable[[Type[Policy]], Type[Policy]]:
    """Class decorator: register a :class:`ReplacementPolicy` under ``name`` (``memory.policy=name``)."""
    def register(cls: Type[Policy]) -> Type[Policy]:
        if _REGISTRY.get(name, cls) is not cls:
            raise ValueError(f"memory policy {name!r} is already registered ({_REGISTRY[name].__qualname__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return register


def unregister_policy(name: str) -> None:
    """Forget the policy registered under ``name``."""
    policy_class(name)   # an unknown name is refused
    del _REGISTRY[name]


def policy_class(name: str) -> Type[ReplacementPolicy]:
    """The policy registered under ``name``, or the class a dotted ``module.Class`` path names (importing a
    user's module registers its policies too); an unknown name is refused with the registered ones."""
    if name not in _REGISTRY and "." in name:
        module, _, attribute = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"memory.policy={name}: cannot import it ({error})") from error
        if not (isinstance(found, type) and issubclass(found, ReplacementPolicy)):
            raise ValueError(f"memory.policy={name} is not a ReplacementPolicy subclass")
        if "name" not in vars(found):  # not registered itself (a subclass inherits its parent's name): its path
            found.name = name
        return found
    if name not in _REGISTRY:
        raise ValueError(f"unknown memory policy {name!r}; choose one of {', '.join(POLICIES)} (or a "
                         "module.Class path of your own policy)")
    return _REGISTRY[name]


@register_policy("unbounded")
class Unbounded(ReplacementPolicy):
    """STCN's memory: every frame is kept (the bank grows its storage before it is full)."""

    bounded = False

    def evict(self, memory: PermanentMemory, pinned: bool) -> Optional[Tensor]:
        raise memory.full_error()  # the bank grows an unbounded memory, so a frame never finds it full


@register_policy("random_pixel")
class RandomPixel(ReplacementPolicy):
    """Each new pixel entry overwrites a random unpinned stored one (one of the rows that go first, while any)."""

    def evict(self, memory: PermanentMemory, pinned: bool) -> Tensor:
        evictable = torch.nonzero(~memory.pinned).flatten()
        if evictable.numel() < memory.positions:
            raise memory.full_error()
        split = split_first(evictable, memory.evict_first)
        if split is None:
            return random_sample(evictable, memory.positions, memory.generator)
        first, rest = split
        if first.numel() >= memory.positions:
            return random_sample(first, memory.positions, memory.generator)
        return torch.cat([first, random_sample(rest, memory.positions - first.numel(), memory.generator)])


@register_policy("random_frame")
class RandomFrame(FramePolicy):
    """A new frame overwrites a random unpinned stored frame (one of those that go first, if any)."""

    def choose(self, memory: PermanentMemory, evictable: Tensor, first: Optional[Tensor], pinned: bool) -> Tensor:
        return random_choice(evictable if first is None else first, memory.generator)


@register_policy("fifo")
class Fifo(FramePolicy):
    """The oldest unpinned frame goes (the oldest of those that go first, if any)."""

    def choose(self, memory: PermanentMemory, evictable: Tensor, first: Optional[Tensor], pinned: bool) -> Tensor:
        candidates = evictable if first is None else first
        return candidates[torch.argmin(memory.per_slot(memory.steps)[candidates])]


@register_policy("reservoir")
class Reservoir(FramePolicy):
    """A uniform sample over all history (reservoir sampling): the n-th unpinned frame offered replaces a
    random unpinned stored frame with probability (unpinned frames stored) / n, and is discarded otherwise;
    with frames that go first, it replaces a random one of those instead. A pinned frame always replaces a
    random unpinned frame (one of those that go first, if any).

    Attributes:
        _offered: the unpinned frames offered to the permanent memory so far (n).
    """

    state_attributes = ("_offered",)

    def __init__(self) -> None:
        self._offered = 0

    def place(self, memory: PermanentMemory, pinned: bool) -> Optional[Tensor]:
        if not pinned:
            self._offered += 1
        return super().place(memory, pinned)

    def choose(self, memory: PermanentMemory, evictable: Tensor, first: Optional[Tensor],
               pinned: bool) -> Optional[Tensor]:
        if pinned:
            return random_choice(evictable if first is None else first, memory.generator)
        j = int(torch.randint(self._offered, (1,), generator=memory.generator))
        if j >= evictable.numel():
            return None
        return evictable[j] if first is None else random_choice(first, memory.generator)
