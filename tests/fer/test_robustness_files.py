"""Hostile image files written in the test: each is read correctly or refused with a clear ImageError."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer.errors import ImageError
from fer.faces import Box
from fer.images import load_image

EXIF_ORIENTATION = 0x0112
# EXIF orientation -> how the camera stored an upright scene (the reader must undo it).
STORED_AS = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # counter-clockwise; orientation 6 means "rotate 90° clockwise to view"
    8: Image.Transpose.ROTATE_270,
}


@pytest.fixture(scope="module")
def photo(face_photo_path) -> Image.Image:
    with Image.open(face_photo_path) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def upright_box(recognizer, photo) -> Box:
    faces = recognizer.predict(photo)
    assert len(faces) == 1, "the example photo must show exactly one detectable face"
    return faces[0].box


def encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header but carries almost no pixel data (a decompression-bomb probe)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("format", ["JPEG", "PNG"])
@pytest.mark.parametrize("kept", [0.5, 0.05])
def test_truncated_files_are_refused_naming_the_file(tmp_path, photo, recognizer, format, kept):
    data = encoded(photo, format)
    path = write(tmp_path / f"cut.{format.lower()}", data[: int(len(data) * kept)])
    with pytest.raises(ImageError, match="cannot decode image") as raised:
        recognizer.predict(path)
    assert str(path) in str(raised.value)
    assert "truncated" in str(raised.value).lower()


def test_zero_byte_file_is_refused(tmp_path, recognizer):
    path = write(tmp_path / "empty.jpg", b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: file is empty \(0 bytes\)"):
        recognizer.predict(path)


def test_text_renamed_to_jpg_is_refused(tmp_path, recognizer):
    path = write(tmp_path / "notes.jpg", b"name,emotion\nalice,happy\n")
    with pytest.raises(ImageError, match=r"notes\.jpg: not a recognized image format"):
        recognizer.predict(path)


def test_one_pixel_image_has_no_faces(tmp_path, recognizer):
    path = write(tmp_path / "dot.png", encoded(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"))
    assert recognizer.read(path).shape == (1, 1, 3)
    assert recognizer.predict(path) == []


def test_extreme_aspect_ratio_image_is_read_and_has_no_faces(tmp_path, recognizer):
    strip = np.tile(np.arange(256, dtype=np.uint8), (100, 20000 // 256 + 1))[:, :20000]
    path = write(tmp_path / "strip.png", encoded(Image.fromarray(strip), "PNG"))
    assert recognizer.read(path).shape == (100, 20000, 1)
    assert recognizer.predict(path) == []


def test_8000_pixel_square_photo_finds_the_face_at_full_scale(tmp_path, photo, recognizer, upright_box):
    # Grey keeps the 64-megapixel test at 64 MB; the face is the example photo scaled up 8 times.
    canvas = Image.new("L", (8000, 8000), 128)
    canvas.paste(photo.convert("L").resize((photo.width * 8, photo.height * 8)), (1000, 1000))
    path = write(tmp_path / "huge.jpg", encoded(canvas, "JPEG", quality=80))
    del canvas
    faces = recognizer.predict(path)
    assert len(faces) == 1
    box, expected = faces[0].box, upright_box
    # Same face, in full-resolution coordinates (detection runs on a 384-pixel copy, where a pixel is 21 of
    # these: the tolerance is 6 pixels there).
    assert box.x == pytest.approx(1000 + expected.x * 8, abs=125)
    assert box.y == pytest.approx(1000 + expected.y * 8, abs=125)
    assert box.width == pytest.approx(expected.width * 8, rel=0.15)


def test_decompression_bomb_is_refused_before_decoding(tmp_path, recognizer):
    path = write(tmp_path / "bomb.png", png_header_only(11_000, 11_000))  # 121 megapixels, a few bytes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageError, match=r"bomb\.png: image is too large \(over 100,000,000 pixels\)"):
            recognizer.predict(path)


def test_16_bit_png_keeps_its_range(tmp_path, recognizer):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = write(tmp_path / "deep.png", encoded(Image.fromarray(ramp), "PNG"))
    image = load_image(path)
    assert image.dtype == np.uint16 and image.max() == 65535
    frame = recognizer.read(path)
    assert frame.shape == (64, 64, 1) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[:, :, 0], (ramp // 257).astype(np.uint8))


def test_cmyk_jpeg_is_read_as_rgb_and_its_face_found(tmp_path, photo, recognizer, upright_box):
    path = write(tmp_path / "print.jpg", encoded(photo.convert("CMYK"), "JPEG", quality=95))
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    frame = recognizer.read(path)
    assert frame.shape == (photo.height, photo.width, 3)
    # Colors survive the CMYK round trip closely enough for the detector.
    assert np.abs(frame.astype(int) - np.asarray(photo, dtype=int)).mean() < 12
    faces = recognizer.predict(path)
    assert len(faces) == 1
    assert faces[0].box.to_list() == pytest.approx(upright_box.to_list(), abs=10)


def test_animated_gif_uses_the_first_frame(tmp_path, recognizer):
    frames = [Image.new("RGB", (40, 30), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "blink.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as check:
        assert check.n_frames == 3
    frame = recognizer.read(path)
    assert frame.shape == (30, 40, 3)
    assert tuple(frame[0, 0]) == (255, 0, 0)
    assert recognizer.predict(path) == []


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_exif_orientation_is_honoured(tmp_path, photo, recognizer, upright_box, orientation):
    stored = photo.transpose(STORED_AS[orientation])
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    path = write(tmp_path / f"phone-{orientation}.jpg", encoded(stored, "JPEG", quality=95, exif=exif.tobytes()))
    frame = recognizer.read(path)
    assert frame.shape == (photo.height, photo.width, 3)  # upright again
    faces = recognizer.predict(path)
    assert len(faces) == 1
    assert faces[0].box.to_list() == pytest.approx(upright_box.to_list(), abs=10)


def test_without_exif_the_sideways_photo_shows_no_face(tmp_path, photo, recognizer, upright_box):
    # Control for the test above: the frontal-face detector only finds the face once the photo is upright
    # (on the sideways photo Haar may still report a small false positive in the uniform, never the face).
    path = write(tmp_path / "sideways.jpg", encoded(photo.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95))
    assert recognizer.read(path).shape == (photo.width, photo.height, 3)
    assert all(face.box.width < upright_box.width / 2 for face in recognizer.predict(path))
