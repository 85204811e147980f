"""Test frames: real faces composed onto a real photo background, with the boxes where they were placed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from fer.faces import Box, find_faces, make_detector
from fer.images import load_image

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "fer2013"
FER2013_CSV = DATA_DIR / "fer2013.csv.gz"
FRAME_SIZE = (640, 480)  # width, height
# The background is the lower part of the Grace Hopper portrait (uniform, ribbons, flag): a real photo
# with texture and edges but no face. Rows above this one hold her face.
BACKGROUND_PHOTO = EXAMPLES / "grace_hopper.jpg"
BACKGROUND_FIRST_ROW = 380


@dataclasses.dataclass(frozen=True)
class Face:
    """A face image (grey or RGB uint8) and, when it comes from FER-2013, its emotion label index."""

    image: np.ndarray
    label: int | None = None


@dataclasses.dataclass(frozen=True)
class Frame:
    """An RGB frame and the box of every face pasted into it."""

    image: np.ndarray
    boxes: tuple[Box, ...]
    labels: tuple[int | None, ...]

    @property
    def bgr(self) -> np.ndarray:
        return np.ascontiguousarray(self.image[:, :, ::-1])


def background(size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """RGB uint8 background of `size` (width, height) cut from a real photo below the face."""
    photo = load_image(BACKGROUND_PHOTO)[BACKGROUND_FIRST_ROW:]
    return cv2.resize(np.ascontiguousarray(photo), size, interpolation=cv2.INTER_LINEAR)


def example_faces() -> list[Face]:
    """Face crops from the example photos, for machines without FER-2013.

    Cut along Haar's boxes, which frame a face about as FER-2013 does (YuNet's run from brows to chin):
    this is a source of test faces, not the pipeline under test.
    """
    found_by = make_detector("haar")
    faces = []
    for path in sorted(EXAMPLES.glob("*.jpg")):
        image = load_image(path)
        faces += [Face(np.ascontiguousarray(face.box.crop(image))) for face in find_faces(image, found_by)[0]]
    if not faces:
        raise RuntimeError(f"no face found in the example photos in {EXAMPLES}")
    return faces


def fer2013_faces(split: str = "PublicTest", limit: int | None = None) -> list[Face]:
    """48x48 grey faces with labels from ../shared/data (raises FileNotFoundError when absent)."""
    from fer.data import load_fer2013

    if not FER2013_CSV.is_file():
        raise FileNotFoundError(FER2013_CSV)
    data = load_fer2013(FER2013_CSV, split)
    count = len(data) if limit is None else min(limit, len(data))
    return [Face(data.images[i], int(data.labels[i])) for i in range(count)]


def grid_positions(count: int, size: tuple[int, int] = FRAME_SIZE) -> list[Box]:
    """Where `count` faces go: one large face in the middle, or a 2x2 grid; the side fills most of a cell."""
    width, height = size
    if count == 0:
        return []
    columns = 1 if count == 1 else 2
    rows = int(np.ceil(count / columns))
    cell_width, cell_height = width // columns, height // rows
    side = int(min(cell_width, cell_height) * (0.5 if count == 1 else 0.72))
    boxes = []
    for index in range(count):
        row, column = divmod(index, columns)
        x = column * cell_width + (cell_width - side) // 2
        y = row * cell_height + (cell_height - side) // 2
        boxes.append(Box(x, y, side, side))
    return boxes


def compose(faces: list[Face], size: tuple[int, int] = FRAME_SIZE, base: np.ndarray | None = None) -> Frame:
    """Paste the faces (resized to their grid cell) onto the background; grey faces become grey RGB."""
    image = (background(size) if base is None else base).copy()
    boxes = grid_positions(len(faces), size)
    for face, box in zip(faces, boxes):
        pixels = face.image if face.image.ndim == 3 else np.repeat(face.image[:, :, None], 3, axis=2)
        pixels = cv2.resize(np.ascontiguousarray(pixels[:, :, :3]), (box.width, box.height),
                            interpolation=cv2.INTER_CUBIC)
        image[box.y:box.y + box.height, box.x:box.x + box.width] = pixels
    return Frame(image, tuple(boxes), tuple(face.label for face in faces))


def composition_note(source: str) -> str:
    width, height = FRAME_SIZE
    return (f"{width}x{height} frames: {source} pasted (bicubic resize) onto the lower part of "
            f"{BACKGROUND_PHOTO.name} (below the face, resized to {width}x{height}); 1 face = "
            f"{grid_positions(1)[0].width} px in the middle, 4 faces = {grid_positions(4)[0].width} px in a 2x2 grid")


def intersection(first: Box, second: Box) -> int:
    """Area (pixels) that two boxes share."""
    left, top = max(first.x, second.x), max(first.y, second.y)
    right = min(first.x + first.width, second.x + second.width)
    bottom = min(first.y + first.height, second.y + second.height)
    return max(0, right - left) * max(0, bottom - top)


def is_placed_face(found: Box, placed: Box, share: float = 0.5) -> bool:
    """Whether a detected box is the face pasted at `placed`: at least `share` of the box lies inside it.

    Not intersection over union: FER-2013 crops frame their faces loosely and unevenly, so a correct box
    of a tight detector (YuNet's runs from brows to chin) can cover under 30% of the pasted square. The
    background holds no face, so a box mostly inside the square is on the pasted face.
    """
    return found.area > 0 and intersection(found, placed) / found.area >= share
