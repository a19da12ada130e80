"""The scoring protocols' names, shared by datasets (which one scores them) and the scorer (which computes it);
see :mod:`stcnbuf.evaluation.scoring`."""

PROTOCOLS = ("davis", "present", "lvos", "lvos_official")
