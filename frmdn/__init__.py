"""FRMDN Lab: Flow-based Recurrent Mixture Density Networks (and plain RMDNs) in PyTorch.

References:
    | Flow-based Recurrent Mixture Density Networks (Razavi & Hosseini, 2020)
    | https://arxiv.org/abs/2008.02144
"""

__version__ = "0.1.0"

from frmdn.checkpoint import load
from frmdn.checkpoint_archive import load_archive
from frmdn.errors import CheckpointError
from frmdn.mixture import LowRankPrecisionGMM
from frmdn.model import FRMDN, RMDN, ModelConfig, SequenceDensityModel
from frmdn.train import FitResult, Progress, TrainConfig, Trainer, evaluate_nll, fit

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
    "Trainer",
    "evaluate_nll",
    "fit",
    "load",
    "load_archive",
]
