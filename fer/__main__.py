"""python -m fer predict IMAGE... [--model SOURCE] [--json]: per-face emotions on the command line."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer", description="Facial expression recognition.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="print the emotions of every face in each image")
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--model", default=None, help="model folder, bundled name or hf://owner/repo@revision")
    predict.add_argument("--json", action="store_true", help="print JSON (fer-compatible per-face dicts)")
    predict.add_argument("--no-tta", action="store_true", help="turn off flip test-time augmentation")
    args = parser.parse_args(argv)

    from fer.errors import FerError
    from fer.hub import DEFAULT_MODEL
    from fer.recognizer import Recognizer

    try:
        recognizer = Recognizer(args.model or DEFAULT_MODEL)
    except FerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results, failed = {}, False
    for path in args.images:
        try:
            faces = recognizer.predict(path, flip_tta=False if args.no_tta else None)
        except FerError as error:
            print(f"error: {error}", file=sys.stderr)
            failed = True
            continue
        results[path] = [face.to_dict() for face in faces]
        if not args.json:
            print(f"{path}: {len(faces)} face(s)")
            for face in faces:
                top = sorted(face.probabilities.items(), key=lambda item: -item[1])[:3]
                print(f"  box {face.box.to_list()}: " + ", ".join(f"{label} {p:.2f}" for label, p in top))
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
