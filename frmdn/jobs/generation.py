"""Generation as a background job: several models continue the same prime, side by side.

The audio page submits :func:`continue_side_by_side` to a :class:`~frmdn.jobs.pool.JobRunner`, so
sampling seconds of audio never blocks the page's script thread or competes for its cores.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from torch import Tensor

from frmdn.jobs.pool import JobContext
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import build_model
from frmdn.views import continuation

__all__ = ["continue_side_by_side"]


def continue_side_by_side(
    context: JobContext,
    models: Mapping[str, tuple[ModelConfig, dict[str, Tensor]]],
    prime: Tensor,
    steps: int,
    temperature: float,
    seed: int,
    bound: float | None,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Per model (config and weights), the ``prime`` (T0, d) followed by ``steps`` generated
    steps, (T0 + steps, d), each drawn from the same seed (see :func:`frmdn.views.continuation`)
    by the model on ``device``.
    """
    generated = {}
    for name, (config, weights) in models.items():
        if context.should_stop():
            break
        model = build_model(config).to(device)
        model.load_state_dict(weights)
        generated[name] = continuation(model, prime, steps, temperature, seed, bound)
    return generated
