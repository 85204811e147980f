"""Pack fer2013.csv[.gz] small enough to travel to an accelerator machine, and unpack it there, losslessly.

The CSV (84 MB gzipped) does not fit beside the working tree in one 64 MiB device call. The faces as raw bytes,
each pixel coded as its difference to the pixel above (xz's delta filter, distance 48) and xz -9e on top, take
about 50 MB; labels and splits travel beside them. `unpack` writes the same CSV rows back (the pixel strings
byte for byte as `str` of the integers), so the training code reads it unchanged.

    python -m training.pack_faces pack ../shared/data/fer2013/fer2013.csv.gz .devdata/faces.xz
    python -m training.pack_faces unpack .devdata/faces.xz /tmp/fer2013.csv
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import struct
import sys
from pathlib import Path

import numpy as np

from fer.data import SPLITS, _read_rows

_SIDE = 48
_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": _SIDE}, {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
_MAGIC = b"FERPACK1"


def pack(csv_path: Path, out_path: Path) -> dict:
    """Every row of the CSV, in order: header (labels, splits as JSON), then the pixels, xz-compressed."""
    labels, usages, faces = [], [], []
    for line, row in _read_rows(csv_path, ("emotion", "pixels", "Usage")):
        pixels = np.array(row["pixels"].split(), dtype=np.int32)
        if pixels.size != _SIDE * _SIDE or pixels.min() < 0 or pixels.max() > 255:
            raise ValueError(f"{csv_path}, line {line}: expected {_SIDE * _SIDE} grey values 0..255")
        labels.append(int(row["emotion"]))
        usages.append(SPLITS.index(row["Usage"].strip()))
        faces.append(pixels.astype(np.uint8))
    header = json.dumps({"labels": labels, "usages": usages, "splits": list(SPLITS)}).encode()
    body = lzma.compress(np.stack(faces).tobytes(), format=lzma.FORMAT_XZ, filters=_FILTERS)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(_MAGIC + struct.pack("<I", len(header)) + header + body)
    return {"rows": len(faces), "bytes": out_path.stat().st_size}


def unpack(pack_path: Path, csv_path: Path) -> int:
    data = pack_path.read_bytes()
    if not data.startswith(_MAGIC):
        raise ValueError(f"{pack_path} is not a packed FER-2013 file")
    (size,) = struct.unpack_from("<I", data, len(_MAGIC))
    start = len(_MAGIC) + 4
    header = json.loads(data[start:start + size])
    faces = np.frombuffer(lzma.decompress(data[start + size:]), dtype=np.uint8).reshape(-1, _SIDE * _SIDE)
    if len(faces) != len(header["labels"]):
        raise ValueError(f"{pack_path}: {len(faces)} faces for {len(header['labels'])} labels")
    text = [str(v) for v in range(256)]
    out = io.StringIO()
    out.write("emotion,pixels,Usage\n")
    for label, usage, face in zip(header["labels"], header["usages"], faces):
        out.write(f"{label},{' '.join(text[v] for v in face.tolist())},{header['splits'][usage]}\n")
    csv_path.write_text(out.getvalue())
    return len(faces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.pack_faces", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.action == "pack":
        print(pack(args.source, args.target))
    else:
        print(f"{unpack(args.source, args.target)} rows -> {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
