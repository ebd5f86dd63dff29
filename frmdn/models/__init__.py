"""The maths: distributions, flows and networks, with no data loading and no app code.

Modules, one concept each:

- :mod:`frmdn.models.mixture`: :class:`~frmdn.models.mixture.LowRankPrecisionGMM`, the mixture
  with precision :math:`D + UU^\\top` (and the diagonal case)
- :mod:`frmdn.models.full_covariance`: the full-covariance (Cholesky) mixture, the O(Kd²)
  reference
- :mod:`frmdn.models.flows`: affine couplings, the RealNVP stack, the identity flow
- :mod:`frmdn.models.heads`: the heads that turn the LSTM output into each step's mixture
- :mod:`frmdn.models.pitch`: the audio pitch predictor (a differentiable long-term predictor)
- :mod:`frmdn.models.config`: :class:`~frmdn.models.config.ModelConfig`, a model's settings
- :mod:`frmdn.models.sequence`: :class:`~frmdn.models.sequence.SequenceDensityModel` and its two
  presets, ``RMDN`` (identity flow) and ``FRMDN``
- :mod:`frmdn.models.vae`: the conv VAE that turns frames into latent sequences

May import: the leaf utilities (:mod:`frmdn.errors`, :mod:`frmdn.device`,
:mod:`frmdn.precision`, :mod:`frmdn.storage`, ...). Nothing above (see ``docs/architecture.md``).
"""
