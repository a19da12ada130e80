"""stcnbuf: STCN video object segmentation with a bounded, buffered memory.

The library's layers are packages: ``engine`` (network, memory, segmenter, plans, runner, weights),
``datasets``, ``scoring``, ``io``, ``runs``, ``training``, ``apps``; ``lab`` holds the research tools
(synthetic data generators, the buffer study, benchmarks) that the library never imports.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stcnbuf")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.4.0"
