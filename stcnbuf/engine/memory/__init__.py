"""The memory bank and its replacement policies; pure tensor code."""

from stcnbuf.engine.memory.bank import POLICIES, MemoryBank, MemoryFullError, check_burn_in_settings
from stcnbuf.engine.memory.read import dense_topk_readout, key_bias, read_memory, softmax_readout, topk_readout

__all__ = ["POLICIES", "MemoryBank", "MemoryFullError", "check_burn_in_settings", "dense_topk_readout", "key_bias", "read_memory",
           "softmax_readout", "topk_readout"]
