"""The memory bank, its replacement policies and the treatment of burn-in entries; pure tensor code."""

from stcnbuf.engine.memory.bank import MemoryBank
from stcnbuf.engine.memory.burn_in import BurnInTreatment, check_burn_in_settings
from stcnbuf.engine.memory.policies import (POLICIES, FramePolicy, MemoryFullError, PermanentMemory, ReplacementPolicy,
                                            policy_class, register_policy, unregister_policy)
from stcnbuf.engine.memory.read import dense_topk_readout, key_bias, read_memory, softmax_readout, topk_readout

__all__ = ["POLICIES", "BurnInTreatment", "FramePolicy", "MemoryBank", "MemoryFullError", "PermanentMemory",
           "ReplacementPolicy", "check_burn_in_settings", "dense_topk_readout", "key_bias", "policy_class",
           "read_memory", "register_policy", "softmax_readout", "topk_readout", "unregister_policy"]
