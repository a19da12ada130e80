"""Streaming and offline segmentation on top of the network and the memory bank: the per-frame segmenter,
plans of frame visits, and the runner that executes them (names load with their modules when first used)."""

from stcnbuf.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "SegmentationCore": "core", "OfflineResult": "offline", "OfflineSegmenter": "offline",
    "OnlineSegmenter": "online", "Prediction": "prediction", "FrameSource": "runner", "RunStats": "runner",
    "Step": "runner", "run_plan": "runner", "written_labels": "runner", "Action": "schedule", "Plan": "schedule",
    "Visit": "schedule", "WriteMode": "schedule", "offline_plan": "schedule", "stream_plan": "schedule"})
