"""The command line, ``python -m frmdn``: train, eval, sample, compare and experiments.

- :mod:`frmdn.cli.main`: the parser, ``train``, ``eval`` and ``compare``, and ``main()``
- :mod:`frmdn.cli.sample`: ``sample`` (CSV, NPY, WAV, PNG and GIF outputs)
- :mod:`frmdn.cli.experiments`: ``experiments`` (the grid)
- :mod:`frmdn.cli.common`: what the commands share (a checkpoint's recorded data spec)

May import: every layer of the library. Nothing in the library imports it.
"""
