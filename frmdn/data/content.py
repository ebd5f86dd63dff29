"""What a file holds, told by its leading bytes, and the byte limit of in-memory input.

File names lie (a PNG renamed ``.wav``, a video saved as ``.npz``), so the loaders ask
:func:`sniff` what the bytes are before decoding and refuse a kind they cannot use with a
message naming it. In-memory input (an upload) above a loader's byte limit is refused by
:func:`check_size` before anything is decoded.
"""

from __future__ import annotations

from frmdn.data.errors import DataError

__all__ = [
    "KINDS",
    "MAX_UPLOAD_BYTES",
    "check_size",
    "describe",
    "looks_like",
    "megabytes",
    "one_line",
    "sniff",
]

MAX_UPLOAD_BYTES = 50 * 2**20
"""The loaders' default limit for in-memory input: ``server.maxUploadSize`` (50 MB) of the app."""

KINDS = {
    "wav": "a WAV audio file",
    "flac": "a FLAC audio file",
    "ogg": "an Ogg file",
    "mp3": "an MP3 audio file",
    "aac": "an AAC audio stream",
    "aiff": "an AIFF audio file",
    "au": "a Sun/NeXT audio file",
    "mp4": "an MP4/MOV/M4A file",
    "matroska": "a WebM/Matroska video",
    "avi": "an AVI video",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "npy": "a NumPy .npy array",
    "zip": "a ZIP archive (or .npz)",
    "pdf": "a PDF document",
    "gzip": "a gzip archive",
    "text": "plain text",
}
"""The kinds :func:`sniff` tells apart, with a description for messages."""

_PREFIXES = (
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"ID3", "mp3"),
    (b".snd", "au"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x93NUMPY", "npy"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty ZIP archive
    (b"\x1a\x45\xdf\xa3", "matroska"),
    (b"%PDF", "pdf"),
    (b"\x1f\x8b", "gzip"),
)
_RIFF = {b"WAVE": "wav", b"AVI ": "avi", b"WEBP": "webp"}


def sniff(head: bytes) -> str | None:
    """The kind of a file (a key of :data:`KINDS`) from its first bytes, or None if unknown.

    ``head`` should be the first 512 bytes (fewer for a shorter file). Only the content
    counts, never a name.

    Example:
        >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n..."), sniff(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt ")
        ('png', 'wav')
    """
    for prefix, kind in _PREFIXES:
        if head.startswith(prefix):
            return kind
    if head[:4] in (b"RIFF", b"RF64"):
        return _RIFF.get(head[8:12])
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] in (b"ftyp", b"moov", b"mdat"):
        return "mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio frame sync
        return "aac" if head[1] & 0x06 == 0 else "mp3"  # layer bits 00: an ADTS (AAC) header
    sample = head[:512]
    if sample and all(32 <= b < 127 or b in b"\t\r\n" for b in sample):
        return "text"
    return None


def describe(kind: str | None) -> str:
    """A kind from :func:`sniff` in words, e.g. ``"a PNG image"``."""
    return KINDS.get(kind or "", "unrecognised content")


def looks_like(kind: str | None) -> str:
    """What a file seems to be, for the end of a message: ``"it looks like a PNG image"``."""
    return f"it looks like {KINDS[kind]}" if kind in KINDS else "its content is not recognised"


REASON_CHARS = 160
"""The most characters of a library's own error message quoted in ours: some quote the bytes
they could not read (numpy's header check quotes hundreds)."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line, at most REASON_CHARS long (cut with "…"), without a
    trailing full stop."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    line = " ".join(str(text).split()).rstrip(".")
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def megabytes(n_bytes: int) -> str:
    """A byte count in MB (2**20 bytes), e.g. ``"80.3 MB"`` or ``"50 MB"``."""
    text = f"{n_bytes / 2**20:.1f}"
    return f"{text.removesuffix('.0')} MB"


def check_size(n_bytes: int, limit: int, name: str, error: type[DataError]) -> None:
    """Raise ``error`` when ``name`` (``n_bytes`` long) is larger than ``limit`` bytes."""
    if n_bytes > limit:
        shown = megabytes(n_bytes)
        if shown == megabytes(limit):  # just over: do not say "50 MB; the limit is 50 MB"
            shown = f"{n_bytes:,} bytes"
        raise error(f"{name} is {shown}; the limit is {megabytes(limit)}")
