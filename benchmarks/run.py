"""python -m benchmarks.run [--quick] [--detector yunet|haar]: our pipeline side by side with the PyPI `fer` package.

Prints one table per section and writes benchmarks/results.json (with --quick:
benchmarks/cache/results-quick.json, so a quick run never replaces the full results). Each section records the
sha256 of the model files it measured; `python -m benchmarks.report --write docs/benchmarks.md` publishes the
sections measured with the models shipped now.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import (  # noqa: E402
    accuracy, app_start, compat, context as context_module, detection, explanations, latency, load, provenance,
    ray_throughput, report, serving, space, streaming, throughput, training_speed, web, webcam,
)
from fer.faces import DEFAULT_DETECTOR, DETECTORS  # noqa: E402

HERE = Path(__file__).resolve().parent
SECTIONS = {
    "latency": ("Per-frame latency, 640x480, ours vs fer (median ms)", latency),
    "throughput": ("Classification throughput", throughput),
    "explanations": ("Explanation latency per face", explanations),
    "streaming": ("Webcam handler streaming", streaming),
    "webcam": ("The app's webcam tab in Chromium against a no-op handler", webcam),
    "accuracy": ("Accuracy on PublicTest, and what the full pipeline loses", accuracy),
    "detection": ("Face detection: YuNet and Haar, tight crops, alignment, YuNet settings", detection),
    "training": ("Training throughput", training_speed),
    "app": ("App cold start, memory and model sizes", app_start),
    "space": ("The built Hugging Face Space folder started as a Space starts it", space),
    "web": ("Private mode: the page in Chromium, frames/s with 1 and 4 faces", web),
    "serving": ("Serving without TensorFlow: exports, runtimes, import time, install size", serving),
    "load": ("The served app under load: clients and webcam pages at once", load),
    "compat": ("Code written for the PyPI fer package: its FER() vs ours on the same images", compat),
    "ray": ("Batch analysis: one process vs Ray Data (local instance)", ray_throughput),
}


def measured_models(module, context: context_module.Context) -> list[str]:
    """The models a section measures: its measured_models(); a module without one (web.py) runs the page,
    whose default is the webcam's model (web.prepare.default_sources)."""
    if hasattr(module, "measured_models"):
        return module.measured_models(context)
    from serve.engine import EngineCache

    return [EngineCache().stream_source()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and rows (about a minute or two)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS),
                        help="run only these sections (the output file keeps the other sections' earlier figures, "
                             "each marked with the date it was measured)")
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                        help="the face detector of our pipeline in every section (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="results file (default: see above)")
    args = parser.parse_args(argv)
    output = args.output or (HERE / "cache" / "results-quick.json" if args.quick else HERE / "results.json")

    started = time.perf_counter()
    context = context_module.build(args.quick, args.detector)
    results = {
        "machine": report.machine(), "quick": args.quick, "our_model": context.model_note,
        "detector": args.detector,
        "fer_package": context.pypi_note, "faces": context.face_source,
        "method": "each figure is the median of timed runs after warm-up; ratios come from the same run, "
                  "with our side and fer's side timed interleaved",
        "sections": report.earlier_sections(output, keep=[key for key in SECTIONS if key not in args.only])
        if args.only else {},
    }
    print(f"our model: {context.model_note}, detector {args.detector}\nfer package: {context.pypi_note}\n"
          f"faces: {context.face_source}")
    failed = False
    for number, (key, (title, module)) in enumerate(SECTIONS.items(), start=1):
        if args.only and key not in args.only:
            continue
        section_start = time.perf_counter()
        try:
            section = module.run(context)
            lines = module.table(section)
        except Exception as error:  # one broken section must not lose the others' figures
            failed = True
            section = {"error": f"{type(error).__name__}: {error}"}
            lines = [f"FAILED: {section['error']}"]
            traceback.print_exc()
        section["seconds"] = round(time.perf_counter() - section_start, 1)
        section["measured"] = report.stamp()
        section["quick"] = args.quick
        if "error" not in section:  # which model files these figures come from (benchmarks.report checks them)
            section["models"] = provenance.measured(measured_models(module, context))
        results["sections"][key] = section
        report.print_section(number, f"{title} ({section['seconds']:.0f} s)", lines)
        report.write(results, output)  # after every section, so an interrupted run keeps what it measured
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    report.write(results, output)
    print(f"\nwrote {output} in {results['total_seconds']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
