"""Hostile dataset files: each malformed CSV or folder gives a DataFormatError naming file, line and problem."""

from __future__ import annotations

import gzip
import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fer.data import load_fer2013, load_ferplus, load_image_folder
from fer.errors import DataFormatError
from fer.labels import FERPLUS_LABELS

HEADER = "emotion,pixels,Usage"
FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def face_pixels(value: int = 100) -> str:
    return " ".join([str(value)] * 2304)


def fer2013_text(rows: list[tuple], header: str = HEADER, newline: str = "\n") -> str:
    return newline.join([header] + [",".join(map(str, row)) for row in rows]) + newline


def write(path: Path, text: str, bom: bool = False) -> Path:
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


GOOD_ROWS = [(3, face_pixels(10), "Training"), (6, face_pixels(20), "PublicTest"), (0, face_pixels(30), "Training")]


@pytest.mark.parametrize("name", ["plain.csv", "packed.csv.gz"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
def test_bom_and_crlf_read_exactly_like_a_plain_file(tmp_path, name, newline, bom):
    path = write(tmp_path / name, fer2013_text(GOOD_ROWS, newline=newline), bom=bom)
    data = load_fer2013(path, ["Training", "PublicTest"])
    assert data.labels.tolist() == [3, 6, 0]
    assert [int(image[0, 0]) for image in data.images] == [10, 20, 30]
    assert data.images.shape == (3, 48, 48)


@pytest.mark.parametrize(
    "row, problem",
    [
        ((3, face_pixels()[4:], "Training"), "expected 2304 pixel values (48x48), found 2303"),
        ((3, face_pixels() + " 7", "Training"), "expected 2304 pixel values (48x48), found 2305"),
        ((3, "", "Training"), "expected 2304 pixel values (48x48), found 0"),
        ((3, face_pixels().replace("100", "1e2", 1), "Training"), "non-numeric pixel value '1e2'"),
        ((3, face_pixels().replace("100", "12.5", 1), "Training"), "non-numeric pixel value '12.5'"),
        ((3, face_pixels().replace("100", "²", 1), "Training"), "non-numeric pixel value '²'"),
        ((3, face_pixels().replace("100", "--5", 1), "Training"), "non-numeric pixel value '--5'"),
        ((3, face_pixels().replace("100", "-1", 1), "Training"), "pixel values must be in 0..255, found -1..100"),
        ((3, face_pixels().replace("100", "99999999999999999999", 1), "Training"), "0..255"),
        ((-1, face_pixels(), "Training"), "emotion label -1 is out of range 0..6"),
        ((7, face_pixels(), "Training"), "emotion label 7 is out of range 0..6"),
        ((3.0, face_pixels(), "Training"), "emotion label '3.0' is not an integer"),
        (("", face_pixels(), "Training"), "emotion label '' is not an integer"),
        ((3, face_pixels(), "training"), "Usage 'training' is not one of Training, PublicTest, PrivateTest"),
    ],
    ids=["short", "long", "empty", "exponent", "decimal", "superscript", "double-minus", "negative", "overflow", "label-neg",
         "label-7", "label-float", "label-empty", "usage-case"],
)
def test_malformed_row_names_file_line_and_problem(tmp_path, row, problem):
    path = write(tmp_path / "bad.csv", fer2013_text([GOOD_ROWS[0], GOOD_ROWS[1], row]))
    with pytest.raises(DataFormatError) as raised:
        load_fer2013(path)
    message = str(raised.value)
    assert message.startswith(f"{path}, line 4: ")
    assert problem in message


def test_skip_malformed_keeps_good_rows_and_reports_the_count(tmp_path, caplog):
    rows = [GOOD_ROWS[0], (9, face_pixels(), "Training"), (3, "1 2 3", "Training"), GOOD_ROWS[2]]
    path = write(tmp_path / "mixed.csv", fer2013_text(rows))
    with caplog.at_level(logging.WARNING, logger="fer.data"):
        data = load_fer2013(path, skip_malformed=True)
    assert data.labels.tolist() == [3, 0]
    assert "skipped 2 malformed row(s)" in caplog.text
    assert f"{path}, line 3: emotion label 9 is out of range" in caplog.text


@pytest.mark.parametrize(
    "header, missing",
    [
        ("emotion,Usage", "pixels"),
        ("label,pixels,split", "emotion, Usage"),
        ("Emotion,Pixels,usage", "emotion, pixels, Usage"),
    ],
)
def test_missing_columns_are_listed_with_what_was_found(tmp_path, header, missing):
    path = write(tmp_path / "cols.csv", header + "\n1,2,3\n")
    with pytest.raises(DataFormatError) as raised:
        load_fer2013(path)
    assert str(raised.value) == f"{path}: missing column(s) {missing}; found {header.replace(',', ', ')}"


def test_extra_columns_and_padded_header_names_are_fine(tmp_path):
    text = fer2013_text([(3, face_pixels(5), "Training", "note")], header=" emotion , pixels,Usage,comment")
    assert load_fer2013(write(tmp_path / "extra.csv", text)).labels.tolist() == [3]


def test_empty_file_and_header_only_file(tmp_path):
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(DataFormatError, match=r"empty\.csv: missing column\(s\) emotion, pixels, Usage; found no header"):
        load_fer2013(empty)
    header_only = write(tmp_path / "header.csv", HEADER + "\r\n")
    with pytest.raises(DataFormatError, match=r"header\.csv: no usable rows in split\(s\) Training"):
        load_fer2013(header_only)


def test_empty_split_names_the_split(tmp_path):
    path = write(tmp_path / "train-only.csv", fer2013_text([GOOD_ROWS[0]]))
    with pytest.raises(DataFormatError, match=r"train-only\.csv: no usable rows in split\(s\) PublicTest, PrivateTest"):
        load_fer2013(path, ["PublicTest", "PrivateTest"])


def test_binary_garbage_and_fake_gzip_are_refused_as_unreadable(tmp_path):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00\x81" * 64)
    with pytest.raises(DataFormatError, match=r"garbage\.csv: cannot read as CSV text"):
        load_fer2013(garbage)
    fake = tmp_path / "fake.csv.gz"
    fake.write_text(fer2013_text(GOOD_ROWS))
    with pytest.raises(DataFormatError, match=r"fake\.csv\.gz: cannot read as CSV text"):
        load_fer2013(fake)


def test_bad_bytes_after_the_header_name_the_line(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(fer2013_text(GOOD_ROWS[:2]).encode() + b"3,\xff\xfe,Training\n")
    with pytest.raises(DataFormatError, match=r"late\.csv: cannot read line"):
        load_fer2013(path)


@settings(max_examples=30, deadline=None)
@given(token=st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=",\"\r\n"), max_size=12))
def test_any_pixel_token_loads_or_names_the_problem(token):
    """Whatever text replaces one pixel, the loader returns that pixel or raises our error for line 2."""
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "one.csv", fer2013_text([(3, f"{token} " + face_pixels(7)[2:], "Training")]))
        if token.isascii() and token.isdigit() and int(token) <= 255:
            assert int(load_fer2013(path).images[0, 0, 0]) == int(token)
            return
        # Anything else ("+5", "1_0", Arabic-Indic digits...) may be read as int() reads it, or refused.
        try:
            data = load_fer2013(path)
        except DataFormatError as error:
            assert str(error).startswith(f"{path}, line 2: ")
        else:
            assert int(data.images[0, 0, 0]) == int(token)


# FER+ ------------------------------------------------------------------------------------------------

def ferplus_text(rows: list[tuple], header: str = FERPLUS_HEADER) -> str:
    return "\n".join([header] + [",".join(map(str, row)) for row in rows]) + "\n"


def votes(name: str, **counts: int) -> tuple:
    """One fer2013new.csv row with the given vote counts (others 0)."""
    columns = FERPLUS_HEADER.split(",")[2:]
    return ("Training", name, *[counts.get(column, 0) for column in columns])


@pytest.fixture
def images_csv(tmp_path) -> Path:
    return write(tmp_path / "fer2013.csv", fer2013_text(GOOD_ROWS))


@pytest.mark.parametrize("vote_rows", [2, 4], ids=["fewer", "more"])
def test_ferplus_row_count_mismatch_names_both_files_and_counts(tmp_path, images_csv, vote_rows):
    path = write(tmp_path / "fer2013new.csv", ferplus_text([votes(f"f{i}.png", neutral=10) for i in range(vote_rows)]))
    with pytest.raises(DataFormatError) as raised:
        load_ferplus(images_csv, path)
    assert str(raised.value) == (f"{path} has {vote_rows} rows but {images_csv} has 3; "
                                 "FER+ rows must align one to one with fer2013.csv rows")


def test_ferplus_missing_vote_column(tmp_path, images_csv):
    header = FERPLUS_HEADER.replace(",contempt", "")
    path = write(tmp_path / "fer2013new.csv", header + "\n")
    with pytest.raises(DataFormatError, match=r"fer2013new\.csv: missing column\(s\) contempt; found Usage, "):
        load_ferplus(images_csv, path)


@pytest.mark.parametrize(
    "bad_row, problem",
    [
        (("Training", "f2.png", "x", 0, 0, 0, 0, 0, 0, 0, 0, 0), "line 4: vote counts must be numbers"),
        (("Training", "f2.png", -3, 5, 0, 0, 0, 0, 0, 0, 0, 0), "line 4: negative vote count"),
        (("Training", "f2.png", 5), "line 4: vote counts must be numbers"),  # a short row
    ],
    ids=["text", "negative", "short-row"],
)
def test_ferplus_bad_votes_name_the_line(tmp_path, images_csv, bad_row, problem):
    path = write(tmp_path / "fer2013new.csv", ferplus_text([votes("f0.png", happiness=9), votes("f1.png", neutral=8), bad_row]))
    with pytest.raises(DataFormatError) as raised:
        load_ferplus(images_csv, path)
    assert str(raised.value) == f"{path}, {problem}"
    data = load_ferplus(images_csv, path, skip_malformed=True)
    assert data.labels.tolist() == [FERPLUS_LABELS.index("happiness")]


def test_ferplus_with_bom_crlf_and_blank_image_names_like_real_files(tmp_path, images_csv):
    rows = [votes("f0.png", happiness=9, surprise=1), votes("", neutral=10), votes("f2.png", NF=10)]
    path = write(tmp_path / "fer2013new.csv", ferplus_text(rows).replace("\n", "\r\n"), bom=True)
    data = load_ferplus(images_csv, path)  # the blank name and the not-a-face row are dropped
    assert data.labels.tolist() == [FERPLUS_LABELS.index("happiness")]
    np.testing.assert_allclose(data.soft_targets[0], [0, 0.9, 0.1, 0, 0, 0, 0, 0])


# Image folders -----------------------------------------------------------------------------------------

def test_image_folder_names_each_hostile_file(tmp_path):
    happy = tmp_path / "train" / "happy"
    happy.mkdir(parents=True)
    Image.new("RGB", (64, 80), (90, 120, 200)).save(happy / "good.png")
    (happy / "empty.jpg").write_bytes(b"")
    (happy / "text.jpg").write_text("not a photo")
    (happy / "readme.md").write_text("ignored: not an image suffix")
    with pytest.raises(DataFormatError) as raised:
        load_image_folder(tmp_path)
    assert str(raised.value).startswith(f"{happy / 'empty.jpg'}: ")
    assert str(raised.value).endswith("file is empty (0 bytes)")
    data = load_image_folder(tmp_path, skip_malformed=True)
    assert data.images.shape == (1, 48, 48) and data.labels.tolist() == [3]


def test_image_folder_without_images_or_split(tmp_path):
    (tmp_path / "test" / "sad").mkdir(parents=True)
    with pytest.raises(DataFormatError, match=r"test: no images found in class folders"):
        load_image_folder(tmp_path, "test")
    with pytest.raises(DataFormatError, match=r"train: split folder not found; found \['test'\] in "):
        load_image_folder(tmp_path, "train")
