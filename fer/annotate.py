"""Drawing results: boxes, labels and landmarks on frames, Grad-CAM tiles, and the emotion timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

from fer.faces import Box, to_rgb

if TYPE_CHECKING:  # for type hints only: drawing needs none of the model code
    from fer.pipeline import FacePrediction

# One color (RGB) per face index, so a face keeps its color in the boxes, labels and legend.
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
    # Dark text on the light palette colors stays readable on any photo.
    cv2.putText(frame, text, (label_left + thickness, label_bottom - baseline - thickness), FONT, scale,
                (20, 20, 20), thickness, cv2.LINE_AA)


def draw_landmarks(frame: np.ndarray, landmarks: Sequence[tuple[float, float]], color: tuple[int, int, int]) -> None:
    """Small dots (in place) at a face's landmarks."""
    radius = max(1, round(max(frame.shape[:2]) / 300))
    for x, y in landmarks:
        cv2.circle(frame, (int(round(x)), int(round(y))), radius, color, cv2.FILLED, cv2.LINE_AA)


def annotate(frame: np.ndarray, boxes: Sequence[Box], texts: Sequence[str],
             landmarks: Sequence[Sequence[tuple[float, float]] | None] | None = None) -> np.ndarray:
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
        if landmarks is not None and landmarks[index] is not None:
            draw_landmarks(image, landmarks[index], face_color(index))
    return image


def label_text(index: int, label: str, score: float) -> str:
    """'#1 happy 87%': the face number matches the per-face panels and the explanation picker."""
    return f"#{index + 1} {label} {score:.0%}"


def face_texts(faces: Sequence[FacePrediction]) -> list[str]:
    """label_text() of each face, numbered in order."""
    return [label_text(i, face.label, face.score) for i, face in enumerate(faces)]


def annotate_faces(frame: np.ndarray, faces: Sequence[FacePrediction], scale: float = 1.0) -> np.ndarray:
    """annotate() with each face's box, label and landmarks, for a frame shown at `scale` of the analyzed one."""
    return annotate(frame, [scale_box(face.box, scale) for face in faces], face_texts(faces),
                    [scale_points(face.landmarks, scale) for face in faces])


def fit_within(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most max_side; returns the image and the scale used."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    return (resized[:, :, None] if resized.ndim == 2 else resized), scale


def fit_between(image: np.ndarray, min_side: int, max_side: int) -> np.ndarray:
    """Resize so the longer side lies within min_side..max_side: small face crops are enlarged for display."""
    longest = max(image.shape[:2])
    if longest >= min_side:
        return fit_within(image, max_side)[0]
    scale = min_side / longest
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    resized = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_CUBIC)
    return resized[:, :, None] if resized.ndim == 2 else resized


def scale_box(box: Box, scale: float) -> Box:
    if scale == 1.0:
        return box
    return Box(int(box.x * scale), int(box.y * scale), max(1, int(box.width * scale)), max(1, int(box.height * scale)))


def scale_points(points: Sequence[tuple[float, float]] | None, scale: float):
    return None if points is None else [(x * scale, y * scale) for x, y in points]


def tile_strip(tiles: Sequence[np.ndarray], captions: Sequence[str], side: int = 160) -> np.ndarray:
    """RGB images resized to side x side with a caption each, side by side in one strip."""
    out = []
    for tile, caption in zip(tiles, captions):
        tile = cv2.resize(to_rgb(np.asarray(tile, np.uint8)), (side, side), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, caption, (4, side - 8), FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        out.append(tile)
    return np.concatenate(out, axis=1)


def timeline_figure(times: Sequence[float], rows: Sequence[np.ndarray], labels: Sequence[str],
                    title: str = "Emotion timeline (largest face)"):
    """Each emotion's probability over time (gaps where a row is NaN: no face in that frame)."""
    from matplotlib.figure import Figure  # only the video paths draw plots

    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.add_subplot()
    values = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(labels))
    for column, label in enumerate(labels):
        axes.plot(times, values[:, column], label=label, linewidth=1.5)
    axes.set(xlabel="time (s)", ylabel="probability", ylim=(0, 1), title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    return figure
