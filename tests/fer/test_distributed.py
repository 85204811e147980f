"""fer.distributed on a local Ray instance of 2 CPUs: the same rows as the single-process `predict --csv` run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from app_server import write_video

ray = pytest.importorskip("ray")

EVERY = 2
VIDEO_FRAMES = 13  # with 2 analyzed frames per unit: ranges [0, 4), [4, 8), [8, 12), [12, end)


@pytest.fixture(scope="module")
def collection(tmp_path_factory, face_photo) -> list[str]:
    """Two photos, an unreadable image and an unreadable video in a folder (one nested), and an MJPG video whose
    frames alternate between a face and an empty wall."""
    import cv2

    root = tmp_path_factory.mktemp("collection")
    folder = root / "photos"
    (folder / "more").mkdir(parents=True)
    portrait = cv2.resize(face_photo, (240, 300))
    cv2.imwrite(str(folder / "portrait.jpg"), portrait[:, :, ::-1])
    cv2.imwrite(str(folder / "more" / "mirrored.png"), np.ascontiguousarray(portrait[:, ::-1, ::-1]))
    (folder / "broken.jpg").write_bytes(b"not an image")
    (folder / "more" / "broken.mp4").write_bytes(b"not a video either")
    wall = np.full_like(portrait, 120)
    write_video(root / "clip.avi", [wall if index % 3 == 0 else portrait for index in range(VIDEO_FRAMES)])
    return [str(folder), str(root / "clip.avi")]


@pytest.fixture(scope="module")
def single_process_csv(collection, tmp_path_factory) -> Path:
    from fer.__main__ import main

    path = tmp_path_factory.mktemp("single") / "rows.csv"
    assert main(["predict", *collection, "--csv", str(path), "--every", str(EVERY), "--quiet"]) == 1  # two failed
    return path


@pytest.fixture(scope="module")
def local_ray():
    from fer.distributed import connect

    assert connect(num_cpus=2, quiet=True)
    yield
    ray.shutdown()


def test_long_videos_split_into_frame_ranges_and_images_group(collection):
    from fer.__main__ import expand_paths
    from fer.distributed import Task, plan_units

    files, _ = expand_paths(collection)
    units = plan_units(files, EVERY, actors=2, frames_per_unit=2)
    video = collection[1]
    assert [task for unit in units for task in unit if task.path == video] == [
        Task(video, 0, 4), Task(video, 4, 8), Task(video, 8, 12), Task(video, 12, None)]
    assert all(len(unit) == 1 for unit in units if unit[0].path == video)  # each range is a unit of its own
    assert [task.path for unit in units for task in unit] == [str(path) for path in files if str(path) != video] + [
        video] * 4  # input order
    # By default units hold at least MIN_FRAMES_PER_UNIT analyzed frames: these 11 make one unit of whole files.
    assert plan_units(files, EVERY, actors=2) == [[Task(str(path)) for path in files]]


def test_ray_rows_equal_the_single_process_rows(collection, single_process_csv, local_ray, tmp_path):
    from fer.__main__ import expand_paths
    from fer.distributed import analyse_collection, write_csv, write_parquet
    from fer.model.sources import DEFAULT_MODEL, load_model

    files, _ = expand_paths(collection)
    labels = list(load_model(DEFAULT_MODEL).labels)
    rows = analyse_collection(files, every=EVERY, actors=2, frames_per_unit=2).materialize()
    written = write_csv(rows, tmp_path / "rows.csv", labels)
    assert (tmp_path / "rows.csv").read_bytes() == single_process_csv.read_bytes()

    table = list(csv.DictReader(open(single_process_csv, newline="")))
    video = [row for row in table if row["file"] == collection[1]]
    # The global frame index and time across the four ranges, every second frame; the wall frames have no face.
    assert [int(row["frame"]) for row in video] == list(range(0, VIDEO_FRAMES, EVERY))
    assert [row["face"] for row in video] == ["" if int(row["frame"]) % 3 == 0 else "1" for row in video]
    assert {Path(row["file"]).name for row in table if row["error"]} == {"broken.jpg", "broken.mp4"}
    assert (written.frames, written.faces, len(written.failures)) == (2 + len(video), 2 + 4, 2)

    # Parquet: the same rows, numbers typed and empty cells null.
    import pyarrow.parquet as pq

    write_parquet(rows, tmp_path / "rows.parquet", labels)
    typed = pq.read_table(tmp_path / "rows.parquet")
    assert typed.schema.field("frame").type == "int64" and typed.schema.field(labels[0]).type == "double"
    formats = {"time_s": "{:.3f}", **{label: "{:.6f}" for label in labels}}

    def as_text(name, value):
        return "" if value is None else formats.get(name, "{}").format(value)

    assert [{name: as_text(name, value) for name, value in row.items()} for row in typed.to_pylist()] == table


def test_cli_engine_ray_writes_the_same_csv(collection, single_process_csv, local_ray, tmp_path, capsys):
    from fer.__main__ import main

    out = tmp_path / "rows.csv"
    assert main(["predict", *collection, "--csv", str(out), "--every", str(EVERY), "--engine", "ray", "--quiet"]) == 1
    assert out.read_bytes() == single_process_csv.read_bytes()
    printed = capsys.readouterr()
    # 5 files; 2 photos and 7 analyzed video frames, 4 of them with the face
    assert printed.out.strip().endswith(f"5 file(s), 9 frame(s), 6 face(s), 2 failed; CSV written to {out}")
    assert printed.err.count("  failed: ") == 2 and "broken.mp4" in printed.err


@pytest.mark.parametrize("arguments, message", [
    (["--engine", "ray"], "--engine ray writes rows: give --csv PATH"),
    (["--address", "auto"], "--address needs --engine ray"),
])
def test_engine_options_are_checked(arguments, message, capsys):
    from fer.__main__ import main

    with pytest.raises(SystemExit):
        main(["predict", "photo.jpg", *arguments])
    assert message in capsys.readouterr().err
