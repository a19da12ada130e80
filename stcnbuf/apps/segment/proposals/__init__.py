"""Initial masks for a video: Mask R-CNN proposals chosen automatically, by scripted clicks or in a window.

matplotlib is only imported when a :class:`ClickSelector` is built.
"""

from stcnbuf.apps.segment.proposals.click import ClickSelector, select_by_clicking
from stcnbuf.apps.segment.proposals.maskrcnn import (COCO_CATEGORIES, DEFAULT_WEIGHTS, VALID_CLASSES, WEIGHTS_FILENAME,
                                                     WEIGHTS_URL, Proposals, build_maskrcnn, class_ids,
                                                     filter_proposals, load_maskrcnn, propose, proposals_to_label_map)
from stcnbuf.apps.segment.proposals.selection import proposal_at, selection_from_clicks, toggle_selection

__all__ = ["COCO_CATEGORIES", "ClickSelector", "DEFAULT_WEIGHTS", "Proposals", "VALID_CLASSES", "WEIGHTS_FILENAME",
           "WEIGHTS_URL", "build_maskrcnn", "class_ids", "filter_proposals", "load_maskrcnn", "proposal_at",
           "proposals_to_label_map", "propose", "select_by_clicking", "selection_from_clicks", "toggle_selection"]
