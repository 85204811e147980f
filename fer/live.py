"""Live video: FaceTracker follows faces across frames by box overlap and smooths their probabilities;
LiveSession keeps one webcam's state across frames (tracks, Grad-CAM cadence)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Sequence

import numpy as np

from fer.annotate import annotate, label_text, tile_strip
from fer.explain import explain_frames, explains_without_tensorflow, overlay
from fer.faces import Box, to_rgb
from fer.pipeline import Recognizer

if TYPE_CHECKING:  # the Explainer's module imports TensorFlow
    from fer.explain import Explainer


@dataclasses.dataclass
class Track:
    """One face followed across frames, with its exponentially smoothed probabilities."""

    track_id: int
    box: Box
    probabilities: np.ndarray
    missed: int = 0


def box_iou(first: Box, second: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    left, top = max(first.x, second.x), max(first.y, second.y)
    right = min(first.x + first.width, second.x + second.width)
    bottom = min(first.y + first.height, second.y + second.height)
    intersection = max(0, right - left) * max(0, bottom - top)
    union = first.width * first.height + second.width * second.height - intersection
    return intersection / union if union > 0 else 0.0


@dataclasses.dataclass
class FaceTracker:
    """Greedy IoU matching of each frame's faces to existing tracks, with an EMA of their probabilities.

    `weight` is the share of the newest frame in the smoothed probabilities (1.0 = no smoothing); a track
    with no matching face for more than `max_missed` frames is dropped.
    """

    weight: float = 0.35
    min_iou: float = 0.3
    max_missed: int = 5
    tracks: list[Track] = dataclasses.field(default_factory=list)
    next_id: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"weight must be in (0, 1], got {self.weight}")
        if not 0.0 <= self.min_iou <= 1.0:
            raise ValueError(f"min_iou must be in [0, 1], got {self.min_iou}")

    def update(self, boxes: Sequence[Box], probabilities: np.ndarray) -> list[Track]:
        """Feed one frame's faces; returns the track of each face, in the order of `boxes`."""
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if len(probabilities) != len(boxes):
            raise ValueError(f"got {len(boxes)} boxes but {len(probabilities)} rows of probabilities")
        # Highest overlaps first, so two nearby faces do not steal each other's track.
        pairs = sorted(((box_iou(track.box, box), t, b) for t, track in enumerate(self.tracks)
                        for b, box in enumerate(boxes)), reverse=True)
        matched: dict[int, Track] = {}
        used: set[int] = set()
        for iou, t, b in pairs:
            if iou < self.min_iou:
                break
            if t in used or b in matched:
                continue
            track = self.tracks[t]
            track.box, track.missed = boxes[b], 0
            track.probabilities = self.weight * probabilities[b] + (1.0 - self.weight) * track.probabilities
            used.add(t)
            matched[b] = track
        survivors = []
        for t, track in enumerate(self.tracks):
            if t not in used:
                track.missed += 1
            if track.missed <= self.max_missed:
                survivors.append(track)
        for b, box in enumerate(boxes):
            if b not in matched:
                matched[b] = Track(self.next_id, box, probabilities[b].copy())
                self.next_id += 1
                survivors.append(matched[b])
        self.tracks = survivors
        return [matched[b] for b in range(len(boxes))]


@dataclasses.dataclass
class LiveFrame:
    """What one webcam frame gives back to show."""

    annotated: np.ndarray  # the frame with boxes and smoothed labels
    main_face: int | None  # index of the largest face (None: no face in view)
    main_probabilities: dict[str, float] | None  # its smoothed probabilities
    cam: np.ndarray | None  # a fresh Grad-CAM strip, or None when not due on this frame


@dataclasses.dataclass
class LiveSession:
    """Per-viewer state: tracks faces by box overlap, smooths their probabilities (EMA), and refreshes
    Grad-CAM of up to `cam_faces` faces every `cam_every` frames (skipped while the explainer is busy)."""

    weight: float = 0.35  # share of the newest frame in the smoothed probabilities
    min_iou: float = 0.3
    max_missed: int = 5
    cam_every: int = 10
    cam_faces: int = 4
    cam_tile: int = 160
    tracker: FaceTracker = dataclasses.field(init=False)
    frame_index: int = 0
    cam_frame: int | None = None  # the frame whose Grad-CAM is on show

    def __post_init__(self) -> None:
        self.tracker = FaceTracker(weight=self.weight, min_iou=self.min_iou, max_missed=self.max_missed)

    def step(self, recognizer: Recognizer, frame: np.ndarray, explainer: Explainer | None = None) -> LiveFrame:
        """Analyze one standardized frame (one batched model call) and update the tracks."""
        analysis = recognizer.analyze_frame(frame)
        tracks = self.tracker.update(analysis.boxes, analysis.probabilities)
        labels = recognizer.labels
        texts = [label_text(i, labels[int(np.argmax(t.probabilities))], float(t.probabilities.max()))
                 for i, t in enumerate(tracks)]
        main = max(range(len(tracks)), key=lambda i: tracks[i].box.area) if tracks else None
        probabilities = None if main is None else dict(zip(labels, map(float, tracks[main].probabilities)))
        cam = None
        due = self.cam_frame is None or self.frame_index - self.cam_frame >= max(1, int(self.cam_every))
        # A network with class maps (global average pooling) or gradcam.onnx gives Grad-CAM on ONNX Runtime,
        # without TensorFlow; others need the Keras explainer, skipped while another session is using it.
        own_maps = explains_without_tensorflow(recognizer.model, "gradcam")
        if tracks and due and (own_maps or (explainer is not None and not explainer.busy)):
            largest = sorted(range(len(tracks)), key=lambda i: tracks[i].box.area, reverse=True)[:self.cam_faces]
            chosen = sorted(largest)
            classes = [int(np.argmax(tracks[i].probabilities)) for i in chosen]
            heatmaps = explain_frames(recognizer.model, analysis.inputs[chosen], "gradcam", classes, lambda: explainer)
            overlays = [overlay(to_rgb(analysis.crops[i]), heatmap) for i, heatmap in zip(chosen, heatmaps)]
            cam = tile_strip(overlays, [labels[c] for c in classes], self.cam_tile)
            self.cam_frame = self.frame_index
        self.frame_index += 1
        return LiveFrame(annotate(frame, analysis.boxes, texts), main, probabilities, cam)
