"""fer.video: frames with times, every k-th frame analyzed, the summary, and unreadable files."""

from __future__ import annotations

import numpy as np
import pytest

from app_server import example_rgb, letterbox, write_video
from fer.errors import VideoError
from fer.pipeline import Recognizer
from fer.video import VideoReader, VideoSummary, VideoWriter, analyze_video, annotate_video, temporary_output_path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    face = letterbox(example_rgb(), 320, 240)
    return write_video(tmp_path_factory.mktemp("video") / "clip.avi", [face] * 6 + [np.full_like(face, 80)] * 4, 5)


def test_every_kth_frame_is_analysed_with_its_time(tiny_model, clip):
    with VideoReader(clip) as reader:
        assert reader.info.fps == 5 and reader.info.frame_count == 10 and reader.expected_frames == 10
        items = list(analyze_video(Recognizer(tiny_model), reader, every=3))
    assert [(item.index, item.time) for item in items] == [(0, 0.0), (3, 0.6), (6, 1.2), (9, 1.8)]
    assert [item.analysis.kept for item in items] == [1, 1, 0, 0]
    assert items[0].image.shape == (240, 320, 3)


def test_max_seconds_and_max_side(tiny_model, clip):
    with VideoReader(clip, max_side=160, max_seconds=1.0) as reader:
        frames = list(reader)
        assert len(frames) == 5 and frames[0][2].shape == (120, 160, 3) and reader.truncated


def test_annotated_copy_and_summary(tiny_model, clip, tmp_path):
    calls = []
    with VideoReader(clip) as reader, VideoWriter(tmp_path / "out.webm", reader.info.fps) as writer:
        summary = annotate_video(Recognizer(tiny_model), reader, writer, 2, lambda done, total: calls.append(done))
    assert writer.frames_written == 10 and (tmp_path / "out.webm").stat().st_size > 0
    assert summary.analyzed == 5 and summary.faces_seen == 3 and summary.frames_read == 10
    assert np.isnan(summary.rows[-1]).all() and np.nansum(summary.rows[0]) == pytest.approx(1.0, abs=1e-5)
    assert calls == [1, 3, 5, 7, 9]
    assert summary.describe() == "Analyzed 5 of 10 frames (1 in 2, 2.0 s at 5 fps); a face was found in 3 of them."


def test_summary_sentence():
    summary = VideoSummary(("happy", "sad"), every=5, fps=25.0, times=[0.0, 0.2], frames_read=7, faces_seen=0)
    assert summary.describe() == "Analyzed 2 of 7 frames (1 in 5, 0.3 s at 25 fps); a face was found in 0 of them."


def test_temporary_outputs_are_fresh_and_old_ones_removed(tmp_path, monkeypatch):
    import os
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first, second = temporary_output_path(), temporary_output_path()
    assert first != second and first.parent == second.parent == tmp_path / "fer-videos"
    assert first.suffix == ".webm" and first.is_file() and first.stat().st_size == 0
    os.utime(first, (0, 0))  # written long ago
    third = temporary_output_path(max_age=60)
    assert not first.exists() and second.exists() and third.exists()
    assert temporary_output_path(suffix=".mp4").suffix == ".mp4"


def test_unreadable_videos_raise_video_error(tmp_path):
    with pytest.raises(VideoError, match="no such video file"):
        VideoReader(tmp_path / "missing.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 512)
    with pytest.raises(VideoError, match="cannot be read as a video"):
        VideoReader(broken)
