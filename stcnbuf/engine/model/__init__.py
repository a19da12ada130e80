"""Network parts and the STCN network: pure ``nn.Module`` code, no IO and no memory policy (the network loads with
its module when first used)."""

from stcnbuf.engine.lazy import lazy_exports
from stcnbuf.engine.model.aggregate import aggregate as aggregate, aggregate_logits as aggregate_logits  # light

__getattr__, __dir__, _lazy = lazy_exports(__name__, {"STCN": "stcn", "count_parameters": "stcn"})
__all__ = sorted(_lazy + ["aggregate", "aggregate_logits"])
