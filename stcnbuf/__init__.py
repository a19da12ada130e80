"""stcnbuf: STCN video object segmentation with a bounded, buffered memory.

The library's layers are packages: ``engine`` (network, memory, segmenter, plans, runner, weights),
``datasets``, ``scoring``, ``io``, ``runs``, ``training``, ``apps``; ``lab`` holds the research tools
(synthetic data generators, the buffer study, benchmarks) that the library never imports. ``stcnbuf.VideoPredictor``
(SAM 2's video-predictor calls over plans and the runner) loads with its module when first used.
"""

from importlib.metadata import PackageNotFoundError, version

from stcnbuf.engine.lazy import lazy_exports

__getattr__, __dir__, _lazy = lazy_exports(__name__, {"VideoPredictor": "apps.predictor",
                                                     "VideoState": "apps.predictor"})

try:
    __version__ = version("stcnbuf")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.4.0"
