"""The memory bank and its replacement policies; pure tensor code."""

from stcnbuf.memory.bank import POLICIES, MemoryBank, MemoryFullError
from stcnbuf.memory.read import dense_topk_readout, key_bias, read_memory, softmax_readout, topk_readout

__all__ = ["POLICIES", "MemoryBank", "MemoryFullError", "dense_topk_readout", "key_bias", "read_memory",
           "softmax_readout", "topk_readout"]
