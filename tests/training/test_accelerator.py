"""Packing the data for the device machine and bringing a model home from it (training.pack_faces,
training.accelerator), on small generated data."""

from __future__ import annotations

import gzip
import json
import tarfile

import numpy as np
import pytest

from fer.model.sources import load_model
from test_training import train_args
from training import accelerator, pack_faces


def test_packed_faces_unpack_to_the_same_csv_text(tiny_csv, tmp_path):
    packed = tmp_path / "faces.xz"
    pack_faces.pack(tiny_csv, packed)
    rows = pack_faces.unpack(packed, tmp_path / "again.csv")
    original = tiny_csv.read_text() if tiny_csv.suffix == ".csv" else gzip.open(tiny_csv, "rt").read()
    assert (tmp_path / "again.csv").read_text().replace("\r", "") == original.replace("\r", "")
    assert rows == original.count("\n") - 1


def test_unpack_rejects_a_file_that_is_not_a_pack(tmp_path):
    (tmp_path / "bad.xz").write_bytes(b"not a pack")
    with pytest.raises(ValueError, match="not a packed"):
        pack_faces.unpack(tmp_path / "bad.xz", tmp_path / "out.csv")


def test_plan_fits_whole_epochs_into_the_time_left():
    probe = {"epoch_seconds": [30.0, 3.0], "history": {"images_per_second": [100.0, 1000.0]}}
    # 1,000 faces/s: 2 s of the probe's 3 s trained 2,000 faces; 1 s besides. Full split: 10 s + 1 s per epoch.
    assert accelerator.plan_epochs(probe, 2000, 10000, 100, most=200) == 9
    assert accelerator.plan_epochs(probe, 2000, 10000, 5, most=200) == 1
    assert accelerator.plan_epochs(probe, 2000, 10000, 1e6, most=50) == 50
    # By the clock the epoch took 6 s (scoring the weight average and saving come after epoch_seconds): 4 s fixed.
    probe["epoch_wall_seconds"] = [33.0, 6.0]
    assert accelerator.plan_epochs(probe, 2000, 10000, 100, most=200) == 7
    # The probe's process took 52 s by the clock, 12 s of them steady epochs: the full run starts up, compiles and
    # scores once more (40 s), leaving 60 s for epochs of 14 s.
    assert accelerator.plan_epochs(probe, 2000, 10000, 100, most=200, probe_seconds=52.0) == 4


def test_exported_weights_assemble_into_a_model_folder_with_the_same_predictions(tiny_csv, tmp_path, monkeypatch):
    from training.train import main

    assert main(train_args(tiny_csv, tmp_path, "--epochs", "1", "--no-temperature")) == 0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert len(state["epoch_wall_seconds"]) == 1 and state["epoch_wall_seconds"][0] >= state["epoch_seconds"][0]
    downloaded = tmp_path / "downloaded"
    downloaded.mkdir()
    monkeypatch.setattr(accelerator, "PART_BYTES", 20_000)  # several parts, as a ResNet50 needs
    parts = accelerator.export_weights(tmp_path / "model", downloaded, "stage-")
    assert len(parts) > 1 and all(p.stat().st_size <= 20_000 and p.name.startswith("stage-") for p in parts)
    empty = tmp_path / "empty"
    empty.mkdir()
    weights = accelerator.check_room_to_return(empty, tmp_path / "model")
    assert 0.9 * sum(p.stat().st_size for p in parts) < weights <= sum(p.stat().st_size for p in parts)
    # A second stage whose parts would not come back with the first's is refused before it trains.
    monkeypatch.setattr(accelerator, "RETURN_BYTES", 2 * weights + accelerator.ARCHIVE_BYTES - 1)
    with pytest.raises(ValueError, match="call of its own"):
        accelerator.check_room_to_return(downloaded, tmp_path / "model")
    with tarfile.open(downloaded / f"stage-{accelerator.SMALL_FILES}", "w:gz") as archive:
        archive.add(tmp_path / "model" / "config.json", arcname="model/config.json")
        archive.add(tmp_path / "run" / "state.json", arcname="state.json")
    (downloaded / "other-weights.npz.part00").write_bytes(b"another stage's part, not read")

    folder = accelerator.assemble(downloaded, tmp_path / "home", name="stage")
    assert (tmp_path / "home" / "state.json").is_file()
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1)).astype(np.float32)
    before = load_model(tmp_path / "model", runtime="keras").predict_proba(faces, tta="none")
    after = load_model(folder, runtime="keras").predict_proba(faces, tta="none")
    # Kernels travel as float16: predictions agree to about its precision.
    np.testing.assert_allclose(after, before, atol=2e-3)


def test_assemble_refuses_weights_that_do_not_fit_the_network(tiny_csv, tmp_path):
    from training.train import main

    assert main(train_args(tiny_csv, tmp_path, "--epochs", "1", "--no-temperature")) == 0
    downloaded = tmp_path / "downloaded"
    downloaded.mkdir()
    parts = accelerator.export_weights(tmp_path / "model", downloaded)
    parts[-1].write_bytes(parts[-1].read_bytes()[:-100])  # a part cut short in transfer
    with tarfile.open(downloaded / accelerator.SMALL_FILES, "w:gz") as archive:
        archive.add(tmp_path / "model" / "config.json", arcname="model/config.json")
    with pytest.raises(ValueError, match="not a whole archive"):
        accelerator.assemble(downloaded, tmp_path / "home")
