"""The app's handlers called directly (no server): photo, explanations, webcam stream, video, bad input."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from PIL import Image

import serve.common
import serve.photo
import serve.private
import serve.video
from app_server import example_rgb, letterbox, two_faces, write_video
from fer.explain import METHODS
from fer.live import LiveSession
from serve import settings
from serve.gradio_support import readable_upload_errors
from serve.settings import MAX_FACES

# tf-keras-vis hands Keras 3 a list of one input; Keras warns and handles it (fer.explain filters it outside tests).
pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match:UserWarning")

SKIP = {"__type__": "update"}  # what gr.skip() returns: an update that changes nothing


@pytest.fixture(scope="module")
def app():
    import app as app_module

    return app_module


@pytest.fixture(scope="module")
def source(tiny_model_dir) -> str:
    return str(tiny_model_dir)


def save(tmp_path, name: str, image: np.ndarray | Image.Image, **options) -> str:
    path = tmp_path / name
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(path, **options)
    return str(path)


def photo_outputs(result: dict) -> dict:
    return {**result, "panels": [result[f"panel{i}"] for i in range(settings.MAX_FACE_PANELS)]}


def shown(panels: list, before: int = 0) -> list[bool]:
    """Which face panels the page shows after these outputs, `before` of them shown before: a property update sets
    visibility, a bare value (or None) leaves it as it was."""
    return [panel["visible"] if isinstance(panel, dict) and panel.get("__type__") == "update" else i < before
            for i, panel in enumerate(panels)]


def stream_outputs(result: dict) -> tuple:
    return result["live"], result["live_probabilities"], result["live_cam"], result["stream_state"]


def video_outputs(result: dict) -> tuple:
    return result["video_out"], result["timeline"], result["video_summary"]


# ---------------------------------------------------------------- photo


def test_photo_boxes_the_face_with_probabilities_and_an_explanation(app, source, face_photo_path, tiny_model):
    out = photo_outputs(app.analyze_photo(str(face_photo_path), source, "gradcam"))
    photo = example_rgb()
    assert out["annotated"].shape == photo.shape and out["annotated"].dtype == np.uint8
    assert len(out["faces"]) == 1
    face = out["faces"][0]
    x, y, width, height = face["box"]
    assert 140 < x < 210 and 80 < y < 150 and 150 < width < 250 and 150 < height < 260  # Grace Hopper's face
    assert len(face["landmarks"]) == 5
    assert list(face["emotions"]) == list(tiny_model.labels)
    assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    # The same numbers as the library's own one-call path.
    from fer.pipeline import Recognizer

    expected = Recognizer(tiny_model).predict(face_photo_path)[0].to_dict()
    assert face["box"] == expected["box"]
    for label, probability in expected["emotions"].items():
        assert face["emotions"][label] == pytest.approx(probability, abs=1e-5)
    # The box is drawn in face #1's color on its edge; the middle of the face is untouched.
    from fer.annotate import face_color

    assert np.abs(out["annotated"][y + height - 1, x + width // 2].astype(int) - face_color(0)).max() < 30
    assert np.abs(out["annotated"][y + height // 2, x].astype(int) - face_color(0)).max() < 30
    np.testing.assert_array_equal(out["annotated"][y + height // 2, x + width // 2], photo[y + height // 2, x + width // 2])
    # The explanation is the overlay on the square (aligned) face crop, at the crop's size.
    side = min(max(width, height, settings.MIN_CROP_SIDE), settings.MAX_CROP_SIDE)  # the face crop, enlarged when small
    assert out["explanation"].shape == (side, side, 3)
    assert out["face_picker"]["value"] == 0 and len(out["face_picker"]["choices"]) == 1
    assert out["class_picker"]["choices"] == [settings.PREDICTED, *tiny_model.labels]
    first, *others = out["panels"]
    assert first["visible"] is True and first["value"] == face["emotions"] and first["label"] == "Face #1"
    assert all(panel is None for panel in others)  # hidden before and after: not sent again


def test_all_faces_of_a_photo_go_through_one_model_call(app, source, tmp_path, monkeypatch):
    engine = app.get_engine(source)
    calls = []
    original = engine.model.predict_proba

    def counting(batch, *args, **kwargs):
        calls.append(len(batch))
        return original(batch, *args, **kwargs)

    monkeypatch.setattr(engine.model, "predict_proba", counting)
    out = photo_outputs(app.analyze_photo(save(tmp_path, "two.png", two_faces()), source))
    assert len(out["faces"]) == 2
    assert calls == [2]
    assert shown(out["panels"])[:3] == [True, True, False]


def test_only_panels_that_appear_or_disappear_get_a_property_update(app, source, tmp_path, face_photo_path):
    two = photo_outputs(app.analyze_photo(save(tmp_path, "two.png", two_faces()), source))
    assert shown(two["panels"]) == [True, True] + [False] * (settings.MAX_FACE_PANELS - 2)
    one = photo_outputs(app.analyze_photo(str(face_photo_path), source, "gradcam", two["analysis"]))
    assert one["panel0"] == one["faces"][0]["emotions"]  # still shown: its new value only
    assert one["panel1"] == {"__type__": "update", "value": None, "visible": False}
    assert shown(one["panels"], before=2) == [True] + [False] * (settings.MAX_FACE_PANELS - 1)
    cleared = photo_outputs(app.analyze_photo(None, source, "gradcam", one["analysis"]))
    assert shown(cleared["panels"], before=1) == [False] * settings.MAX_FACE_PANELS


def test_model_source_comes_from_fer_model_by_default(app, source, face_photo_path, monkeypatch):
    monkeypatch.setenv("FER_MODEL", source)
    assert app.default_model_source() == source
    out = photo_outputs(app.analyze_photo(str(face_photo_path), None))
    assert len(out["faces"]) == 1
    assert out["analysis"].source == source
    assert app.get_engine(None) is app.get_engine(source)  # cached, not reloaded


def test_model_card_shows_the_config_figures(app, source):
    card = app.model_card(source)
    assert "accuracy **50.0%**" in card and "split **PublicTest**" in card and "input 48×48 grey" in card
    assert "angry, disgust, fear, happy, sad, surprise, neutral" in card


def test_model_card_without_figures_says_so(app, tmp_path):
    import json

    from conftest import make_model_folder

    folder = make_model_folder(tmp_path / "interim")
    config = json.loads((folder / "config.json").read_text())
    config["metrics"] = {"split": "PublicTest", "note": "interim: best epoch so far"}
    (folder / "config.json").write_text(json.dumps(config))
    card = app.model_card(str(folder))
    assert "no evaluation figures in its config (interim: best epoch so far)" in card


def test_bad_model_source_is_a_warning_not_a_crash(app, face_photo_path):
    with pytest.warns(UserWarning, match="Cannot load the model: unknown model source"):
        out = photo_outputs(app.analyze_photo(str(face_photo_path), "no-such-model"))
    assert out["annotated"] is None and out["faces"] == []
    with pytest.warns(UserWarning, match="Cannot load the model"):
        assert app.model_card("hf://bad id").startswith("**Model not loaded:**")


def test_an_export_folder_picked_as_the_model_classifies_and_says_why_there_is_no_map(app, tiny_model, tmp_path):
    """An export folder (ONNX, no Keras network) still boxes and labels the faces; the explanation panel says what is
    missing instead of failing."""
    from training import export

    folder = export.export_model(tiny_model, tmp_path / "export", "onnx", modes=["none", "flip"])
    with pytest.warns(UserWarning, match="no Keras network to explain"):
        out = photo_outputs(app.analyze_photo(letterbox(example_rgb()), str(folder)))
    assert out["faces"] and out["explanation"] is None


# ---------------------------------------------------------------- bad photos


def test_corrupt_and_non_image_files_warn(app, source, tmp_path, face_photo_path):
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("this is not a picture")
    with pytest.warns(UserWarning, match="Cannot read this image: notes.jpg: not a recognized image format"):
        out = photo_outputs(app.analyze_photo(str(not_image), source))
    assert out["annotated"] is None and out["faces"] == []
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(face_photo_path.read_bytes()[:5000])
    with pytest.warns(UserWarning, match="Cannot read this image: truncated.jpg: cannot decode image"):
        out = photo_outputs(app.analyze_photo(str(truncated), source))
    assert out["faces"] == [] and "/tmp" not in str(out)


def test_unreadable_upload_is_a_clear_error_before_the_handler(app, tmp_path):
    import gradio as gr
    from gradio.data_classes import ImageData

    not_image = tmp_path / "report.pdf"
    not_image.write_bytes(b"%PDF-1.4 not an image")
    component = readable_upload_errors(gr.Image(type="filepath", render=False))
    with pytest.raises(gr.Error, match="report.pdf cannot be read as a photo: it is not an image"):
        component.preprocess(ImageData(path=str(not_image), orig_name="report.pdf"))
    photo = save(tmp_path, "fine.png", example_rgb())
    assert component.preprocess(ImageData(path=photo, orig_name="fine.png")) == photo


def test_tiny_image_says_no_face(app, source, tmp_path, capsys):
    out = photo_outputs(app.analyze_photo(save(tmp_path, "dot.png", np.zeros((1, 1, 3), np.uint8)), source))
    assert out["annotated"].shape == (1, 1, 3) and out["faces"] == [] and out["explanation"] is None
    assert "No face found" in capsys.readouterr().out


def test_photo_without_face_says_so(app, source, tmp_path, capsys):
    blank = np.full((300, 400, 3), 200, np.uint8)
    out = photo_outputs(app.analyze_photo(save(tmp_path, "wall.jpg", blank), source))
    assert out["faces"] == [] and out["annotated"].shape == (300, 400, 3)
    assert "No face found" in capsys.readouterr().out and not any(shown(out["panels"]))


@pytest.mark.parametrize("kind", ["grey", "rgba", "png16"])
def test_grey_rgba_and_16_bit_photos_find_the_same_face(app, source, tmp_path, kind, face_photo_path):
    rgb = example_rgb()
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    if kind == "grey":
        path = save(tmp_path, "grey.jpg", grey, quality=95)
    elif kind == "rgba":
        path = save(tmp_path, "rgba.png", np.dstack([rgb, np.full(grey.shape, 255, np.uint8)]))
    else:
        path = save(tmp_path, "sixteen.png", Image.fromarray(grey.astype(np.uint16) * 257, mode="I;16"))
        assert Image.open(path).mode in ("I;16", "I")
    out = photo_outputs(app.analyze_photo(path, source))
    assert len(out["faces"]) == 1
    reference = photo_outputs(app.analyze_photo(str(face_photo_path), source))["faces"][0]["box"]
    assert np.abs(np.array(out["faces"][0]["box"]) - reference).max() <= 12
    assert out["annotated"].shape == rgb.shape  # grey and 16-bit photos are shown as RGB
    assert out["explanation"].ndim == 3


def test_huge_photo_is_analysed_and_shown_downscaled(app, source, tmp_path, capsys):
    canvas = Image.new("RGB", (8000, 8000), (90, 90, 90))
    canvas.paste(Image.fromarray(example_rgb()).resize((5120, 6000)), (1400, 1000))
    path = save(tmp_path, "huge.jpg", canvas, quality=80)
    del canvas
    out = photo_outputs(app.analyze_photo(path, source))
    assert max(out["annotated"].shape[:2]) == settings.MAX_DISPLAY_SIDE
    assert len(out["faces"]) == 1
    x, y, width, _ = out["faces"][0]["box"]  # in the coordinates of the full-size photo
    # Grace Hopper's face (x ~ 175, y ~ 115, side ~ 190 in the 512x600 original) scaled by 10.
    assert 1400 + 1500 < x < 1400 + 2100 and 1000 + 900 < y < 1000 + 1500 and width > 1500
    assert max(out["explanation"].shape[:2]) <= settings.MAX_CROP_SIDE
    assert "Large photo (8000×8000)" in capsys.readouterr().out


def test_freed_memory_goes_back_to_the_os_after_a_large_photo_only(app, source, tmp_path, face_photo_path,
                                                                  monkeypatch):
    """glibc keeps a large photo's freed buffers otherwise (docs/reliability.md); small photos skip the trim."""
    calls = []
    monkeypatch.setattr(serve.photo, "release_free_memory", lambda: calls.append(1) or True)
    app.analyze_photo(str(face_photo_path), source)
    assert calls == []
    side = int((settings.LARGE_PHOTO_BYTES / 3) ** 0.5) + 1  # just over the threshold in RGB
    app.analyze_photo(save(tmp_path, "large.png", np.full((side, side, 3), 90, np.uint8)), source)
    assert calls == [1]


def test_a_small_face_gets_an_explanation_large_enough_to_read(app, source, tmp_path):
    canvas = Image.new("RGB", (640, 480), (90, 90, 90))
    canvas.paste(Image.fromarray(example_rgb()).resize((85, 100)), (300, 200))  # a face of about 35 px
    out = photo_outputs(app.analyze_photo(save(tmp_path, "small.png", canvas), source))
    assert len(out["faces"]) == 1 and out["faces"][0]["box"][2] < 64
    height, width = out["explanation"].shape[:2]
    assert height == width == settings.MIN_CROP_SIDE


def test_thirty_faces_keep_the_largest_twenty(app, source, tmp_path, capsys):
    face = example_rgb()[40:440, 90:440]
    tile = cv2.resize(face, (110, int(110 * face.shape[0] / face.shape[1])), interpolation=cv2.INTER_AREA)
    grid = np.concatenate([np.concatenate([tile] * 6, axis=1)] * 5, axis=0)
    out = photo_outputs(app.analyze_photo(save(tmp_path, "crowd.png", grid), source))
    assert len(out["faces"]) == MAX_FACES
    printed = capsys.readouterr().out
    assert re.search(r"Found (\d+) faces; classified the 20 largest", printed)
    assert f"Showing panels for the first {settings.MAX_FACE_PANELS} faces" in printed
    assert sum(shown(out["panels"])) == settings.MAX_FACE_PANELS
    assert all(sum(face["emotions"].values()) == pytest.approx(1.0, abs=1e-5) for face in out["faces"])


# ---------------------------------------------------------------- explanations


@pytest.fixture(scope="module")
def analysis(app, source, face_photo_path):
    return photo_outputs(app.analyze_photo(str(face_photo_path), source))["analysis"]


@pytest.mark.parametrize("method", ["saliency", "gradcam", "Grad-CAM++", "scorecam"])
def test_explain_face_overlays_the_chosen_method_on_the_face(app, analysis, method):
    image = app.explain_face(analysis, 0, settings.PREDICTED, method)
    side = analysis.analysis.crops[0].shape[0]
    assert image.shape == (side, side, 3) and image.dtype == np.uint8
    assert not np.array_equal(image, analysis.analysis.crops[0])  # the heatmap is visible


def test_explain_face_class_choice_changes_the_map(app, analysis):
    predicted = app.explain_face(analysis, 0, settings.PREDICTED, "gradcam")
    assert np.array_equal(predicted, app.explain_face(analysis, 0, analysis.predictions[0].label, "gradcam"))
    other = next(label for label in analysis.analysis.labels if label != analysis.predictions[0].label)
    assert not np.array_equal(predicted, app.explain_face(analysis, 0, other, "gradcam"))


def test_explain_face_bad_requests_are_messages(app, analysis, capsys):
    with pytest.warns(UserWarning, match="unknown explanation method 'lime'; accepted: saliency"):
        assert app.explain_face(analysis, 0, settings.PREDICTED, "lime") is None
    with pytest.warns(UserWarning, match="There is no face #3; pick one of 1–1"):
        assert app.explain_face(analysis, 3) is None
    with pytest.warns(UserWarning, match="unknown class 'bored'"):
        assert app.explain_face(analysis, 0, "bored") is None
    assert app.explain_face(None, 0) is None
    assert "Analyze a photo with at least one face first" in capsys.readouterr().out


def test_all_methods_side_by_side_most_faithful_first(app, analysis):
    gallery = app.explain_all_methods(analysis, 0, "happy")
    assert sorted(caption.split(" · ")[0] for _, caption in gallery) == sorted(METHODS.values())
    assert all(" · happy · " in caption and " ms · deletion " in caption for _, caption in gallery)

    def gain(caption):
        numbers = [float(part.split("(random ")[1].rstrip(")")) for part in caption.split(" · ") if "random" in part]
        values = [float(part.split()[1]) for part in caption.split(" · ") if "random" in part]
        return (numbers[0] - values[0]) + (values[1] - numbers[1])

    gains = [gain(caption) for _, caption in gallery]
    assert gains == sorted(gains, reverse=True)
    side = analysis.analysis.crops[0].shape[0]
    assert all(image.shape == (side, side, 3) for image, _ in gallery)
    assert len({image.tobytes() for image, _ in gallery}) == len(METHODS)  # five different maps


def test_faithfulness_is_computed_on_request_with_its_curves(app, analysis):
    result = app.check_faithfulness(analysis, 0, settings.PREDICTED, "gradcam")
    assert "deletion AUC" in result["faithfulness_text"] and "insertion AUC" in result["faithfulness_text"]
    assert len(result["faithfulness_plot"].axes) == 2
    assert app.check_faithfulness(None, 0, settings.PREDICTED, "gradcam") == {"faithfulness_text": "",
                                                                           "faithfulness_plot": None}


# ---------------------------------------------------------------- webcam


def test_tracker_smooths_per_face_and_keeps_identities():
    from fer.faces import Box
    from fer.live import FaceTracker

    tracker = FaceTracker(weight=0.5, min_iou=0.3, max_missed=1)
    left, right = Box(10, 10, 100, 100), Box(300, 10, 100, 100)
    first = tracker.update([left, right], np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert [t.track_id for t in first] == [1, 2]
    # The faces moved a little and arrive in the other order: each keeps its track and is averaged.
    second = tracker.update([Box(305, 12, 100, 100), Box(12, 8, 100, 100)], np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert [t.track_id for t in second] == [2, 1]
    np.testing.assert_allclose(second[0].probabilities, [0.5, 0.5])
    np.testing.assert_allclose(second[1].probabilities, [0.5, 0.5])
    tracker.update([Box(12, 8, 100, 100)], np.array([[0.0, 1.0]]))
    assert sorted(t.track_id for t in tracker.tracks) == [1, 2]  # the right face missed once: kept
    tracker.update([Box(12, 8, 100, 100)], np.array([[0.0, 1.0]]))
    assert [t.track_id for t in tracker.tracks] == [1]  # missed twice: dropped
    assert tracker.update([Box(600, 600, 50, 50)], np.array([[1.0, 0.0]]))[0].track_id == 3  # a new face
    with pytest.raises(ValueError, match="weight"):
        FaceTracker(weight=0.0)


def test_stream_labels_every_frame_and_refreshes_gradcam_every_n(app, source):
    app.get_engine(source).explainer  # loaded, as start-up loads it in the background  # noqa: B018
    frame = letterbox(example_rgb())
    state, cams = None, []
    for _ in range(7):
        annotated, probabilities, cam, state = stream_outputs(app.stream_frame(frame, state, source, cam_every=3))
        assert annotated.shape == (480, 640, 3)
        assert probabilities["label"] == "Face #1 (smoothed)"
        assert sum(probabilities["value"].values()) == pytest.approx(1.0, abs=1e-5)
        cams.append(cam)
    assert [not (isinstance(cam, dict) and cam == SKIP) for cam in cams] == [True, False, False, True, False, False, True]
    assert cams[0].shape == (LiveSession.cam_tile, LiveSession.cam_tile, 3)
    assert [track.track_id for track in state.live.tracker.tracks] == [1]  # one face, one track throughout
    assert not np.array_equal(annotated, frame)  # box and label drawn


def test_stream_smooths_a_changing_face(app, source):
    frame = letterbox(example_rgb())
    _, first, _, state = stream_outputs(app.stream_frame(frame, None, source))
    flipped = np.ascontiguousarray(frame[:, ::-1])  # same place, different pixels: new raw probabilities
    engine = app.get_engine(source)
    raw = dict(zip(engine.labels, engine.stream_recognizer.predict_frame(flipped)[0].probabilities.values()))
    _, second, _, state = stream_outputs(app.stream_frame(flipped, state, source))
    for label in engine.labels:
        expected = LiveSession.weight * raw[label] + (1 - LiveSession.weight) * first["value"][label]
        assert second["value"][label] == pytest.approx(expected, abs=1e-5)


def test_stream_handles_empty_large_and_faceless_frames(app, source):
    assert stream_outputs(app.stream_frame(None, None, source))[:3] == (SKIP, SKIP, SKIP)
    big = cv2.resize(letterbox(example_rgb()), (1280, 960))
    annotated, probabilities, _, state = stream_outputs(app.stream_frame(big, None, source))
    assert annotated.shape == (480, 640, 3) and probabilities["label"] == "Face #1 (smoothed)"
    annotated, probabilities, cam, state = stream_outputs(app.stream_frame(np.zeros((480, 640, 3), np.uint8), state, source))
    assert probabilities["label"] == "No face in view" and cam == SKIP
    assert len(state.live.tracker.tracks) == 1 and state.live.tracker.tracks[0].missed == 1


def test_stream_warns_once_for_a_bad_model_and_resets_on_model_change(app, source, recwarn):
    frame = letterbox(example_rgb())
    state = None
    for _ in range(3):
        *outputs, state = stream_outputs(app.stream_frame(frame, state, "no-such-model"))
        assert outputs == [SKIP, SKIP, SKIP]
    assert sum("Webcam analysis stopped" in str(w.message) for w in recwarn) == 1
    _, _, _, state = stream_outputs(app.stream_frame(frame, state, source))
    assert state.source == source and state.live.frame_index == 1 and len(state.live.tracker.tracks) == 1


# ---------------------------------------------------------------- video


class RecordingProgress:
    def __init__(self):
        self.calls = []

    def __call__(self, value, desc=None, unit=None):
        self.calls.append(value)


def test_video_is_annotated_with_a_timeline(app, source, tmp_path, monkeypatch):
    face = letterbox(example_rgb(), 320, 240)
    frames = [face] * 12 + [np.full_like(face, 100)] * 8  # a face, then an empty scene
    progress = RecordingProgress()
    trims = []
    monkeypatch.setattr(serve.video, "release_free_memory", lambda: trims.append(1) or True)
    output, figure, summary = video_outputs(app.analyze_video(write_video(tmp_path / "clip.avi", frames), source, 4,
                                                              progress=progress))
    assert trims == [1]  # the decoded frames' freed buffers go back to the OS
    capture = cv2.VideoCapture(output)
    count, first = 0, None
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        first = bgr if first is None else first
        count += 1
    capture.release()
    assert output.endswith(".webm") and count == 20 and first.shape == (240, 320, 3)
    assert np.abs(first[:, :, ::-1].astype(int) - face).mean() > 1  # boxes and labels drawn
    assert summary.startswith("Analyzed 5 of 20 frames (1 in 4, 2.0 s at 10 fps); a face was found in 3 of them")
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == list(app.get_engine(source).labels)
    times = lines[0].get_xdata()
    np.testing.assert_allclose(times, [0.0, 0.4, 0.8, 1.2, 1.6])
    stacked = np.array([line.get_ydata() for line in lines])
    np.testing.assert_allclose(stacked[:, :3].sum(axis=0), 1.0, atol=1e-5)  # faces: probabilities
    assert np.isnan(stacked[:, 3:]).all()  # no face: gaps in the timeline
    assert progress.calls[0] == 0.0 and progress.calls[-1] == (17, 20)


def test_unreadable_video_warns(app, source, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 2048)
    with pytest.warns(UserWarning, match="cannot be read as a video|No frames could be read"):
        assert video_outputs(app.analyze_video(str(broken), source, 5, progress=RecordingProgress())) == (None, None, "")
    assert video_outputs(app.analyze_video(None, source)) == (None, None, "")


def test_page_wiring(app):
    config = app.demo.get_config_file()
    names = {dependency.get("api_name") for dependency in config["dependencies"]}
    assert {"predict", "explain", "explain_all", "faithfulness", "stream", "analyze_video", "model_info"} <= names
    assert None not in names and False not in names  # every event is named
    stream = next(d for d in config["dependencies"] if d.get("api_name") == "stream")
    assert stream["stream_every"] == settings.STREAM_EVERY and stream["time_limit"] == settings.STREAM_TIME_LIMIT
    stream_fn = next(fn for fn in app.demo.fns.values() if fn.api_name == "stream")
    assert stream_fn.concurrency_limit == settings.STREAM_CONCURRENCY > 1  # several webcam users at once
    webcam = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "webcam-input")
    assert webcam["props"]["streaming"] is True
    assert webcam["props"]["webcam_options"]["constraints"]["video"]["width"] == {"ideal": 640}
    assert app.demo.delete_cache is not None


def test_the_private_mode_tab_says_whether_the_page_is_prepared(app, tmp_path, monkeypatch):
    def tab_text() -> str:
        config = app.build_demo().get_config_file()
        return next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "private-mode")[
            "props"]["value"]

    monkeypatch.setattr(serve.private, "WEB_DIR", tmp_path)  # the tracked page files alone: not prepared
    assert tab_text().startswith("**Private mode is not available on this server**")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "pipeline.json").write_text("{}")  # what web.prepare writes last
    assert "Open private mode" in tab_text()


def test_an_empty_explanation_map_is_said_not_hidden(app, analysis, monkeypatch):
    engine = app.get_engine(analysis.source)
    messages = []
    monkeypatch.setattr(serve.common, "info", messages.append)
    monkeypatch.setattr(engine.explainer, "explain_batch",
                        lambda frames, method, targets: np.zeros((len(frames), 48, 48), np.float32))
    image = app.explain_face(analysis, 0, "happy", "gradcam")
    assert image is not None
    assert messages == ["Grad-CAM found no positive evidence for 'happy' on this face; another method may show "
                        "where the score comes from."]
    captions = [caption for _, caption in app.explain_all_methods(analysis, 0, "happy")]
    assert len(captions) == 5 and all(caption.endswith("no positive evidence") for caption in captions)
