"""The app's job pool: bounded single-threaded worker processes and the jobs they run.

- :mod:`frmdn.jobs.pool`: ``JobRunner``, a fair queue over worker processes, with positions,
  per-session limits, cancelling and dead-worker recovery
- :mod:`frmdn.jobs.worker`: the worker process (``python -m frmdn.jobs.worker``)
- :mod:`frmdn.jobs.live_training`: an RMDN and an FRMDN trained side by side in chunks
- :mod:`frmdn.jobs.generation`: both models continuing the same audio

May import: everything below it (leaf utilities, models, data, training, checkpoints, views).
Not :mod:`frmdn.experiments`, its neighbour, nor anything above.
"""
