"""The buffer study on long videos: replacement policy x capacity, then burn-in passes x order and ablations of
burn-in (every frame segmented; its entries weighted down, evicted first, or kept only where confident), each
run an ``stcnbuf-eval`` run of its own (resumable), summarised into a table and plots
(``python -m stcnbuf.lab.study``, ``stcnbuf-study``).

Modules: ``grid`` (the default settings, read from ``configs/sweep/long_buffer.yaml`` and ``long_burn_in.yaml``),
``runs`` (what each run sets), ``runner`` (running them), ``summary`` and ``plots`` (the table and the figures).
"""

from stcnbuf.engine.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "BOUNDED": "grid", "Grid": "grid", "default_grid": "grid", "memory_preset": "grid",
    "StudyRun": "runs", "TREATMENTS": "runs", "study_runs": "runs", "treatments": "runs",
    "MACHINE_FILE": "runner", "run_study": "runner", "collect": "summary", "write_summary": "summary",
    "plot_study": "plots"})
