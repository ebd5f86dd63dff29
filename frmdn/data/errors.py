"""The one base class of the errors that data loaders raise for input they cannot use."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Input data that cannot be used: missing, empty, too large, corrupt, of the wrong kind.

    Each loader raises its own subclass (``AudioError``, ``ImageDataError``,
    ``FrameDataError``) with a one-line message meant for the person who gave the file, so an
    app or a command line catches this one class and shows the message as is.
    """
