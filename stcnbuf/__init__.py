"""stcnbuf: STCN video object segmentation with a bounded, buffered memory."""

__version__ = "0.1.0"
