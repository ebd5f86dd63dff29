"""Arrays behind the app's views: latent points, component ellipses, density maps, flow grids.

Everything here is plain numpy out, so :mod:`frmdn.plots` can draw it and tests can check it.
Data-space quantities are in data units; latent quantities are in the flow's z-space (for an
RMDN, z is the standardised target).

Modules, one family of views each:

- :mod:`frmdn.views.common`: per-step NLL, scoreboard and NLL tables
- :mod:`frmdn.views.toy`: latent points, mixture components, density grids, flow grid lines
- :mod:`frmdn.views.flow_layers`: the data and the plane after each layer of a 2D flow
- :mod:`frmdn.views.sequences`: continuing a prime, one-step predictions
- :mod:`frmdn.views.audio`: spectrograms of clips
- :mod:`frmdn.views.images`: mosaics, bits per pixel of rows and splits, sampled and completed
  images
- :mod:`frmdn.views.weights`: mixture weights of each step along a sequence
- :mod:`frmdn.views.predictive`: samples of one step's mixture, and how well its Gaussians fit
- :mod:`frmdn.views.dreams`: World Models dreams under tracks of actions a user steers (used as
  ``from frmdn.views import dreams``; its names are not re-exported)

Every public name is re-exported here, so ``from frmdn import views; views.X`` and
``from frmdn.views import X`` work as before.
"""

from frmdn.views.audio import spectrogram_db
from frmdn.views.common import (
    CLIP_VOICE,
    UNSEEN,
    frames_beyond,
    nll_scores,
    nll_table,
    overfitting_gaps,
    per_step_nll,
    scoreboard_table,
    split_nll,
)
from frmdn.views.flow_layers import FlowStage, flow_stages, layer_kind
from frmdn.views.images import (
    complete_images,
    image_mosaic,
    row_bits_per_pixel,
    rows_in_context,
    sample_images,
    split_bits_per_dim,
)
from frmdn.views.predictive import (
    MahalanobisFit,
    PredictiveSamples,
    ks_distance,
    mahalanobis_fit,
    predictive_samples,
)
from frmdn.views.sequences import continuation, one_step_predictions
from frmdn.views.toy import (
    Component,
    LatentPoints,
    data_bounds,
    density_grid,
    flow_grid_lines,
    latent_points,
    step_components,
    to_latent,
)
from frmdn.views.weights import mixture_weights

__all__ = [
    "CLIP_VOICE",
    "UNSEEN",
    "frames_beyond",
    "Component",
    "FlowStage",
    "LatentPoints",
    "MahalanobisFit",
    "PredictiveSamples",
    "complete_images",
    "continuation",
    "data_bounds",
    "density_grid",
    "flow_grid_lines",
    "flow_stages",
    "image_mosaic",
    "ks_distance",
    "latent_points",
    "layer_kind",
    "mahalanobis_fit",
    "mixture_weights",
    "nll_scores",
    "nll_table",
    "one_step_predictions",
    "overfitting_gaps",
    "per_step_nll",
    "predictive_samples",
    "row_bits_per_pixel",
    "rows_in_context",
    "sample_images",
    "scoreboard_table",
    "spectrogram_db",
    "split_bits_per_dim",
    "split_nll",
    "step_components",
    "to_latent",
]
