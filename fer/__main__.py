"""python -m fer predict PATH... [--csv out.csv | --json]: per-face emotions for images, folders and videos.
python -m fer explain IMAGE [--method M ...] [--faithfulness] [--out DIR] [--json]: explanation maps and how
faithful they are."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, Iterator

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def expand_paths(paths: list[str]) -> tuple[list[Path], int]:
    """Files named directly, plus images and videos found recursively in named folders (sorted);
    and the number of other files those folders held (skipped)."""
    from fer.video import VIDEO_SUFFIXES

    files, skipped = [], 0
    for name in paths:
        path = Path(name)
        if not path.is_dir():
            files.append(path)
            continue
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if child.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                files.append(child)
            else:
                skipped += 1
    return files, skipped


def read_ahead(recognizer, files: list[Path]) -> Iterator[tuple[Path, Any]]:
    """(path, its decoded image, or the FerError reading it raised, or None for a video) in order, each image
    decoded in a background thread while the one before it is analyzed (decoding releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-read") as pool:
        next_read = None
        for index, path in enumerate(files):
            current = next_read or pool.submit(read_file, recognizer, path)
            next_read = pool.submit(read_file, recognizer, files[index + 1]) if index + 1 < len(files) else None
            yield path, current.result()


def read_file(recognizer, path: Path) -> Any:
    """An image file's decoded image (or the FerError reading it raised); None for a video, which analyze() reads
    frame by frame."""
    from fer.errors import FerError
    from fer.video import is_video

    if is_video(path):
        return None
    try:
        return recognizer.read(path)
    except FerError as error:
        return error


def analyze(recognizer, path: Path, image: Any, every: int) -> Iterator[tuple[int, float, list]]:
    """(frame index, time in seconds, faces) for an image (one frame, `image` from read_file) or each analyzed
    video frame (`image` None)."""
    from fer.errors import FerError, VideoError
    from fer.video import VideoReader, analyze_video

    if isinstance(image, FerError):
        raise image
    if image is not None:
        yield 0, 0.0, recognizer.predict_frame(image)
        return
    with VideoReader(path) as reader:
        for item in analyze_video(recognizer, reader, every):
            yield item.index, item.time, item.analysis.faces
        if reader.frames_read == 0:
            raise VideoError(f"{path.name}: no frames could be decoded")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer", description="Facial expression recognition.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="the emotions of every face in images, folders and videos")
    predict.add_argument("paths", nargs="+", metavar="PATH",
                         help="image or video files (mp4, webm, avi, mov), or folders searched recursively")
    predict.add_argument("--model", default=None, help="model folder, bundled name or hf://owner/repo@revision")
    from fer.faces import DEFAULT_DETECTOR, DETECTORS

    predict.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list(DETECTORS), help="face detector")
    output = predict.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON (fer-compatible per-face dicts)")
    output.add_argument("--csv", type=Path, help="write one row per face to this CSV file")
    predict.add_argument("--every", type=int, default=1, help="videos: analyze every k-th frame (default 1)")
    predict.add_argument("--tta", choices=("none", "flip", "ten_crop"), help="test-time augmentation "
                         "(default: the model's config)")
    predict.add_argument("--no-tta", action="store_true", help="same as --tta none")
    predict.add_argument("--no-align", action="store_true", help="do not rotate faces so the eyes are level")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.add_argument("--engine", choices=("local", "ray"), default="local",
                         help="ray: analyze on Ray Data with a pool of actors, one per CPU (needs --csv and "
                              "pip install 'fer-explain[ray]'; docs/at-scale.md)")
    predict.add_argument("--address", help="--engine ray: the cluster to join, 'auto' or ray://host:port (default: "
                                           "start a local Ray instance)")
    explain = commands.add_parser("explain", help="explanation maps of every face in an image, and how faithful "
                                                   "they are (deletion / insertion against random orders)")
    explain.add_argument("image", type=Path, help="an image file")
    explain.add_argument("--model", default=None, help="model folder, bundled name or hf://owner/repo@revision")
    explain.add_argument("--method", nargs="+", default=None, metavar="M",
                         help="explanation methods (default: all of them)")
    explain.add_argument("--faithfulness", action="store_true",
                         help="deletion and insertion areas of each map, with the random-order baseline")
    explain.add_argument("--out", type=Path, help="write each face's map over its crop as PNGs into this folder")
    explain.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.command == "explain":
        return explain_image(args)
    if args.every < 1:
        parser.error("--every must be at least 1")
    if args.engine == "ray":
        if args.csv is None:
            parser.error("--engine ray writes rows: give --csv PATH")
        from fer.distributed import predict_command

        return predict_command(args)
    if args.address:
        parser.error("--address needs --engine ray")

    from tqdm import tqdm

    from fer.errors import FerError

    started = start_predict(args)
    if isinstance(started, int):
        return started
    recognizer, files, skipped = started
    labels = list(recognizer.labels)
    writer, csv_file = None, None
    if args.csv:
        csv_file = open(args.csv, "w", newline="")
        writer = csv.writer(csv_file)
        writer.writerow(CSV_HEADER[:8] + labels + CSV_HEADER[8:])
    results: dict[str, list] = {}
    frames = faces_total = 0
    failures: list[tuple[Path, str]] = []
    show_bar = not args.quiet and (args.csv is not None or args.json) and len(files) > 1
    progress = tqdm(read_ahead(recognizer, files), total=len(files), unit="file", disable=not show_bar,
                    file=sys.stderr)
    try:
        for path, image in progress:
            entries = []
            try:
                for index, time, faces in analyze(recognizer, path, image, args.every):
                    frames += 1
                    faces_total += len(faces)
                    entries.append((index, time, faces))
                    if writer:
                        writer.writerows(csv_rows(path, index, time, faces, labels))
            except FerError as error:
                failures.append((path, str(error)))
                if writer:  # the CSV accounts for every input: an unreadable one gets a row with the reason
                    writer.writerow(error_row(path, str(error), labels))
                progress.write(f"error: {error}", file=sys.stderr)
                continue
            progress.set_postfix(faces=faces_total, failed=len(failures))
            report(args, results, path, entries)
    finally:
        if csv_file:
            csv_file.close()
    if args.json:
        print(json.dumps(results, indent=2))
    summary = f"{len(files)} file(s), {frames} frame(s), {faces_total} face(s), {len(failures)} failed"
    if skipped:
        summary += f", {skipped} other file(s) skipped"
    print(summary + (f"; CSV written to {args.csv}" if args.csv else ""), file=sys.stderr if args.json else sys.stdout)
    for path, reason in failures:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def start_predict(args):
    """The predict command's recognizer (built first, so a bad model or option fails before any work) and the
    files to analyze, or the exit code after saying what is wrong."""
    from fer.errors import FerError
    from fer.model.sources import DEFAULT_MODEL
    from fer.pipeline import Recognizer

    try:
        recognizer = Recognizer(args.model or DEFAULT_MODEL, detector=args.detector, align=not args.no_align,
                                tta="none" if args.no_tta else args.tta)
    except (FerError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files, skipped = expand_paths(args.paths)
    if not files:
        print("error: no image or video files found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    return recognizer, files, skipped


CSV_HEADER = ["file", "frame", "time_s", "face", "x", "y", "width", "height", "top_label", "error"]


def csv_rows(path, index: int, time: float, faces: list, labels: list[str]) -> list[list]:
    """One row per face of an analyzed frame; a frame without a face gets one row with an empty face and box."""
    if not faces:
        return [[str(path), index, f"{time:.3f}", "", "", "", "", "", *([""] * len(labels)), "", ""]]
    return [[str(path), index, f"{time:.3f}", number + 1, *face.box.to_list(),
             *(f"{face.probabilities[label]:.6f}" for label in labels), face.label, ""]
            for number, face in enumerate(faces)]


def error_row(path, reason: str, labels: list[str]) -> list:
    """The row of an input that could not be read (no frame, no face), with the reason."""
    return [str(path), "", "", "", "", "", "", "", *([""] * len(labels)), "", reason]


def explain_image(args) -> int:
    """python -m fer explain: each face's map per method; with --faithfulness, its deletion / insertion areas."""
    from fer.errors import FerError
    from fer.explain import METHODS, check_method
    from fer.model.sources import DEFAULT_MODEL
    from fer.pipeline import Recognizer

    try:
        methods = [check_method(method) for method in (args.method or METHODS)]
        recognizer = Recognizer(args.model or DEFAULT_MODEL)
        analysis = recognizer.analyze(args.image)
        from fer.explain import explain_frames
        from fer.explain.faithfulness import faithfulness

        explainers = []

        def explainer():  # TensorFlow loads only for a method ONNX Runtime cannot give (explain_frames)
            if not explainers:
                from fer.explain import Explainer

                explainers.append(Explainer(recognizer.model))
            return explainers[0]
    except (FerError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    model = recognizer.model
    inputs = model.network_inputs(analysis.inputs)
    faces = []
    for index, face in enumerate(analysis.faces):
        target = recognizer.labels.index(face.label)
        entry = {"face": index + 1, "box": face.box.to_list(), "label": face.label, "methods": {}}
        for method in methods:
            try:  # maps of the whole face frame, as the overlay covers the frame's crop
                heatmap = explain_frames(model, analysis.inputs[index:index + 1], method, [target], explainer)[0]
            except (FerError, ValueError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            figures = {}
            if args.faithfulness:
                figures = faithfulness(model, inputs[index], heatmap, target).to_dict()
                figures.pop("label")
            if args.out:
                from PIL import Image

                from fer.explain import overlay
                from fer.faces import to_rgb

                args.out.mkdir(parents=True, exist_ok=True)
                name = f"{args.image.stem}-face{index + 1}-{method.replace('+', 'plus')}.png"
                Image.fromarray(overlay(to_rgb(analysis.crops[index]), heatmap)).save(args.out / name)
                figures["file"] = str(args.out / name)
            entry["methods"][method] = figures
        faces.append(entry)
    if args.json:
        print(json.dumps({"image": str(args.image), "faces": faces}, indent=2))
        return 0
    print(f"{args.image}: {len(faces)} face(s)")
    for entry in faces:
        print(f"  face {entry['face']} {entry['box']}: {entry['label']}")
        for method, figures in entry["methods"].items():
            if args.faithfulness:
                print(f"    {method:<10} deletion_auc {figures['deletion_auc']:.3f} (random "
                      f"{figures['random_deletion_auc']:.3f}, lower is better)  insertion_auc "
                      f"{figures['insertion_auc']:.3f} (random {figures['random_insertion_auc']:.3f}, higher is better)")
            if "file" in figures:
                print(f"    {method:<10} {figures['file']}")
    return 0


def report(args, results: dict, path: Path, entries: list) -> None:
    """Keep the file's faces for --json, or print them (plain output)."""
    from fer.video import is_video

    if args.json:
        if is_video(path):
            results[str(path)] = [{"frame": index, "time": round(time, 3), "faces": [f.to_dict() for f in faces]}
                                  for index, time, faces in entries]
        else:
            results[str(path)] = [face.to_dict() for face in entries[0][2]]
    elif not args.csv:
        for index, time, faces in entries:
            where = f"{path} @ {time:.2f}s" if is_video(path) else str(path)
            print(f"{where}: {len(faces)} face(s)")
            for face in faces:
                top = sorted(face.probabilities.items(), key=lambda item: -item[1])[:3]
                print(f"  box {face.box.to_list()}: " + ", ".join(f"{label} {p:.2f}" for label, p in top))


if __name__ == "__main__":
    sys.exit(main())
