"""Network parts and the STCN network: pure ``nn.Module`` code, no IO and no memory policy."""

from stcnbuf.model.aggregate import aggregate, aggregate_logits
from stcnbuf.model.stcn import STCN, count_parameters

__all__ = ["STCN", "aggregate", "aggregate_logits", "count_parameters"]
