"""Plotly figures for the FRMDN Lab: losses, latent spaces, density maps, samples and scores.

Every builder takes plain numpy arrays (mostly from :mod:`frmdn.views`) and returns a
:class:`plotly.graph_objects.Figure` on the white template, with titled axes, hover values and
a horizontal legend under the plots. Colours are shared by the whole app: :data:`MODEL_COLORS`
for models and data, :func:`component_color` for mixture components.

Modules, one family of figures each:

- :mod:`frmdn.plots.common`: shared colours, layout and helpers (incl. image panels)
- :mod:`frmdn.plots.training`: NLL during training, held-out NLL per model
- :mod:`frmdn.plots.toy`: Gaussian ellipses, data vs latent space, next-step density maps
- :mod:`frmdn.plots.flow_layers`: the data and the plane bending layer by layer through a flow
- :mod:`frmdn.plots.trajectories`: real against generated 2D toy sequences
- :mod:`frmdn.plots.audio`: waveforms, spectrograms, NLL along a clip
- :mod:`frmdn.plots.images`: digit grids and per-row bits per pixel
- :mod:`frmdn.plots.frames`: looping GIFs and filmstrips of frame sequences
- :mod:`frmdn.plots.compare`: the experiment grid: seeds per model, paired differences, head sizes
- :mod:`frmdn.plots.weights`: mixture weights over time, stacked per model
- :mod:`frmdn.plots.predictive`: samples of one step's mixture, Q-Q plots of its residuals

The other public constants (``HEIGHT``, ``AUDIO_HEIGHT``, ``GREYS``, ...) stay reachable as
``frmdn.plots.X`` through ``X as X`` re-exports, and, as before, are not in ``__all__``.
"""

from frmdn.plots.audio import AUDIO_HEIGHT as AUDIO_HEIGHT
from frmdn.plots.audio import SPECTROGRAM_COLORSCALE as SPECTROGRAM_COLORSCALE
from frmdn.plots.audio import (
    nll_along_clip_figure,
    spectrogram_figure,
    waveform_figure,
)
from frmdn.plots.common import (
    COMPONENT_COLORS,
    GRID_COLOR,
    MODEL_COLORS,
    component_color,
    model_color,
)
from frmdn.plots.common import FALLBACK_COLOR as FALLBACK_COLOR
from frmdn.plots.common import GREYS as GREYS
from frmdn.plots.common import HEIGHT as HEIGHT
from frmdn.plots.common import IMAGE_FIGURE_WIDTH as IMAGE_FIGURE_WIDTH
from frmdn.plots.common import LEGEND_BELOW as LEGEND_BELOW
from frmdn.plots.common import MARGIN as MARGIN
from frmdn.plots.common import PRIME_LINE_COLOR as PRIME_LINE_COLOR
from frmdn.plots.compare import (
    head_size_figure,
    paired_difference_figure,
    parameters_nll_figure,
    seed_strip_figure,
)
from frmdn.plots.flow_layers import flow_layers_figure
from frmdn.plots.frames import episode_end_figure, filmstrip_figure, frame_grid, frames_gif
from frmdn.plots.images import digit_grid_figure, row_profile_figure, row_surprise_figure
from frmdn.plots.predictive import (
    predictive_frames_figure,
    predictive_samples_figure,
    predictive_traces_figure,
    qq_figure,
)
from frmdn.plots.toy import density_figure, ellipse_xy, latent_space_figure
from frmdn.plots.training import loss_figure, nll_bar_figure
from frmdn.plots.trajectories import trajectories_figure
from frmdn.plots.weights import mixture_weights_figure

__all__ = [
    "COMPONENT_COLORS",
    "GRID_COLOR",
    "MODEL_COLORS",
    "component_color",
    "density_figure",
    "digit_grid_figure",
    "ellipse_xy",
    "episode_end_figure",
    "filmstrip_figure",
    "frame_grid",
    "flow_layers_figure",
    "frames_gif",
    "head_size_figure",
    "latent_space_figure",
    "loss_figure",
    "mixture_weights_figure",
    "model_color",
    "nll_along_clip_figure",
    "nll_bar_figure",
    "paired_difference_figure",
    "parameters_nll_figure",
    "predictive_frames_figure",
    "predictive_samples_figure",
    "predictive_traces_figure",
    "qq_figure",
    "row_profile_figure",
    "row_surprise_figure",
    "seed_strip_figure",
    "spectrogram_figure",
    "trajectories_figure",
    "waveform_figure",
]
