"""Streaming and offline segmentation on top of the network and the memory bank: the per-frame segmenter,
plans of frame visits, and the runner that executes them."""

from stcnbuf.inference.core import SegmentationCore
from stcnbuf.inference.offline import OfflineResult, OfflineSegmenter
from stcnbuf.inference.online import OnlineSegmenter
from stcnbuf.inference.prediction import Prediction
from stcnbuf.inference.runner import FrameSource, RunStats, Step, run_plan, written_labels
from stcnbuf.inference.schedule import Action, Plan, Visit, WriteMode, offline_plan, stream_plan

__all__ = ["Action", "FrameSource", "OfflineResult", "OfflineSegmenter", "OnlineSegmenter", "Plan", "Prediction",
           "RunStats", "SegmentationCore", "Step", "Visit", "WriteMode", "offline_plan", "run_plan", "stream_plan",
           "written_labels"]
