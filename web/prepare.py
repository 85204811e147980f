"""python -m web.prepare [--model SOURCE ...] [--site DIR]: the generated files the private-mode page loads.

runtime/  ONNX Runtime Web's WASM build (three files) from the npm registry: `npm pack`, or without npm a plain
          download of the same tarball; either way checked against the pinned version's sha512 (ORT_WEB_INTEGRITY).
models/   each model folder's own `config.json` and `model.onnx` (and `model.int8.onnx` when config.json records
          one), copied after checking each file's sha256 against config.json: the page runs the very file the app,
          the CLI and the Hub run (nothing is exported here). YuNet, and pipeline.json: the app's webcam settings
          read from the Python code (serve.engine's webcam model and Recognizer, its detector, fer.live's tracker
          and Grad-CAM defaults, fer.annotate's palette, fer.explain's overlay), so the page copies no constant by
          hand. pipeline.json is written
          last: the app offers private mode once it exists.

Both are generated (gitignored); `make web` runs this, and `make app` runs `make web`. The page itself
(index.html and the JavaScript modules) is tracked; --site DIR builds a complete copy elsewhere (the tests do).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
ORT_WEB = "onnxruntime-web"
ORT_WEB_VERSION = "1.30.0"
# The registry's dist.integrity of that version (`npm view onnxruntime-web@1.30.0 dist.integrity`).
ORT_WEB_INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
REGISTRY = "https://registry.npmjs.org"
# The WASM-only ES module, its Emscripten glue and the SIMD + threads binary (it also runs single-threaded).
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_FILES = ("index.html", "style.css", "app.js", "worker.js", "pipeline.js", "imaging.js", "yunet.js",
              "tracking.js", "README.md")  # what a static site needs besides runtime/ and models/ (not prepare.py or serve.py)


class PrepareError(RuntimeError):
    """A step of preparing the page failed (the message says what to do)."""


def download_package(folder: Path, version: str) -> Path:
    """The package tarball in `folder`: `npm pack` when npm is installed, else a download from the registry."""
    npm = shutil.which("npm")
    if npm is not None:
        print(f"fetching {ORT_WEB}@{version} with npm pack", flush=True)
        done = subprocess.run([npm, "pack", f"{ORT_WEB}@{version}", "--pack-destination", str(folder), "--silent"],
                              capture_output=True, text=True)
        tarballs = list(folder.glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise PrepareError(f"npm pack {ORT_WEB}@{version} failed: {done.stderr.strip()[-500:]}")
        return tarballs[0]
    url = f"{REGISTRY}/{ORT_WEB}/-/{ORT_WEB}-{version}.tgz"
    print(f"npm not found; downloading {url}", flush=True)
    path = folder / f"{ORT_WEB}-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=120) as response, open(path, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as error:
        raise PrepareError(f"cannot download {url}: {error}") from None
    return path


def check_integrity(tarball: Path, integrity: str = ORT_WEB_INTEGRITY) -> None:
    """The tarball's sha512 must be the registry's for the pinned version."""
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != integrity:
        raise PrepareError(f"{tarball.name}: sha512 {digest} is not the pinned {integrity}")


def fetch_runtime(site: Path, version: str = ORT_WEB_VERSION) -> Path:
    """site/runtime/ with onnxruntime-web's WASM files (reused when already there at this version)."""
    runtime = site / "runtime"
    stamp = runtime / "VERSION"
    if stamp.is_file() and stamp.read_text().strip() == version and all((runtime / f).is_file() for f in RUNTIME_FILES):
        return runtime
    runtime.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        tarball = download_package(Path(folder), version)
        if version == ORT_WEB_VERSION:
            check_integrity(tarball)
        with tarfile.open(tarball) as archive:
            package = json.load(archive.extractfile("package/package.json"))
            for name in RUNTIME_FILES:
                (runtime / name).write_bytes(archive.extractfile(f"package/dist/{name}").read())
    (runtime / "NOTICE").write_text(f"{ORT_WEB} {package['version']} (dist/ files {', '.join(RUNTIME_FILES)}), "
                                    f"license {package.get('license', 'see the package')}, {package.get('homepage', '')}\n")
    stamp.write_text(version + "\n")
    return runtime


def model_name(source: str) -> str:
    """The folder name a model gets under models/ (a bundled name, a folder's name, or the Hub repo's name)."""
    text = source.rstrip("/")
    return text.split("@")[0].rsplit("/", 1)[-1] if text.startswith("hf://") else Path(text).name


def model_files(folder: Path) -> list[str]:
    """The files of a model folder that the page loads: config.json and the ONNX files it records, each checked
    against the sha256 config.json gives it (PrepareError naming the fix when one is missing or differs)."""
    from fer.model.config import CONFIG_FILE, ModelConfig
    from fer.runtime.onnx import file_sha256, onnx_record

    fix = f"write it with python -m training.finalize {folder} --onnx-only"
    config = ModelConfig.load(folder / CONFIG_FILE)
    records = [record for record in (onnx_record(config), onnx_record(config, "int8")) if record is not None]
    if not records:
        raise PrepareError(f"{folder}: config.json records no ONNX file (runtimes.onnx); {fix}")
    files = [CONFIG_FILE]
    for record in records:
        name = str(record.get("file", ""))
        path = folder / name
        if not name or Path(name).name != name or not path.is_file():
            raise PrepareError(f"{folder}: the ONNX file {name!r} that config.json records is missing; {fix}")
        if file_sha256(path) != record.get("sha256"):
            raise PrepareError(f"{path}: its sha256 is not the one config.json records (a stale or damaged "
                               f"export); {fix}")
        files.append(name)
    return files


def copy_model(source: str, out: Path) -> Path:
    """The page's copy of a model folder in `out`: its checked files (model_files), and nothing else."""
    from fer.model.sources import resolve_source

    folder = resolve_source(source)
    files = model_files(folder)
    out.mkdir(parents=True, exist_ok=True)
    for path in out.iterdir():  # e.g. the graphs and export.json of an older page
        if path.is_file() and path.name not in files:
            path.unlink()
    for name in files:
        shutil.copyfile(folder / name, out / name)  # copyfile: not a read-only mode from a Hub cache
    return out


def default_sources() -> list[str]:
    """The webcam's model first (the page's default, as in the app), then the other bundled models."""
    from serve.engine import EngineCache
    from fer.model.sources import bundled_models

    first = EngineCache().stream_source()
    return [first, *(name for name in bundled_models() if name != first)]


def grad_cam_settings(live) -> dict:
    """How the app's webcam shows Grad-CAM (fer.live.LiveSession's cadence and tile size, fer.explain.overlay's
    blend weight and color map as 256 RGB rows), for the page's strip."""
    import inspect

    import cv2
    import numpy as np

    from fer.explain import overlay

    defaults = inspect.signature(overlay).parameters
    levels = np.arange(256, dtype=np.uint8).reshape(256, 1)
    colors = cv2.cvtColor(cv2.applyColorMap(levels, defaults["colormap"].default), cv2.COLOR_BGR2RGB)
    return {"every": live.cam_every, "tile": live.cam_tile, "alpha": defaults["alpha"].default,
            "colormap": colors.reshape(256, 3).tolist()}


def pipeline_settings(source: str) -> dict:
    """What the app's webcam path runs with, read from the app's own objects: the page copies none of it."""
    from fer.annotate import PALETTE
    from serve.engine import MAX_STREAM_SIDE, EngineCache
    from fer.faces import YuNetFaceDetector
    from fer.live import LiveSession

    recognizer = EngineCache().get(source).stream_recognizer  # the app's settings (FER_DETECTOR included)
    live = LiveSession()
    detector = recognizer.detector
    if not isinstance(detector, YuNetFaceDetector):
        raise PrepareError(f"the page runs YuNet; the app's detector is {recognizer.detector_name} "
                           "(unset FER_DETECTOR / --detector)")
    settings = recognizer.settings
    return {
        "detector": {"file": detector.model_path.name, "score_threshold": detector.score_threshold,
                     "nms_threshold": detector.nms_threshold, "top_k": detector.top_k},
        "detection": {"max_side": settings.max_side, "pad": settings.pad, "min_face_size": settings.min_face_size,
                      "max_faces": settings.max_faces},
        "align": recognizer.align,
        "stream": {"tta": recognizer.tta, "max_side": MAX_STREAM_SIDE, "ema_weight": live.weight,
                   "min_iou": live.min_iou, "max_missed": live.max_missed},
        "palette": [list(color) for color in PALETTE],
        "grad_cam": grad_cam_settings(live),
    }


def prepare(site: Path = WEB_DIR, sources: list[str] | None = None) -> Path:
    """Everything the page needs in `site` (the page files are copied there when it is not web/ itself)."""
    from fer.faces import YUNET_MODEL
    from serve.private_mode import SETTINGS_FILE

    sources = sources or default_sources()
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    if site.resolve() != WEB_DIR:
        for name in PAGE_FILES:
            shutil.copy2(WEB_DIR / name, site / name)
    fetch_runtime(site)
    models = site / "models"
    models.mkdir(exist_ok=True)
    entries = []
    for source in sources:  # first: a folder without its checked ONNX file stops here, with the fix
        name = model_name(source)
        copy_model(source, models / name)
        entries.append({"name": name, "folder": name, "source": source})
    settings = pipeline_settings(sources[0])
    shutil.copyfile(YUNET_MODEL, models / YUNET_MODEL.name)  # copyfile: not the read-only mode
    shutil.copyfile(YUNET_MODEL.parent / "YUNET_LICENSE", models / "YUNET_LICENSE")
    settings.update(models=entries, default_model=entries[0]["name"])
    (site / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")  # last: it marks the page complete
    print(f"prepared {site}: runtime/ ({ORT_WEB} {ORT_WEB_VERSION}), models/ ({', '.join(e['name'] for e in entries)}, "
          f"YuNet, {SETTINGS_FILE.name})")
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", dest="sources",
                        help="model sources for the page (default: the webcam's model, then the other bundled "
                             "models; the first is the page's default)")
    parser.add_argument("--site", type=Path, default=WEB_DIR, help="folder to prepare (default: web/ itself)")
    args = parser.parse_args(argv)
    from fer.errors import FerError

    try:
        prepare(args.site, args.sources)
    except (PrepareError, FerError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
