"""Error types the library raises for bad user input (all are ValueErrors), and their public wording."""

import re

# An absolute path: the messages name the file a user gave, but a server must not show where it keeps it.
_PATH = re.compile(r"(?:/[^/\s:'\"]+)+/([^/\s:'\"]+)")


class FerError(ValueError):
    """Base class: bad input that the caller can fix; the message says how."""


class DataFormatError(FerError):
    """A dataset file or folder is malformed (names the file, row and problem)."""


class ImageError(FerError):
    """An image cannot be read or has an unusable shape or type."""


class ModelSourceError(FerError):
    """A model source is unknown, missing, or inconsistent with its config."""


class VideoError(FerError):
    """A video file cannot be opened or decoded."""


def public_message(error: Exception) -> str:
    """The error's message with absolute paths cut to the file name, for a visitor of a server."""
    return _PATH.sub(r"\1", str(error))
