"""FaceTracker: follow faces across video frames by box overlap and smooth their probabilities over time."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fer.faces import Box


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
