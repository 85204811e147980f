"""Drawing results on frames with OpenCV: a box and the top label per face."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from fer.faces import Box

# One colour (RGB) per face index, so a face keeps its colour in the boxes, labels and legend.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (46, 204, 113), (52, 152, 219), (231, 76, 60), (241, 196, 15), (155, 89, 182),
    (26, 188, 156), (230, 126, 34), (236, 240, 241),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def face_color(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def draw_face(frame: np.ndarray, box: Box, text: str, color: tuple[int, int, int]) -> None:
    """Draw one box and its label (in place) on an RGB uint8 frame; sizes follow the frame's size."""
    height, width = frame.shape[:2]
    thickness = max(1, round(max(height, width) / 400))
    scale = max(0.45, max(height, width) / 1000)
    left, top = box.x, box.y
    right, bottom = box.x + box.width - 1, box.y + box.height - 1
    cv2.rectangle(frame, (left, top), (right, bottom), color, thickness, cv2.LINE_AA)
    (text_width, text_height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    # Label above the box, or inside it when the box touches the top edge.
    label_top = top - text_height - baseline - 2 * thickness
    if label_top < 0:
        label_top = top
    label_left = min(left, max(0, width - text_width - 2 * thickness))
    label_bottom = label_top + text_height + baseline + 2 * thickness
    cv2.rectangle(frame, (label_left, label_top), (label_left + text_width + 2 * thickness, label_bottom),
                  color, cv2.FILLED)
    # Dark text on the light palette colours stays readable on any photo.
    cv2.putText(frame, text, (label_left + thickness, label_bottom - baseline - thickness), FONT, scale,
                (20, 20, 20), thickness, cv2.LINE_AA)


def annotate(frame: np.ndarray, boxes: Sequence[Box], texts: Sequence[str]) -> np.ndarray:
    """A copy of an RGB (or grey) uint8 frame with a numbered box and label per face."""
    if len(boxes) != len(texts):
        raise ValueError(f"got {len(boxes)} boxes but {len(texts)} labels")
    image = np.asarray(frame)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    else:
        image = np.ascontiguousarray(image[:, :, :3]).copy()
    for index, (box, text) in enumerate(zip(boxes, texts)):
        draw_face(image, box, text, face_color(index))
    return image


def label_text(index: int, label: str, score: float) -> str:
    """'#1 happy 87%': the face number matches the per-face panels and the explanation picker."""
    return f"#{index + 1} {label} {score:.0%}"
