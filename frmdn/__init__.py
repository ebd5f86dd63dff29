"""FRMDN Lab: Flow-based Recurrent Mixture Density Networks (and plain RMDNs) in PyTorch.

References:
    | Flow-based Recurrent Mixture Density Networks (Razavi & Hosseini, 2020)
    | https://arxiv.org/abs/2008.02144
"""

from frmdn.checkpoints.archive import load_archive
from frmdn.checkpoints.load import load
from frmdn.errors import CheckpointError
from frmdn.models.config import ModelConfig
from frmdn.models.mixture import LowRankPrecisionGMM
from frmdn.models.sequence import FRMDN, RMDN, SequenceDensityModel
from frmdn.training.trainer import FitResult, Progress, TrainConfig, Trainer, evaluate_nll, fit
from frmdn.version import __version__

__all__ = [
    "FRMDN",
    "RMDN",
    "CheckpointError",
    "FitResult",
    "LowRankPrecisionGMM",
    "ModelConfig",
    "Progress",
    "SequenceDensityModel",
    "TrainConfig",
    "__version__",
    "Trainer",
    "evaluate_nll",
    "fit",
    "load",
    "load_archive",
]
