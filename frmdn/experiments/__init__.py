"""Experiments: RMDN against FRMDN at equal budget, the grid over kinds and seeds, its statistics.

- :mod:`frmdn.experiments.pair`: one RMDN and one FRMDN at equal K, rank and budget; tables
- :mod:`frmdn.experiments.grid`: the experiment grid (model kinds over seeds, resumable cells,
  tidy results)
- :mod:`frmdn.experiments.grid_stats`: what the grid's table says (spread over seeds, the
  flow's paired effect, a seed-noise verdict)

May import: everything below it (leaf utilities, models, data, training, checkpoints, views).
Not :mod:`frmdn.jobs`, its neighbour, nor anything above.
"""
