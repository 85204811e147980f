"""python -m fer predict PATH... [--csv out.csv | --json]: per-face emotions for images, folders and videos."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Iterator

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


def analyse(recognizer, path: Path, every: int) -> Iterator[tuple[int, float, list]]:
    """(frame index, time in seconds, faces) for an image (one frame) or each analysed video frame."""
    from fer.errors import VideoError
    from fer.video import VideoReader, analyze_video, is_video

    if is_video(path):
        with VideoReader(path) as reader:
            for item in analyze_video(recognizer, reader, every):
                yield item.index, item.time, item.analysis.faces
            if reader.frames_read == 0:
                raise VideoError(f"{path.name}: no frames could be decoded")
    else:
        yield 0, 0.0, recognizer.predict(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer", description="Facial expression recognition.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="the emotions of every face in images, folders and videos")
    predict.add_argument("paths", nargs="+", metavar="PATH",
                         help="image or video files (mp4, webm, avi, mov), or folders searched recursively")
    predict.add_argument("--model", default=None, help="model folder, bundled name or hf://owner/repo@revision")
    predict.add_argument("--detector", default="yunet", choices=("yunet", "haar"), help="face detector")
    output = predict.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON (fer-compatible per-face dicts)")
    output.add_argument("--csv", type=Path, help="write one row per face to this CSV file")
    predict.add_argument("--every", type=int, default=1, help="videos: analyse every k-th frame (default 1)")
    predict.add_argument("--tta", choices=("none", "flip", "ten_crop"), help="test-time augmentation "
                         "(default: the model's config)")
    predict.add_argument("--no-tta", action="store_true", help="same as --tta none")
    predict.add_argument("--no-align", action="store_true", help="do not rotate faces so the eyes are level")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")

    from tqdm import tqdm

    from fer.errors import FerError
    from fer.hub import DEFAULT_MODEL
    from fer.recognizer import Recognizer

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
    labels = list(recognizer.labels)
    writer, csv_file = None, None
    if args.csv:
        csv_file = open(args.csv, "w", newline="")
        writer = csv.writer(csv_file)
        writer.writerow(["file", "frame", "time_s", "face", "x", "y", "width", "height", *labels, "top_label"])
    results: dict[str, list] = {}
    frames = faces_total = 0
    failures: list[tuple[Path, str]] = []
    show_bar = not args.quiet and (args.csv is not None or args.json) and len(files) > 1
    progress = tqdm(files, unit="file", disable=not show_bar, file=sys.stderr)
    try:
        for path in progress:
            entries = []
            try:
                for index, time, faces in analyse(recognizer, path, args.every):
                    frames += 1
                    faces_total += len(faces)
                    entries.append((index, time, faces))
                    for number, face in enumerate(faces):
                        if writer:
                            writer.writerow([str(path), index, f"{time:.3f}", number + 1, *face.box.to_list(),
                                             *(f"{face.probabilities[label]:.6f}" for label in labels), face.label])
            except FerError as error:
                failures.append((path, str(error)))
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
