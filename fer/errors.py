"""Error types the library raises for bad user input (all are ValueErrors)."""


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
