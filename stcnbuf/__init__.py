"""stcnbuf: STCN video object segmentation with a bounded, buffered memory."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stcnbuf")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.3.0"
