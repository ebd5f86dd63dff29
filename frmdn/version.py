"""The library's version: one place, read by ``pyproject.toml`` and written into checkpoints."""

__version__ = "0.2.0"
