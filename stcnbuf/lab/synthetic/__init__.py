"""Synthetic data generators (``python -m stcnbuf.lab.synthetic``, ``stcnbuf-synthetic``).

Generators: ``default`` (the embedded default dataset, DAVIS 2017 layout; read by ``dataset``), ``transfer``
(scenes from other parts, never trained on) and ``long`` (thousands of frames with scheduled events). Shared:
``scene`` with ``textures`` and ``shapes`` (the scene model of ``default`` and ``long``), ``config`` (parameters
and their key), ``writer`` (frames to files, in parallel) and ``cache`` (generation on first use, reuse).
"""
