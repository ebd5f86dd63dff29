"""Checkpoints as models: a checked model from a checkpoint directory or a zipped upload.

The bytes on disk (safetensors + JSON, atomic saves) are :mod:`frmdn.storage`, a leaf utility
that models use to save themselves; this layer knows the models' settings and builds them.

- :mod:`frmdn.checkpoints.load`: ``load`` a directory; the checks of a config's model settings
- :mod:`frmdn.checkpoints.archive`: ``load_archive``: a zipped checkpoint read in memory

May import: the leaf utilities, :mod:`frmdn.models` and :mod:`frmdn.data` (what an uploaded
file is, by its bytes).
"""
