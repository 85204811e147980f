"""Concurrency: four threads sharing one recognizer (and one explainer) get exactly the serial results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest


THREADS = 4
ROUNDS = 1


@pytest.fixture(scope="module")
def frames(face_photo) -> list[np.ndarray]:
    """Frames with 1, 1 (mirrored), 2 and 0 faces, so threads run different batch sizes at once."""
    photo = np.ascontiguousarray(np.asarray(face_photo)[::2, ::2])  # half size: Haar time dominates this test
    pair = np.concatenate([photo, photo[:, ::-1]], axis=1)
    blank = np.full_like(photo, 127)
    return [photo, np.ascontiguousarray(photo[:, ::-1]), pair, blank]


def summary(faces) -> list[tuple[list[int], np.ndarray]]:
    return [(face.box.to_list(), np.array(list(face.probabilities.values()))) for face in faces]


def assert_same(actual, expected) -> None:
    assert len(actual) == len(expected)
    for (box, probabilities), (expected_box, expected_probabilities) in zip(actual, expected):
        assert box == expected_box
        np.testing.assert_allclose(probabilities, expected_probabilities, rtol=0, atol=1e-6)


def test_four_threads_predict_the_same_as_serial_calls(recognizer, frames):
    serial = [summary(recognizer.predict(frame)) for frame in frames]
    assert [len(faces) for faces in serial] == [1, 1, 2, 0]
    # Every thread walks the frames from a different starting point, so different sizes overlap in time.
    jobs = [frames[(start + i) % len(frames)] for _ in range(ROUNDS) for start in range(THREADS) for i in range(len(frames))]
    expected = [serial[(start + i) % len(frames)] for _ in range(ROUNDS) for start in range(THREADS)
                for i in range(len(frames))]
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda frame: summary(recognizer.predict(frame)), jobs))
    for actual, wanted in zip(results, expected):
        assert_same(actual, wanted)


def test_four_threads_explain_the_same_as_serial_calls(tiny_model, recognizer, frames):
    explain = pytest.importorskip("fer.explain", reason="fer/explain.py is not in this checkout")
    explainer = explain.Explainer(tiny_model)
    frame = frames[2]
    faces = recognizer.predict(frame)
    batch = tiny_model.preprocess([face.box.crop(recognizer.read(frame)) for face in faces])
    # SmoothGrad adds random noise by definition, so only the deterministic methods must repeat exactly.
    methods = [method for method in explainer.methods if method != "smoothgrad"]
    # Each face with its own target class, so a mixed-up request would show as a wrong heatmap.
    tasks = [(method, face_index, face_index + 2) for method in methods for face_index in range(len(batch))]
    serial = {task: explainer.explain(batch[task[1]], task[0], task[2]) for task in tasks}
    for heatmap in serial.values():
        assert heatmap.shape == tuple(tiny_model.input_shape[:2]) and heatmap.dtype == np.float32

    def run(task):
        method, face_index, class_index = task
        return task, explainer.explain(batch[face_index], method, class_index)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(run, tasks * 2))
    for task, heatmap in results:
        np.testing.assert_allclose(heatmap, serial[task], rtol=0, atol=1e-5, err_msg=str(task))
