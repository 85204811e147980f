"""The PyPI `fer` package's exception names (fer.exceptions), as subclasses of our own errors, so `except`
clauses written for either library catch them."""

from fer.errors import FerError, ImageError, ModelSourceError


class InvalidImage(ImageError):
    """An image cannot be read: None, a missing or undecodable file, an unsupported type or shape."""


class InvalidModelFile(ModelSourceError):
    """The emotion model given to fer.FER cannot be found or loaded."""


class FaceDetectionError(FerError):
    """fer's name for a failing face detector. Never raised here (our detectors report bad input as other
    FerErrors); it exists so code that imports or catches it keeps working."""
