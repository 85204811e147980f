"""python -m fer predict: single images, --json, batch CSV over folders and videos, and bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from app_server import example_rgb, letterbox, write_video
from fer.__main__ import main


@pytest.fixture(scope="module")
def model(tiny_model_dir) -> str:
    return str(tiny_model_dir)


def test_json_and_errors(model, face_photo_path, tmp_path, capsys):
    assert main(["predict", str(face_photo_path), "--model", model, "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    faces = output[str(face_photo_path)]
    assert len(faces) == 1 and sum(faces[0]["emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    assert len(faces[0]["landmarks"]) == 5
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    assert main(["predict", str(broken), "--model", model]) == 1
    assert "not a recognized image format" in capsys.readouterr().err
    assert main(["predict", str(face_photo_path), "--model", "hf://bad"]) == 2
    assert "malformed Hugging Face source" in capsys.readouterr().err


def test_batch_csv_over_a_folder_of_images_and_a_video(model, tmp_path, capsys):
    folder = tmp_path / "inputs"
    (folder / "nested").mkdir(parents=True)
    Image.fromarray(example_rgb()).save(folder / "hopper.jpg")
    Image.fromarray(example_rgb("astronaut.jpg")).save(folder / "nested" / "collins.png")
    face = letterbox(example_rgb(), 320, 240)
    write_video(folder / "clip.avi", [face] * 6 + [np.full_like(face, 90)] * 4, fps=10)
    (folder / "notes.txt").write_text("not a picture")
    out = tmp_path / "faces.csv"
    assert main(["predict", str(folder), "--model", model, "--csv", str(out), "--every", "2", "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    by_file = {}
    for row in rows:
        by_file.setdefault(row["file"].rsplit("/", 1)[-1], []).append(row)
    assert len(by_file["hopper.jpg"]) == 1 and len(by_file["collins.png"]) == 1
    video_rows = by_file["clip.avi"]
    # Every analyzed frame has a row: every 2nd of 10, the last two without a face (an empty face and box).
    assert [int(r["frame"]) for r in video_rows] == [0, 2, 4, 6, 8]
    assert [float(r["time_s"]) for r in video_rows] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert [r["face"] for r in video_rows] == ["1", "1", "1", "", ""] and video_rows[-1]["x"] == ""
    labels = [name for name in rows[0] if name not in
              ("file", "frame", "time_s", "face", "x", "y", "width", "height", "top_label", "error")]
    for row in (row for row in rows if row["face"]):
        probabilities = {label: float(row[label]) for label in labels}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert row["top_label"] == max(probabilities, key=probabilities.get)
    summary = capsys.readouterr().out
    assert "3 file(s), 7 frame(s), 5 face(s), 0 failed, 1 other file(s) skipped" in summary


def test_unreadable_files_are_reported_and_the_run_goes_on(model, face_photo_path, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"\x00" * 100)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    Image.fromarray(example_rgb()).save(folder / "good.jpg")
    out = tmp_path / "out.csv"
    assert main(["predict", str(folder), "--model", model, "--csv", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "3 file(s)" in captured.out and "2 failed" in captured.out
    assert "broken.mp4" in captured.err and "broken.png" in captured.err
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in csv.DictReader(out.open())}
    assert set(rows) == {"good.jpg", "broken.mp4", "broken.png"}  # the CSV accounts for every input
    assert rows["good.jpg"]["error"] == "" and rows["good.jpg"]["top_label"]
    assert rows["broken.png"]["error"] and rows["broken.mp4"]["error"] and rows["broken.png"]["frame"] == ""


def test_empty_folder_is_an_error(model, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--model", model]) == 1
    assert "no image or video files" in capsys.readouterr().err


def test_explain_prints_faithfulness_per_face_and_method(face_photo_path, tmp_path, capsys):
    code = main(["explain", str(face_photo_path), "--method", "gradcam", "saliency", "--faithfulness", "--json",
                 "--out", str(tmp_path)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    (face,) = result["faces"]
    assert set(face["methods"]) == {"gradcam", "saliency"}
    for figures in face["methods"].values():
        for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"):
            assert 0.0 <= figures[key] <= 1.0
        assert Image.open(figures["file"]).size[0] > 0
    assert main(["explain", str(face_photo_path), "--method", "lime"]) == 2


def test_images_are_read_ahead_in_order_with_their_errors(tmp_path):
    """The CLI decodes the next image in a background thread; results still come in the files' order, an
    unreadable file carries its error to its own turn, and a video is left for frame-by-frame reading."""
    import threading

    from fer.__main__ import read_ahead
    from fer.errors import ImageError

    readers = set()

    class Reader:
        def read(self, path):
            readers.add(threading.current_thread().name)
            if path.name == "bad.jpg":
                raise ImageError("bad.jpg: not a recognized image format")
            return path.name

    files = [tmp_path / name for name in ("a.jpg", "bad.jpg", "clip.mp4", "b.png")]
    results = list(read_ahead(Reader(), files))
    assert [path for path, _ in results] == files
    assert results[0][1] == "a.jpg" and results[3][1] == "b.png"
    assert isinstance(results[1][1], ImageError) and results[2][1] is None
    assert all(name.startswith("fer-read") for name in readers)
