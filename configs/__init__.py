# The configs, importable as the package ``stcnbuf.configs`` (pyproject.toml maps it here), so a checkout and an
# installed wheel find them the same way: Hydra's ``pkg://stcnbuf.configs``.
