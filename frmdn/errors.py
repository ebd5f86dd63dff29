"""Errors the library raises on purpose, in a module of their own so that any module can raise
or catch them without importing the module that defines the failing machinery."""

from __future__ import annotations

__all__ = ["CheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, unsafe or inconsistent."""
