"""Loaders for FER-2013 (Kaggle CSV or image folders) and FER+ (fer2013new.csv), with clear errors."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import logging
import warnings
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from fer.errors import DataFormatError
from fer.labels import FER2013_LABELS, FERPLUS_EXTRA_COLUMNS, FERPLUS_LABELS

logger = logging.getLogger(__name__)

FER2013_SIZE = 48
FER2013_PIXELS = FER2013_SIZE * FER2013_SIZE
SPLITS = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


@dataclasses.dataclass
class FaceDataset:
    """Grey 48x48 faces with integer labels and, for FER+, the vote distribution as soft targets."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, index into label_names
    label_names: tuple[str, ...]
    soft_targets: np.ndarray | None = None  # (N, num_classes) float32 rows summing to 1
    source: str = ""
    splits: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)

    def subset(self, indices: np.ndarray) -> "FaceDataset":
        soft = None if self.soft_targets is None else self.soft_targets[indices]
        return dataclasses.replace(self, images=self.images[indices], labels=self.labels[indices], soft_targets=soft)


def _check_splits(splits: Sequence[str] | str) -> tuple[str, ...]:
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    unknown = [split for split in splits if split not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"unknown split(s) {unknown or splits!r}; choose from {', '.join(SPLITS)}")
    return splits


def _open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise DataFormatError(f"{path}: file not found")
    # utf-8-sig drops a byte-order mark that spreadsheet exports add; newline="" lets csv handle CRLF.
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _read_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a CSV after checking its header has the required columns."""
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        try:
            header = [name.strip() for name in (reader.fieldnames or [])]
        except (UnicodeDecodeError, gzip.BadGzipFile, OSError, EOFError) as error:
            raise DataFormatError(f"{path}: cannot read as CSV text: {error}") from None
        missing = [name for name in required if name not in header]
        if missing:
            raise DataFormatError(
                f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'no header'}"
            )
        reader.fieldnames = header
        try:
            for row in reader:
                yield reader.line_num, row
        except (UnicodeDecodeError, gzip.BadGzipFile, OSError, EOFError, csv.Error) as error:
            raise DataFormatError(f"{path}: cannot read line {reader.line_num + 1}: {error}") from None


def _parse_pixels(text: str | None, where: str) -> np.ndarray:
    text = text or ""
    # np.fromstring is ~10x faster than split(); it complains when it stops early, which sends us to the
    # slow path that names the problem exactly.
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = np.fromstring(text, dtype=np.int64, sep=" ")
    except ValueError:  # numpy 2.x raises where 1.x warned
        caught, values = [True], np.zeros(0)
    if caught or values.size != FER2013_PIXELS:
        tokens = text.split()
        if len(tokens) != FER2013_PIXELS:
            raise DataFormatError(f"{where}: expected {FER2013_PIXELS} pixel values (48x48), found {len(tokens)}")
        # isdecimal, not isdigit: int() rejects digits such as '²'; removeprefix, not lstrip: '--5' is no number.
        bad = next((token for token in tokens if not token.removeprefix("-").isdecimal()), None)
        if bad is not None:
            raise DataFormatError(f"{where}: non-numeric pixel value {bad!r}")
        try:
            values = np.array(tokens, dtype=np.int64)
        except OverflowError:  # more digits than int64 holds: certainly not a 0..255 pixel
            raise DataFormatError(f"{where}: pixel values must be in 0..255, found {max(tokens, key=len)}") from None
    if values.min() < 0 or values.max() > 255:
        raise DataFormatError(f"{where}: pixel values must be in 0..255, found {values.min()}..{values.max()}")
    return values.astype(np.uint8).reshape(FER2013_SIZE, FER2013_SIZE)


def _parse_label(text: str | None, num_classes: int, where: str) -> int:
    try:
        label = int((text or "").strip())
    except ValueError:
        raise DataFormatError(f"{where}: emotion label {text!r} is not an integer") from None
    if not 0 <= label < num_classes:
        raise DataFormatError(f"{where}: emotion label {label} is out of range 0..{num_classes - 1}")
    return label


class _RowErrors:
    """Collects malformed rows when the caller allows skipping, else raises at the first one."""

    def __init__(self, path: Path, skip_malformed: bool) -> None:
        self.path, self.skip_malformed, self.messages = path, skip_malformed, []

    def handle(self, error: DataFormatError) -> None:
        if not self.skip_malformed:
            raise error
        self.messages.append(str(error))

    def report(self) -> None:
        if self.messages:
            logger.warning("%s: skipped %d malformed row(s); first: %s", self.path, len(self.messages), self.messages[0])


def _read_fer2013_rows(path: Path, skip_malformed: bool,
                       splits: tuple[str, ...]) -> list[tuple[int, str, np.ndarray | None, int | None]]:
    """Every row as (line, usage, pixels, label); pixels and label are parsed only for the wanted splits
    and are None for other rows (and for malformed rows when skipping is allowed)."""
    errors = _RowErrors(path, skip_malformed)
    rows = []
    for line, row in _read_rows(path, ("emotion", "pixels", "Usage")):
        where = f"{path}, line {line}"
        usage = (row.get("Usage") or "").strip()
        try:
            if usage not in SPLITS:
                raise DataFormatError(f"{where}: Usage {usage!r} is not one of {', '.join(SPLITS)}")
            if usage not in splits:
                rows.append((line, usage, None, None))
                continue
            rows.append((line, usage, _parse_pixels(row.get("pixels"), where),
                         _parse_label(row.get("emotion"), len(FER2013_LABELS), where)))
        except DataFormatError as error:
            errors.handle(error)
            rows.append((line, usage, None, None))
    errors.report()
    return rows


def _empty_split_error(path: Path, splits: tuple[str, ...]) -> DataFormatError:
    return DataFormatError(f"{path}: no usable rows in split(s) {', '.join(splits)}")


def load_fer2013(
    path: str | Path,
    splits: Sequence[str] | str = ("Training",),
    skip_malformed: bool = False,
) -> FaceDataset:
    """Read the Kaggle fer2013.csv (or .csv.gz) rows of the given Usage splits.

    A malformed row raises DataFormatError naming file, line and problem, unless skip_malformed=True,
    in which case such rows are skipped and counted in a logged warning.
    """
    path, splits = Path(path), _check_splits(splits)
    rows = [row for row in _read_fer2013_rows(path, skip_malformed, splits) if row[1] in splits and row[2] is not None]
    if not rows:
        raise _empty_split_error(path, splits)
    return FaceDataset(
        images=np.stack([row[2] for row in rows]),
        labels=np.array([row[3] for row in rows], dtype=np.int64),
        label_names=FER2013_LABELS,
        source=str(path),
        splits=splits,
    )


def load_ferplus(
    fer2013_path: str | Path,
    ferplus_path: str | Path,
    splits: Sequence[str] | str = ("Training",),
    skip_malformed: bool = False,
) -> FaceDataset:
    """Join fer2013.csv images with fer2013new.csv votes (row i with row i) into a FER+ dataset.

    Labels are the majority emotion; soft targets are the normalized votes over the eight emotions.
    Rows without an image name, or whose majority is 'unknown' or 'NF' (not a face), are dropped as FER+ does.
    """
    fer2013_path, ferplus_path, splits = Path(fer2013_path), Path(ferplus_path), _check_splits(splits)
    image_rows = _read_fer2013_rows(fer2013_path, skip_malformed, splits)
    vote_columns = FERPLUS_LABELS + FERPLUS_EXTRA_COLUMNS
    vote_rows = list(_read_rows(ferplus_path, ("Usage", "Image name") + vote_columns))
    if len(vote_rows) != len(image_rows):
        raise DataFormatError(
            f"{ferplus_path} has {len(vote_rows)} rows but {fer2013_path} has {len(image_rows)}; "
            "FER+ rows must align one to one with fer2013.csv rows"
        )
    errors = _RowErrors(ferplus_path, skip_malformed)
    images, votes = [], []
    for (_, usage, pixels, _), (line, row) in zip(image_rows, vote_rows):
        if usage not in splits or pixels is None or not (row.get("Image name") or "").strip():
            continue
        try:
            counts = np.array([float(row[name]) for name in vote_columns], dtype=np.float32)
        except (TypeError, ValueError):
            errors.handle(DataFormatError(f"{ferplus_path}, line {line}: vote counts must be numbers"))
            continue
        if counts.min() < 0:
            errors.handle(DataFormatError(f"{ferplus_path}, line {line}: negative vote count"))
            continue
        if counts.sum() == 0 or int(np.argmax(counts)) >= len(FERPLUS_LABELS):
            continue  # majority unknown / not a face, or no votes: FER+ drops these
        images.append(pixels)
        votes.append(counts[: len(FERPLUS_LABELS)])
    errors.report()
    if not images:
        raise _empty_split_error(ferplus_path, splits)
    votes = np.stack(votes)
    return FaceDataset(
        images=np.stack(images),
        labels=np.argmax(votes, axis=1).astype(np.int64),
        label_names=FERPLUS_LABELS,
        soft_targets=votes / votes.sum(axis=1, keepdims=True),
        source=f"{fer2013_path} + {ferplus_path}",
        splits=splits,
    )


def _read_image_file(path: Path) -> np.ndarray:
    # Imported here so that csv-only users do not pay for image decoding set-up.
    from fer.images import load_image
    from fer.model.preprocessing import preprocess_face

    return preprocess_face(load_image(path), (FER2013_SIZE, FER2013_SIZE, 1))[:, :, 0]


def load_image_folder(
    root: str | Path,
    split: str = "train",
    label_names: Sequence[str] = FER2013_LABELS,
    skip_malformed: bool = False,
) -> FaceDataset:
    """Read the Kaggle image-folder layout root/<split>/<class>/*.jpg into 48x48 grey faces.

    Any image type and size is accepted; folders must be named after the labels (case-insensitive).
    """
    root = Path(root)
    folder = root / split
    if not folder.is_dir():
        available = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise DataFormatError(f"{folder}: split folder not found; found {available or 'nothing'} in {root}")
    index = {name.lower(): i for i, name in enumerate(label_names)}
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    unknown = [p.name for p in class_dirs if p.name.lower() not in index]
    if unknown:
        raise DataFormatError(
            f"{folder}: unknown class folder(s) {', '.join(unknown)}; expected names from {', '.join(label_names)}"
        )
    errors = _RowErrors(folder, skip_malformed)
    images, labels = [], []
    for class_dir in class_dirs:
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                images.append(_read_image_file(file))
                labels.append(index[class_dir.name.lower()])
            except ValueError as error:
                errors.handle(DataFormatError(f"{file}: {error}"))
    errors.report()
    if not images:
        raise DataFormatError(f"{folder}: no images found in class folders")
    return FaceDataset(
        images=np.stack(images),
        labels=np.array(labels, dtype=np.int64),
        label_names=tuple(label_names),
        source=str(folder),
        splits=(split,),
    )


def load_dataset(
    data: str | Path,
    splits: Sequence[str] | str = ("Training",),
    ferplus: str | Path | None = None,
    skip_malformed: bool = False,
) -> FaceDataset:
    """Pick the loader from the path: FER+ when `ferplus` is given, an image folder, or a fer2013 CSV.

    For image folders the Kaggle names map onto splits: Training -> train, PublicTest/PrivateTest -> test.
    """
    data = Path(data)
    splits = _check_splits(splits)
    if ferplus is not None:
        return load_ferplus(data, ferplus, splits, skip_malformed)
    if data.is_dir():
        folders = sorted({"train" if split == "Training" else "test" for split in splits})
        parts = [load_image_folder(data, folder, skip_malformed=skip_malformed) for folder in folders]
        return concatenate(parts)
    return load_fer2013(data, splits, skip_malformed)


def concatenate(parts: Iterable[FaceDataset]) -> FaceDataset:
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    soft = None if any(p.soft_targets is None for p in parts) else np.concatenate([p.soft_targets for p in parts])
    return FaceDataset(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        label_names=parts[0].label_names,
        soft_targets=soft,
        source=" + ".join(p.source for p in parts),
        splits=tuple(s for p in parts for s in p.splits),
    )
