"""load_image(): read a path, bytes, PIL image or array into a numpy RGB/grey array, with clear errors."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from fer.errors import ImageError

# Refuse decompression bombs early; a 8000x8000 photo (64 MP) is still accepted.
MAX_IMAGE_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def _from_pil(image: Image.Image) -> np.ndarray:
    # Honour EXIF orientation so phone photos are upright before detection. Without an orientation tag the copy
    # exif_transpose() would return is not needed (a whole-photo copy per frame in the batch CLI).
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated GIF / multi-page TIFF: use the first frame
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        return np.clip(array, 0, 65535).astype(np.uint16)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    if image.mode in ("L", "1"):
        return np.asarray(image.convert("L"))
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))  # CMYK, YCbCr, P ...


def load_image(source: Any) -> np.ndarray:
    """Return an (H, W) grey or (H, W, 3/4) RGB(A) array from a path, bytes, PIL image or numpy array.

    Arrays are returned as they are (their channel order is the caller's to state downstream).
    """
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("image data is empty (0 bytes)")
        opener, name = io.BytesIO(source), "image data"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{path}: no such image file")
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: file is empty (0 bytes)")
        opener, name = path, str(path)
    else:
        raise ImageError(f"cannot read an image from {type(source).__name__}; pass a path, bytes, PIL image or array")
    try:
        with Image.open(opener) as image:
            # PIL only refuses images over twice its limit (it just warns below that): enforce ours before decoding.
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(f"{image.width}x{image.height}")
            image.load()
            return _from_pil(image)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a recognized image format") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: image is too large (over {MAX_IMAGE_PIXELS:,} pixels)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{name}: cannot decode image ({error})") from None
