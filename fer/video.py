"""Videos: read every k-th frame with its time, and run the Recognizer on each (one loop for every caller)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from fer.errors import VideoError
from fer.pipeline import FrameAnalysis, Recognizer

VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v")
DEFAULT_FPS = 25.0  # when a file states no usable frame rate


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    fps: float
    frame_count: int  # as the container states it (0 when unknown)
    width: int
    height: int


@dataclasses.dataclass
class VideoFrame:
    """One decoded frame (RGB uint8, downscaled to max_side) and, if it was analyzed, the analysis."""

    index: int
    time: float  # seconds from the start
    image: np.ndarray
    analysis: FrameAnalysis | None = None


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _fit_within(image: np.ndarray, max_side: int | None) -> np.ndarray:
    height, width = image.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


class VideoReader:
    """Frames of a video file in order, with their index and time; a context manager that releases the file."""

    def __init__(self, path: str | Path, max_side: int | None = None, max_seconds: float | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"{self.path}: no such video file")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoError(f"{self.path.name}: cannot be read as a video (try MP4 or WebM)")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.info = VideoInfo(
            fps=fps if np.isfinite(fps) and 1.0 <= fps <= 240.0 else DEFAULT_FPS,
            frame_count=max(0, int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
            width=int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        )
        self.max_side = max_side
        self.max_frames = int(max_seconds * self.info.fps) if max_seconds else None
        self.frames_read = 0
        self.truncated = False  # True when max_seconds cut the video short

    @property
    def expected_frames(self) -> int:
        """Frames this reader will yield at most (0 when the container does not say)."""
        counts = [c for c in (self.info.frame_count, self.max_frames) if c]
        return min(counts) if counts else 0

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        while self.max_frames is None or self.frames_read < self.max_frames:
            ok, bgr = self._capture.read()
            if not ok or bgr is None:
                return
            index = self.frames_read
            self.frames_read += 1
            rgb = np.ascontiguousarray(_fit_within(bgr, self.max_side)[:, :, ::-1])
            yield index, index / self.info.fps, rgb
        self.truncated = self._capture.grab()

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def analyze_video(recognizer: Recognizer, reader: VideoReader, every: int = 1,
                  all_frames: bool = False, tta: str | None = None) -> Iterator[VideoFrame]:
    """Analyze every `every`-th frame of an open reader; with all_frames, also yield the skipped frames
    (analysis None), e.g. to write an annotated copy of the whole video."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    for index, seconds, image in reader:
        if index % every == 0:
            yield VideoFrame(index, seconds, image, recognizer.analyze_frame(image, tta))
        elif all_frames:
            yield VideoFrame(index, seconds, image)


def temporary_output_path(max_age: float = 15 * 60, suffix: str = ".webm") -> Path:
    """A fresh file in the temp folder's fer-videos/, for an annotated copy that a server hands out.

    Outputs older than `max_age` seconds are removed first, so a long-running server does not fill the disk.
    """
    folder = Path(tempfile.gettempdir()) / "fer-videos"
    folder.mkdir(exist_ok=True)
    for old in folder.glob(f"*{suffix}"):
        try:
            if time.time() - old.stat().st_mtime > max_age:
                old.unlink()
        except OSError:
            pass  # removed by a concurrent request
    handle, path = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.close(handle)
    return Path(path)


class VideoWriter:
    """Write RGB frames to a WebM (VP8) file, opened on the first frame; `opened` is False if OpenCV cannot.

    WebM/VP8 plays in browsers and OpenCV's wheels write it without ffmpeg (OpenCV logs a harmless note
    that the 'VP80' tag is not the container's own).
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        self._writer = None
        self.opened = False
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            height, width = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"VP80"), self.fps, (width, height))
            self.opened = self._writer.isOpened()
        if self.opened:
            self._writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
            self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass
class VideoSummary:
    """A video's analysis in numbers: per analyzed frame its time and the largest face's probabilities."""

    labels: tuple[str, ...]
    every: int = 1  # 1 in `every` frames was analyzed
    fps: float = DEFAULT_FPS
    times: list[float] = dataclasses.field(default_factory=list)
    rows: list[np.ndarray] = dataclasses.field(default_factory=list)  # NaN rows: no face in that frame
    frames_read: int = 0
    faces_seen: int = 0  # analyzed frames with at least one face

    @property
    def analyzed(self) -> int:
        return len(self.times)

    def describe(self) -> str:
        """One sentence: how much of the video was analyzed and in how many frames a face was found."""
        read, fps = self.frames_read, self.fps
        return (f"Analyzed {self.analyzed} of {read} frames (1 in {self.every}, {read / fps:.1f} s at {fps:.0f} fps); "
                f"a face was found in {self.faces_seen} of them.")


def annotate_video(recognizer: Recognizer, reader: VideoReader, writer: VideoWriter | None, every: int = 1,
                   progress=None) -> VideoSummary:
    """Analyze every `every`-th frame, write every frame with the latest boxes and labels drawn (labels
    persist on the frames between analyzed ones), and summarize the largest face over time.

    progress(done, total) is called after each analyzed frame (total 0 when the file does not say)."""
    from fer.annotate import annotate, face_texts

    summary = VideoSummary(recognizer.labels, every, reader.info.fps)
    boxes, texts = [], []
    for item in analyze_video(recognizer, reader, every, all_frames=writer is not None):
        if item.analysis is not None:
            faces = item.analysis.faces
            boxes = item.analysis.boxes
            texts = face_texts(faces)
            largest = max(faces, key=lambda f: f.box.area, default=None)
            summary.faces_seen += largest is not None
            summary.times.append(item.time)
            summary.rows.append(np.full(len(summary.labels), np.nan, np.float32) if largest is None
                                else np.array([largest.probabilities[label] for label in summary.labels]))
            if progress is not None:
                progress(item.index + 1, reader.expected_frames)
        if writer is not None:
            writer.write(annotate(item.image, boxes, texts))
    summary.frames_read = reader.frames_read
    return summary
