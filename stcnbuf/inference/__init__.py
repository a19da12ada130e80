"""Streaming and offline segmentation on top of the network and the memory bank."""

from stcnbuf.inference.core import SegmentationCore
from stcnbuf.inference.offline import OfflineResult, OfflineSegmenter
from stcnbuf.inference.online import OnlineSegmenter, WriteMode
from stcnbuf.inference.prediction import Prediction

__all__ = ["OfflineResult", "OfflineSegmenter", "OnlineSegmenter", "Prediction", "SegmentationCore", "WriteMode"]
