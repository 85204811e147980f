"""Loaders: FER-2013 CSV (plain and gz), FER+ alignment and votes, image folders, and malformed input."""

from __future__ import annotations

import gzip

import cv2
import numpy as np
import pytest
from conftest import FER2013_CSV, FERPLUS_CSV, needs_data

from fer.data import load_dataset, load_fer2013, load_ferplus, load_image_folder
from fer.errors import DataFormatError
from fer.labels import FER2013_LABELS, FERPLUS_LABELS

FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def pixels(value: int) -> str:
    return " ".join([str(value)] * 2304)


def write_fer2013(path, rows, header="emotion,pixels,Usage", newline="\n"):
    text = newline.join([header] + [f"{label},{pix},{usage}" for label, pix, usage in rows]) + newline
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


ROWS = [(3, pixels(10), "Training"), (0, pixels(20), "Training"), (6, pixels(30), "PublicTest"),
        (5, pixels(40), "PrivateTest")]


@pytest.mark.parametrize("name", ["fer2013.csv", "fer2013.csv.gz"])
def test_fer2013_reads_splits_plain_and_gzip(tmp_path, name):
    path = write_fer2013(tmp_path / name, ROWS)
    train = load_fer2013(path, "Training")
    assert train.images.shape == (2, 48, 48) and train.images.dtype == np.uint8
    assert train.labels.tolist() == [3, 0]
    assert train.images[1, 0, 0] == 20
    assert train.label_names == FER2013_LABELS
    both = load_fer2013(path, ["PublicTest", "PrivateTest"])
    assert both.labels.tolist() == [6, 5]


def test_fer2013_accepts_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.csv"
    write_fer2013(path, ROWS, newline="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_fer2013(path, "Training").labels.tolist() == [3, 0]


@pytest.mark.parametrize(
    "row, message",
    [
        ((3, " ".join(["1"] * 2303), "Training"), "expected 2304 pixel values (48x48), found 2303"),
        ((3, pixels(1).replace("1", "x", 1), "Training"), "non-numeric pixel value 'x'"),
        ((3, pixels(300), "Training"), "pixel values must be in 0..255"),
        ((7, pixels(1), "Training"), "emotion label 7 is out of range 0..6"),
        (("happy", pixels(1), "Training"), "emotion label 'happy' is not an integer"),
        ((3, pixels(1), "Validation"), "Usage 'Validation' is not one of"),
    ],
)
def test_fer2013_malformed_row_names_file_line_and_problem(tmp_path, row, message):
    path = write_fer2013(tmp_path / "bad.csv", [ROWS[0], row])
    with pytest.raises(DataFormatError) as error:
        load_fer2013(path, "Training")
    assert message in str(error.value)
    assert f"{path}, line 3" in str(error.value)


def test_fer2013_skip_malformed_skips_only_bad_rows(tmp_path, caplog):
    path = write_fer2013(tmp_path / "bad.csv", [ROWS[0], (9, pixels(1), "Training"), ROWS[1]])
    data = load_fer2013(path, "Training", skip_malformed=True)
    assert data.labels.tolist() == [3, 0]
    assert "skipped 1 malformed row" in caplog.text


def test_fer2013_missing_column_and_empty_split(tmp_path):
    missing = write_fer2013(tmp_path / "missing.csv", [(3, pixels(1), "")], header="emotion,pixels,Split")
    with pytest.raises(DataFormatError, match="missing column\\(s\\) Usage"):
        load_fer2013(missing)
    only_train = write_fer2013(tmp_path / "train.csv", ROWS[:2])
    with pytest.raises(DataFormatError, match="no usable rows in split\\(s\\) PublicTest"):
        load_fer2013(only_train, "PublicTest")
    with pytest.raises(ValueError, match="unknown split"):
        load_fer2013(only_train, "Validation")
    with pytest.raises(DataFormatError, match="file not found"):
        load_fer2013(tmp_path / "nope.csv")


def write_ferplus(path, vote_rows):
    lines = [FERPLUS_HEADER] + [",".join(map(str, row)) for row in vote_rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ferplus_majority_soft_targets_and_dropped_rows(tmp_path):
    images = write_fer2013(tmp_path / "fer2013.csv", ROWS)
    votes = write_ferplus(tmp_path / "fer2013new.csv", [
        ("Training", "fer0.png", 6, 2, 0, 0, 0, 0, 0, 2, 0, 0),   # neutral majority, contempt votes
        ("Training", "", 10, 0, 0, 0, 0, 0, 0, 0, 0, 0),          # no image name: not a face in FER+
        ("PublicTest", "fer2.png", 0, 1, 0, 0, 0, 0, 0, 0, 9, 0),  # majority unknown: dropped
        ("PrivateTest", "fer3.png", 0, 0, 7, 0, 0, 0, 3, 0, 0, 0),
    ])
    train = load_ferplus(images, votes, "Training")
    assert train.label_names == FERPLUS_LABELS
    assert train.labels.tolist() == [0]
    np.testing.assert_allclose(train.soft_targets[0], [0.6, 0.2, 0, 0, 0, 0, 0, 0.2])
    assert train.images[0, 0, 0] == 10
    with pytest.raises(DataFormatError, match="no usable rows"):
        load_ferplus(images, votes, "PublicTest")
    private = load_ferplus(images, votes, "PrivateTest")
    assert private.labels.tolist() == [FERPLUS_LABELS.index("surprise")]
    np.testing.assert_allclose(private.soft_targets.sum(axis=1), 1.0)


def test_ferplus_row_count_mismatch_is_an_error(tmp_path):
    images = write_fer2013(tmp_path / "fer2013.csv", ROWS)
    votes = write_ferplus(tmp_path / "fer2013new.csv", [("Training", "a.png", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)])
    with pytest.raises(DataFormatError, match="has 1 rows but .* has 4"):
        load_ferplus(images, votes)


def test_image_folder_any_type_and_size(tmp_path):
    rng = np.random.default_rng(0)
    for split, cls, name in [("train", "happy", "a.jpg"), ("train", "Sad", "b.png"), ("test", "neutral", "c.bmp")]:
        (tmp_path / split / cls).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / split / cls / name), rng.integers(0, 255, (90, 70, 3), dtype=np.uint8))
    (tmp_path / "train" / "happy" / "notes.txt").write_text("not an image")
    train = load_image_folder(tmp_path, "train")
    assert train.images.shape == (2, 48, 48)
    assert sorted(train.labels.tolist()) == [FER2013_LABELS.index("happy"), FER2013_LABELS.index("sad")]
    both = load_dataset(tmp_path, ["Training", "PublicTest"])
    assert len(both) == 3


def test_image_folder_errors(tmp_path):
    (tmp_path / "train" / "smiling").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="unknown class folder\\(s\\) smiling"):
        load_image_folder(tmp_path, "train")
    with pytest.raises(DataFormatError, match="split folder not found"):
        load_image_folder(tmp_path, "test")
    (tmp_path / "train" / "smiling").rmdir()
    (tmp_path / "train" / "happy").mkdir()
    (tmp_path / "train" / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match="broken.jpg"):
        load_image_folder(tmp_path, "train")


@needs_data
def test_real_fer2013_and_ferplus_splits():
    public = load_fer2013(FER2013_CSV, "PublicTest")
    assert len(public) == 3579
    assert public.class_counts().sum() == 3579
    ferplus = load_ferplus(FER2013_CSV, FERPLUS_CSV, "PublicTest")
    assert 3000 < len(ferplus) < 3579  # rows with an unknown / not-a-face majority are dropped
    np.testing.assert_allclose(ferplus.soft_targets.sum(axis=1), 1.0, rtol=1e-5)
