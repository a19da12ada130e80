"""Streaming and offline segmentation on top of the network and the memory bank."""

from stcnbuf.inference.core import SegmentationCore
from stcnbuf.inference.offline import CachedFrames, FrameSource, OfflineResult, OfflineSegmenter
from stcnbuf.inference.online import OnlineSegmenter, WriteMode
from stcnbuf.inference.prediction import Prediction

__all__ = ["CachedFrames", "FrameSource", "OfflineResult", "OfflineSegmenter", "OnlineSegmenter", "Prediction",
           "SegmentationCore", "WriteMode"]
