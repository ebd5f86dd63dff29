"""Training: the optimisation loop, resuming a killed run, and torchrun/DDP.

- :mod:`frmdn.training.trainer`: ``fit``, ``Trainer`` (steps in chunks, for the app;
  ``state_dict`` / ``load_state_dict`` to continue a run exactly), ``evaluate_nll``,
  ``TrainConfig``
- :mod:`frmdn.training.resume`: a run's whole state beside its checkpoint, for ``train --resume``
- :mod:`frmdn.training.distributed`: the process group, each rank's slice of the global batch

May import: the leaf utilities and :mod:`frmdn.models`. Not :mod:`frmdn.data`: training takes
tensors (or anything that indexes like them), so any data source trains the same way.
"""
