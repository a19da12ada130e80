"""The scoring protocols' names (each dataset names the one that scores it, ``VOSDataset.protocol``); the scorer,
:mod:`stcnbuf.scoring.scorer`, computes them and checks the name."""

PROTOCOLS = ("davis", "present", "lvos", "lvos_official")
