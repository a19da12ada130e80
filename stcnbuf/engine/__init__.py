"""The engine: the STCN network, the memory bank and its policies, the segmenter, plans of frame visits and the
runner that executes them, weights files. It imports nothing else of the package (names load with their modules
when first used)."""

from stcnbuf.engine.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "Segmenter": "segmenter", "SegmentationCore": "core", "OfflineResult": "offline",
    "OfflineSegmenter": "offline", "Prediction": "prediction", "FrameSource": "frame_source", "RunStats": "runner",
    "Step": "runner", "run_plan": "runner", "written_labels": "runner", "Action": "plan", "Plan": "plan",
    "Visit": "plan", "WriteMode": "plan", "offline_plan": "plan", "stream_plan": "plan", "Annotation": "labels",
    "build_segmenter": "build", "build_network": "build", "build_memory": "build", "build_plan": "build",
    "load_network_weights": "checkpoint"},
    deprecated={"OnlineSegmenter": "Segmenter"})
