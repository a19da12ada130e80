"""Choose the objects to track by clicking Mask R-CNN proposals in a matplotlib window.

Every proposal is outlined and numbered; a left click toggles the proposal under the cursor (the smallest
one when masks are nested), Escape clears the selection, Enter or closing the window finishes. Without a
display use ``init=maskrcnn`` (automatic choice) or ``init.clicks=[[x, y], ...]`` (scripted clicks, see
:func:`stcnbuf.apps.segment.proposals.selection.selection_from_clicks`).
"""

from __future__ import annotations

from typing import List, Optional

import cv2
import numpy as np

from stcnbuf.apps.segment.proposals.maskrcnn import Proposals
from stcnbuf.apps.segment.proposals.selection import proposal_at, toggle_selection
from stcnbuf.io.masks import DAVIS_PALETTE
from stcnbuf.io.overlay import overlay

_PALETTE = np.frombuffer(DAVIS_PALETTE, dtype=np.uint8).reshape(256, 3)
_HELP = "left click: select / unselect, Esc: clear, Enter or close: done"


def _colour_id(index: int) -> int:
    """Palette id of proposal ``index`` (1..254: never background nor void)."""
    return index % 254 + 1


class ClickSelector:
    """A matplotlib figure to pick proposals by clicking; :meth:`run` shows it and returns the selection.

    The handlers :meth:`on_click` and :meth:`on_key` are connected to the canvas, so the window can also be
    driven by synthetic events (tests, headless use with the Agg backend).
    """

    def __init__(self, frame: np.ndarray, proposals: Proposals,
                 title: str = "Click the objects to track", mask_threshold: float = 0.5,
                 outline: int = 2) -> None:
        import matplotlib.pyplot as plt

        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"ClickSelector: expected an H×W×3 uint8 RGB frame, got {frame.shape} {frame.dtype}")
        if frame.shape[:2] != proposals.image_size:
            raise ValueError(f"ClickSelector: frame {frame.shape[:2]} and proposal masks {proposals.image_size} "
                             "differ in size")
        self.frame = frame
        self.proposals = proposals
        self.title = title
        self.mask_threshold = mask_threshold
        self.selected: List[int] = []
        self.finished = False

        self._hard = proposals.masks > mask_threshold
        self._outlines = np.zeros(frame.shape[:2], bool)
        self._outline_colours = np.zeros_like(frame)
        kernel = np.ones((3, 3), np.uint8)
        for index, hard in enumerate(self._hard):  # inner borders, later proposals drawn on top
            edge = hard & ~cv2.erode(hard.astype(np.uint8), kernel, iterations=max(outline, 1)).astype(bool)
            self._outlines |= edge
            self._outline_colours[edge] = _PALETTE[_colour_id(index)]

        height, width = frame.shape[:2]
        self.figure = plt.figure(figsize=(8.0, 8.0 * height / width + 0.8))
        self.ax = self.figure.add_axes((0.0, 0.0, 1.0, 1.0 - 0.8 / (8.0 * height / width + 0.8)))
        self.ax.set_axis_off()
        self.image = self.ax.imshow(self.render(), interpolation="nearest")
        self.numbers = [self._number(index) for index in range(len(proposals))]
        self._title = self.figure.suptitle("", y=0.995, va="top", fontsize=10)
        canvas = self.figure.canvas
        self._connections = [canvas.mpl_connect("button_press_event", self.on_click),
                             canvas.mpl_connect("key_press_event", self.on_key),
                             canvas.mpl_connect("close_event", self._on_close)]
        self._update()

    # ------------------------------------------------------------------------------------------------------
    # Drawing

    def _number(self, index: int):
        """The proposal's number, placed at its most interior pixel (``None`` for an empty mask)."""
        hard = self._hard[index]
        if not hard.any():
            return None
        distance = cv2.distanceTransform(np.pad(hard, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
        row, column = np.unravel_index(int(np.argmax(distance)), distance.shape)
        colour = _PALETTE[_colour_id(index)] / 255.0
        return self.ax.text(column, row, str(index), ha="center", va="center", fontsize=9, color="white",
                            bbox={"boxstyle": "round,pad=0.2", "facecolor": colour, "alpha": 0.8,
                                  "edgecolor": "none"})

    def selection_labels(self) -> np.ndarray:
        """``H×W`` uint8 map of the selected proposals (palette id of each; earlier selections on top)."""
        labels = np.zeros(self.frame.shape[:2], np.uint8)
        for index in self.selected:
            labels[self._hard[index] & (labels == 0)] = _colour_id(index)
        return labels

    def render(self) -> np.ndarray:
        """The frame with the selected proposals filled and every proposal outlined (``H×W×3`` uint8)."""
        shown = overlay(self.frame, self.selection_labels(), alpha=0.5, outline=0)
        shown[self._outlines] = self._outline_colours[self._outlines]
        return shown

    def title_text(self) -> str:
        chosen = ", ".join(map(str, self.selected)) if self.selected else "none"
        return (f"{self.title}: {len(self.selected)} selected ({chosen}) of {len(self.proposals)} proposals\n"
                f"{_HELP}")

    def _update(self) -> None:
        self.image.set_data(self.render())
        self._title.set_text(self.title_text())
        for index, text in enumerate(self.numbers):
            if text is not None:
                text.set_fontweight("bold" if index in self.selected else "normal")
        self.figure.canvas.draw_idle()

    # ------------------------------------------------------------------------------------------------------
    # Events

    def on_click(self, event) -> None:
        """Left click in the image: toggle the proposal under the cursor."""
        if self.finished or event.inaxes is not self.ax or event.button != 1:
            return
        toolbar = getattr(self.figure.canvas, "toolbar", None)
        if toolbar is not None and getattr(toolbar, "mode", ""):  # zooming / panning, not choosing
            return
        if event.xdata is None or event.ydata is None:
            return
        index = proposal_at(self.proposals, event.xdata, event.ydata, self.mask_threshold)
        self.selected = toggle_selection(self.selected, index)
        self._update()

    def on_key(self, event) -> None:
        """Enter: finish; Escape: clear the selection."""
        if self.finished:
            return
        if event.key in ("enter", "return"):
            self.finish()
        elif event.key == "escape":
            self.selected = []
            self._update()

    def _on_close(self, event) -> None:
        self.finished = True
        self.figure.canvas.stop_event_loop()

    def finish(self) -> None:
        """End the choice (as Enter does): stop the event loop and close the window."""
        import matplotlib.pyplot as plt

        self.finished = True
        self.figure.canvas.stop_event_loop()
        plt.close(self.figure)

    def close(self) -> None:
        """Close the figure without changing the selection."""
        import matplotlib.pyplot as plt

        plt.close(self.figure)

    # ------------------------------------------------------------------------------------------------------

    def run(self) -> List[int]:
        """Show the window and block until Enter or the window is closed; returns the selected indices.

        Raises ``RuntimeError`` with a non-interactive backend (no display).
        """
        import matplotlib

        canvas = self.figure.canvas
        if getattr(type(canvas), "required_interactive_framework", None) is None:
            backend = matplotlib.get_backend()
            self.close()
            raise RuntimeError(
                f"choosing objects by clicking needs a display, but matplotlib's backend {backend!r} is not "
                "interactive. Without a display use init=maskrcnn (automatic choice by class and score) or "
                "init.clicks=[[x,y],...] for a scripted selection (pixel coordinates: column, row)")
        if not self.finished:
            if canvas.manager is not None:
                self.figure.show()
            canvas.start_event_loop(timeout=0)  # until finish() or the window's close_event stops it
        return list(self.selected)


def select_by_clicking(frame: np.ndarray, proposals: Proposals, title: Optional[str] = None) -> List[int]:
    """Indices of the proposals clicked in a window (see :class:`ClickSelector`), in click order."""
    selector = ClickSelector(frame, proposals) if title is None else ClickSelector(frame, proposals, title)
    return selector.run()
