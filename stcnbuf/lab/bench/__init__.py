"""Benchmarks: per-frame time and memory of the segmentation engine (``python -m stcnbuf.lab.bench``)."""
