"""Face crops for the model: square, with a margin, the eyes leveled when the detector gave landmarks."""

from __future__ import annotations

import cv2
import numpy as np

from fer.faces.detect import Face


def face_crop(frame: np.ndarray, face: Face, margin: float = 0.0, align: bool = True) -> np.ndarray:
    """The square crop around a face, `margin` of its side added on every edge, eyes leveled if `align`.

    The square is centered on the detector's box (side: its longer side); parts outside the frame repeat
    the edge pixels. With landmarks and align=True the frame is rotated about the box center so the eyes
    are level; without landmarks align has no effect.
    """
    box = face.box
    side = max(2, int(round(max(box.width, box.height) * (1 + 2 * margin))))
    center_x, center_y = box.center
    angle = face.eye_angle if align else 0.0
    matrix = cv2.getRotationMatrix2D((center_x, center_y), angle, 1.0)
    matrix[0, 2] += side / 2.0 - center_x
    matrix[1, 2] += side / 2.0 - center_y
    crop = cv2.warpAffine(np.ascontiguousarray(frame), matrix, (side, side), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop[:, :, None] if crop.ndim == 2 else crop
