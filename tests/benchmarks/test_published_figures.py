"""Published benchmark figures come from the models shipped now: every marked block in README.md and docs/*.md
names the model files it was measured with (their sha256), and must be exactly what
`python -m benchmarks.report` makes from benchmarks/results.json."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks import provenance, report
from fer.model.sources import bundled_models
from fer.runtime.onnx import file_sha256

PUBLISHED = [report.REPO_ROOT / "README.md", *sorted((report.REPO_ROOT / "docs").glob("*.md"))]


@pytest.fixture(scope="module")
def shipped():
    return provenance.shipped()


@pytest.fixture(scope="module")
def results():
    return report.load_results()


def test_shipped_hashes_are_the_files_on_disk(shipped):
    assert set(shipped) == set(bundled_models())
    for name, hashes in shipped.items():
        folder = report.REPO_ROOT / "models" / name
        assert hashes["keras"] == file_sha256(folder / "model.keras")
        assert hashes["onnx"] == file_sha256(folder / "model.onnx")  # what config.json records is the file
        if (folder / "gradcam.onnx").exists():
            assert hashes["gradcam"] == file_sha256(folder / "gradcam.onnx")


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda path: path.name)
def test_every_published_block_is_current(path, results, shipped):
    assert report.problems(path.read_text(), results, shipped, whole=report.is_generated(path)) == []


def test_the_benchmarks_page_has_every_section(results, shipped):
    text = report.DOCUMENT.read_text()
    assert report.is_generated(report.DOCUMENT)
    assert [match.group("key") for match in report.BLOCK.finditer(text)] == list(report.sections())


def test_readme_shows_no_benchmark_table_outside_a_marked_block():
    text = report.BLOCK.sub("", (report.REPO_ROOT / "README.md").read_text())
    titles = [re.escape(title) for title, _ in report.sections().values()]
    printed = re.compile(rf"^\s*\[\d+\] (?:{'|'.join(titles)})", re.MULTILINE)  # benchmarks.run's printed heading
    assert printed.findall(text) == []


# The generator and the check on made-up results and hashes.

SHIPPED = {"model-a": {"onnx": "a" * 64, "keras": "b" * 64}, "model-b": {"onnx": "c" * 64, "keras": "d" * 64}}
THROUGHPUT = {"note": "n", "rows": [{"model": "model-a", "runtime": "onnx", "tta": "flip",
                                     "faces_per_second": {1: 10.0, 8: 50.0, 64: 90.0}}],
              "measured": {"date": "2030-01-01 00:00 UTC", "load_average": [1.0, 1.0, 1.0]}, "seconds": 3.0,
              "quick": False, "models": {"model-a": SHIPPED["model-a"]}}


def _results(**sections) -> dict:
    # Through JSON, as the results file holds them (integer keys become strings; load_results turns them back).
    return report._int_keys(json.loads(json.dumps({"sections": sections})))


def test_a_section_measured_with_the_shipped_models_is_published():
    models, body = report.block("throughput", _results(throughput=THROUGHPUT), SHIPPED)
    assert models == {"model-a": SHIPPED["model-a"]}
    assert "model-a | onnx | - | flip | 10 / 50 / 90" in body
    assert "Measured 2030-01-01 00:00 UTC" in body and "onnx aaaaaaaaaaaa, keras bbbbbbbbbbbb" in body


@pytest.mark.parametrize("change, reason", [
    ({"models": {"model-a": {"onnx": "e" * 64, "keras": "b" * 64}}}, "model-a's onnx file changed since"),
    ({"models": {"model-old": {"onnx": "a" * 64, "keras": "b" * 64}}}, "model-old is not a shipped model"),
    ({"models": None}, "predate the model hashes"),
    ({"quick": True}, "only a --quick run"),
    ({"error": "RuntimeError: boom"}, "its last run failed (RuntimeError: boom)"),
])
def test_figures_from_other_models_or_runs_are_not_published(change, reason):
    section = {**THROUGHPUT, **change}
    if section["models"] is None:
        del section["models"]
    models, body = report.block("throughput", _results(throughput=section), SHIPPED)
    assert models == {} and body.startswith("*Not measured yet*") and reason in body
    assert "10 / 50 / 90" not in body  # no figure of another model, nor a made-up one


def test_a_section_never_measured_says_so():
    models, body = report.block("latency", _results(), SHIPPED)
    assert models == {} and "*Not measured yet*" in body and "no figures in benchmarks/results.json" in body


def test_the_check_catches_a_stale_block_and_a_marker_of_another_model():
    results = _results(throughput=THROUGHPUT)
    page = report.document(results, SHIPPED)
    assert report.problems(page, results, SHIPPED, whole=True) == []
    # The models change (a new model-a): the published block names the old files.
    new_models = {**SHIPPED, "model-a": {"onnx": "f" * 64, "keras": "b" * 64}}
    found = report.problems(page, results, new_models, whole=True)
    assert "throughput: model-a's onnx file changed since" in found
    assert "throughput: not what benchmarks/results.json gives now" in found
    # A figure edited by hand, with the right marker.
    edited = page.replace("10 / 50 / 90", "10 / 50 / 95")
    assert report.problems(edited, results, SHIPPED) == ["throughput: not what benchmarks/results.json gives now"]
    # A new run whose figures the page does not show yet.
    rerun = _results(throughput={**THROUGHPUT, "measured": {"date": "2030-02-01 00:00 UTC"}})
    assert "throughput: not what benchmarks/results.json gives now" in report.problems(page, rerun, SHIPPED)


def test_update_remakes_only_the_marked_blocks():
    results = _results(throughput=THROUGHPUT)
    text = ("Prose before.\n<!-- BENCHMARK throughput models={} -->\nold figures\n<!-- /BENCHMARK throughput -->\n"
            "Prose after.\n")
    updated = report.update(text, results, SHIPPED)
    assert updated.startswith("Prose before.\n<!-- BENCHMARK throughput models=") and updated.endswith("Prose after.\n")
    assert "10 / 50 / 90" in updated and "old figures" not in updated
    assert report.problems(updated, results, SHIPPED) == []
    with pytest.raises(ValueError, match="unknown benchmark section 'nonsense'"):
        report.update("<!-- BENCHMARK nonsense models={} -->\n<!-- /BENCHMARK nonsense -->", results, SHIPPED)



def test_model_hashes_of_a_folder_with_and_without_its_onnx_export(tmp_path):
    from conftest import make_model_folder

    with_onnx = make_model_folder(tmp_path / "with", onnx=True)
    hashes = provenance.model_hashes(with_onnx)
    assert hashes == {"onnx": file_sha256(with_onnx / "model.onnx"), "keras": file_sha256(with_onnx / "model.keras")}
    without = make_model_folder(tmp_path / "without")
    assert provenance.model_hashes(without) == {"onnx": None, "keras": file_sha256(without / "model.keras")}
    assert provenance.measured([str(with_onnx), str(with_onnx)]) == {str(with_onnx): hashes}
    with_gradcam = make_model_folder(tmp_path / "gradcam", onnx=True, gradcam=True)
    assert provenance.model_hashes(with_gradcam)["gradcam"] == file_sha256(with_gradcam / "gradcam.onnx")
