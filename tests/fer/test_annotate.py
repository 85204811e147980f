"""fer.annotate: faces drawn with their numbered labels, on a frame shown at another scale."""

from __future__ import annotations

import numpy as np

from fer.annotate import annotate, annotate_faces, face_color, face_texts
from fer.faces import Box
from fer.pipeline import FacePrediction


def faces() -> list[FacePrediction]:
    return [FacePrediction(Box(40, 20, 100, 100), {"happy": 0.875, "sad": 0.125}, ((70.0, 90.0), (110.0, 90.0))),
            FacePrediction(Box(200, 60, 60, 60), {"happy": 0.3, "sad": 0.7})]


def test_face_texts_number_the_faces_in_order():
    assert face_texts(faces()) == ["#1 happy 88%", "#2 sad 70%"]
    assert face_texts([]) == []


def test_annotate_faces_draws_boxes_and_landmarks_at_the_display_scale():
    frame = np.zeros((200, 300, 3), np.uint8)
    drawn = annotate_faces(frame, faces(), 0.5)
    assert drawn.shape == frame.shape and drawn.any()
    assert frame.max() == 0  # a copy: the frame itself is untouched
    # Face #1's box, halved: its left edge at x = 20 in the box's color; its first landmark at (35, 45).
    assert np.abs(drawn[40, 20].astype(int) - face_color(0)).max() < 30
    assert np.abs(drawn[45, 35].astype(int) - face_color(0)).max() < 30
    assert np.abs(drawn[45, 100].astype(int) - face_color(1)).max() < 30  # face #2's left edge
    boxes_only = annotate(frame, [Box(20, 10, 50, 50), Box(100, 30, 30, 30)], face_texts(faces()))
    assert (drawn != boxes_only).any()  # the landmarks are the difference
    np.testing.assert_array_equal(annotate_faces(frame, []), frame)
