"""The serving benchmark's plumbing without exporting anything: its results merge into a shared results file
without touching the other sections, and its table prints the install-only rows."""

from __future__ import annotations

import json

from benchmarks import serving


def test_merge_replaces_only_the_serving_section_and_rereads_the_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"machine": {"cores": 2}, "sections": {"latency": {"a": 1}, "serving": {"old": 1}}}))
    # Another run writes its section after ours started: the merge must keep it.
    earlier = json.loads(path.read_text())
    earlier["sections"]["detection"] = {"b": 2}
    path.write_text(json.dumps(earlier))
    serving.merge_section(path, {"new": 2})
    merged = json.loads(path.read_text())
    assert merged == {"machine": {"cores": 2},
                      "sections": {"latency": {"a": 1}, "serving": {"new": 2}, "detection": {"b": 2}}}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no partial file left
    serving.merge_section(tmp_path / "new.json", {"x": 1})
    assert json.loads((tmp_path / "new.json").read_text()) == {"sections": {"serving": {"x": 1}}}


def test_table_prints_every_variant_runtime_and_path():
    change = {"keras": {"accuracy": 0.7}, "export": {"accuracy": 0.69}, "accuracy_change": -0.01}
    rows = [{"model": "m", "variant": name, "max_abs_difference": 1e-6, "passed": True, "top1_agreement": 1.0,
             "size_bytes": 2**20, **({"publictest": change} if "int8" in name else {})}
            for name in ("onnx", "onnx-int8")]
    speeds = {name: {size: 10.0 for size in serving.BATCH_SIZES} for name in ("keras", "onnx", "fer-tflite")}
    frame_speeds = dict(speeds)
    speeds["other-model onnx"] = {size: 20.0 for size in serving.BATCH_SIZES}  # faces/s only, no frame latency
    results = {"exports": {"rows": rows, "note": "note"}, "faces_per_second": speeds,
               "frame_latency_ms": {count: {name: 5.0 for name in frame_speeds} for count in serving.FACE_COUNTS},
               "first_prediction": {"onnx": {"import_s": 0.5, "load_s": 0.1, "first_predict_s": 0.2,
                                             "tensorflow_imported": False}},
               "install_bytes": {"onnx": 300 * 2**20, "export": 1800 * 2**20}, "note": "runtimes note"}
    lines = serving.table(results)
    assert "m | onnx-int8 | 1.0e-06 | 100.0% | 1.0 | 0.7000 -> 0.6900 (-0.0100)" in lines
    assert "fer-tflite | 10 / 10 / 10 | 5.0 / 5.0" in lines
    assert "other-model onnx | 20 / 20 / 20 | - / -" in lines
    assert "onnx | 0.50 | 0.10 | 0.20 | False | 300" in lines and "export | - | - | - | - | 1800" in lines


def test_the_keras_side_is_keras_when_the_folder_serves_on_onnx_runtime(tmp_path):
    # load_model() serves a folder with its checked model.onnx on ONNX Runtime; exports and checks need Keras.
    from conftest import make_model_folder
    from fer.model.sources import load_model

    folder = make_model_folder(tmp_path / "tiny", onnx=True)
    served = load_model(folder)
    assert served.runtime == "onnx" and not hasattr(served, "serving_model")
    assert hasattr(serving.keras_model(served), "serving_model")
    keras_side = load_model(folder, runtime="keras")
    assert serving.keras_model(keras_side) is keras_side
    assert "runtime=sys.argv[3]" in serving.FIRST_PREDICTION  # the "keras" path's first photo loads Keras too
