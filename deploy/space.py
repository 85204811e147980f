"""python -m deploy.space OUT [--static] [--model hf://owner/repo@rev] [--push owner/name [--private]]: a complete
Hugging Face Space in OUT, checked, and uploaded with --push.

A Gradio Space (the default) holds README.md with the Space's front matter, app.py, the library (deploy.library:
the package files pyproject.toml ships, the bundled model folders with their ONNX files among them, plus every
first-party module app.py imports), examples/, the private-mode page prepared in web/ (web.prepare: ONNX Runtime
Web from the npm registry, checked against its pinned sha512, and the models' own ONNX files), requirements.txt
with what that code imports, and a .gitattributes that stores every binary file with Xet/LFS. Nothing is
generated on the Space. --static builds the private-mode page alone as a static Space (the front matter of
web/README.md: sdk static and the cross-origin isolation headers).

--model hf://owner/repo@revision makes a Hub model the Space's default: the front matter lists it (models) and
has the Space build preload those files at that revision (preload_from_hub), and --push sets the Space variable
FER_MODEL to it. --push creates the Space if needed (HfApi.create_repo, repo_type "space") and uploads the folder
as one commit that also removes files an earlier upload left (upload_folder); it needs a token (HF_TOKEN or
`hf auth login`).
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from deploy.library import APP_FILE, REPO_ROOT, space_files, space_requirements

README = "README.md"
GITATTRIBUTES = ".gitattributes"
BUILD_MARK = "# Written by python -m deploy.space"  # .gitattributes' first line: OUT is a build we may replace
LFS = "filter=lfs diff=lfs merge=lfs -text"
HARDWARE = "cpu-basic"  # what the Space was sized for: the free CPU Space, 2 vCPU and 16 GB
# Our own ceiling (about three times a build today): catches a checkpoint or a virtual environment swept in.
MAX_SPACE_BYTES = 200 * 2**20
# The Hub takes larger files only through Xet/LFS, text or not.
MAX_PLAIN_FILE_BYTES = 10 * 2**20
# Front matter kept from the repository's README (its look on the Hub); the rest is written here.
KEPT_FIELDS = ("title", "emoji", "colorFrom", "colorTo", "pinned", "license", "short_description")
# The Space's environment variables, set on upload: the allocator setting the Dockerfile and `make app` run the app
# with (fewer glibc arenas keep less freed memory after large photos; docs/reliability.md).
SPACE_VARIABLES = {"MALLOC_ARENA_MAX": "2"}
# A Hub model's files the Space build fetches (what fer.model.sources.download_from_hub loads).
PRELOADED_FILES = ("config.json", "model.keras", "model.onnx", "README.md")


class SpaceError(RuntimeError):
    """Building, checking or uploading a Space failed (the message says what to do)."""


# ---------------------------------------------------------------- front matter


def read_front_matter(readme: Path) -> dict:
    """The YAML block between the leading '---' lines of a README ({} when it has none)."""
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    block, _, _ = text[4:].partition("\n---\n")
    return yaml.safe_load(block) or {}


def write_readme(path: Path, front_matter: dict, body: str) -> None:
    """A README with `front_matter` as its YAML header."""
    block = yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True, width=1000)
    path.write_text(f"---\n{block}---\n\n{body}", encoding="utf-8")


def pinned_version(requirements: list[str], name: str) -> str | None:
    """The version `name==X` pins in requirement lines (None when it is not pinned exactly)."""
    from packaging.requirements import Requirement

    for line in requirements:
        requirement = Requirement(line)
        if requirement.name.lower() == name and len(requirement.specifier) == 1:
            (specifier,) = requirement.specifier
            if specifier.operator == "==":
                return specifier.version
    return None


def hub_model(source: str) -> tuple[str, str | None]:
    """(repo id, revision) of an hf:// source (SpaceError for anything else)."""
    from fer.errors import ModelSourceError
    from fer.model.sources import HF_PREFIX, parse_hf_source

    if not source.startswith(HF_PREFIX):
        raise SpaceError(f"--model takes a Hub model, hf://owner/repo@revision, not {source!r} (the bundled "
                         "models are in the Space already)")
    try:
        return parse_hf_source(source)
    except ModelSourceError as error:
        raise SpaceError(str(error)) from None


def gradio_front_matter(requirements: list[str], model: str | None = None) -> dict:
    """The Gradio Space's settings: the repository README's look, the pinned Gradio, this Python, app.py."""
    version = pinned_version(requirements, "gradio")
    if version is None:
        raise SpaceError("requirements.txt must pin gradio (gradio==X): the Space's sdk_version is that version")
    repository = read_front_matter(REPO_ROOT / README)
    matter = {key: repository[key] for key in KEPT_FIELDS if key in repository}
    matter.update(sdk="gradio", sdk_version=version, python_version=f"{sys.version_info[0]}.{sys.version_info[1]}",
                  app_file=APP_FILE, suggested_hardware=HARDWARE)
    if model is not None:
        repo_id, revision = hub_model(model)
        matter["models"] = [repo_id]
        matter["preload_from_hub"] = [" ".join([repo_id, ",".join(PRELOADED_FILES), *([revision] if revision else [])])]
    return matter


def provenance() -> str:
    """The commit the Space is built from, and whether the working tree had changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "a copy of the repository outside git"
    return f"commit {commit[:12]}" + (" with uncommitted changes" if git("status", "--porcelain") else "")


def gradio_body(models: list[str]) -> str:
    """The Gradio Space's README text: what it does, its models' cards, where it was built from."""
    cards = "\n".join(f"- [`{name}`](models/{name}/README.md)" for name in models)
    return f"""# FER Explain

Every face in a photo, a webcam stream or a video boxed with its facial expression, and a map of the pixels
that drove the score (Saliency, SmoothGrad, Grad-CAM, Grad-CAM++, Score-CAM). Predictions run on ONNX Runtime;
TensorFlow computes the explanations. **Private mode** (`/private/`, linked from its tab) runs the webcam
analysis in the visitor's browser with ONNX Runtime Web: camera frames never reach this server.

Expressions are not feelings: do not use this for decisions about people. The bundled models and their cards:

{cards}

Built by `python -m deploy.space` from {provenance()}. The library, the models and the private-mode
page are the repository's; nothing is generated on the Space.
"""


# ---------------------------------------------------------------- files


def is_binary(path: Path) -> bool:
    """Whether the Hub counts the file as binary: a NUL byte, or not UTF-8 text."""
    data = path.read_bytes()
    if b"\0" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def needs_lfs(path: Path) -> bool:
    """Whether the Hub takes the file only through Xet/LFS: binary, or over MAX_PLAIN_FILE_BYTES."""
    return path.stat().st_size > MAX_PLAIN_FILE_BYTES or is_binary(path)


def folder_files(folder: Path) -> list[str]:
    """Every file under `folder`, as sorted relative paths."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def lfs_patterns(folder: Path) -> list[str]:
    """The patterns .gitattributes sends through Xet/LFS."""
    path = folder / GITATTRIBUTES
    lines = path.read_text().splitlines() if path.is_file() else []
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#") and "filter=lfs" in line]


def matches(name: str, pattern: str) -> bool:
    """gitattributes matching: a pattern without '/' matches a file name at any depth, one with '/' the path."""
    return fnmatch.fnmatchcase(name, pattern.lstrip("/")) if "/" in pattern else \
        fnmatch.fnmatchcase(name.rsplit("/", 1)[-1], pattern)


def write_gitattributes(folder: Path) -> list[str]:
    """.gitattributes storing every binary (or large) file of the folder with Xet/LFS: one pattern per suffix, a
    file's own path when it has none. Returns the patterns."""
    patterns: set[str] = set()
    for name in folder_files(folder):
        if needs_lfs(folder / name):
            stem, dot, suffix = name.rsplit("/", 1)[-1].rpartition(".")
            patterns.add(f"*.{suffix}" if dot and stem else "/" + name)
    lines = [BUILD_MARK + " (every binary file of this Space goes through Xet/LFS)",
             *(f"{pattern} {LFS}" for pattern in sorted(patterns))]
    (folder / GITATTRIBUTES).write_text("\n".join(lines) + "\n")
    return sorted(patterns)


def copy_files(names: list[str], out: Path, root: Path = REPO_ROOT) -> None:
    """Copy repository files (paths relative to `root`) into `out`, folders and all."""
    for name in names:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, target)


# ---------------------------------------------------------------- building


def _replaceable(out: Path) -> bool:
    """OUT may be (re)written: absent, empty, or an earlier build (its .gitattributes carries BUILD_MARK)."""
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    attributes = out / GITATTRIBUTES
    return not any(out.iterdir()) or (attributes.is_file() and attributes.read_text().startswith(BUILD_MARK))


def _build(out: Path, fill) -> Path:
    """Fill a fresh folder beside OUT, check it, then put it in OUT's place (an earlier build is replaced)."""
    out = Path(out).resolve()
    if not _replaceable(out):
        raise SpaceError(f"{out} exists and is not a Space built by deploy.space: pick a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    partial.chmod(0o755)  # mkdtemp's 0700 would follow the folder into a container or onto a server
    try:
        fill(partial)
        write_gitattributes(partial)
        problems = check(partial)
        if problems:
            raise SpaceError("the built Space fails its checks:\n  " + "\n  ".join(problems))
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


def _prepare_page(site: Path) -> None:
    from web.prepare import prepare

    prepare(site)  # the public entry point: its files, ONNX Runtime Web (checked), models and pipeline.json


def build_gradio_space(out: Path, model: str | None = None) -> Path:
    """The Gradio Space in `out` (see the module docstring); returns it."""
    from fer.model.sources import bundled_models

    def fill(folder: Path) -> None:
        copy_files(space_files(), folder)
        _prepare_page(folder / "web")
        kept, dropped = space_requirements(folder)
        if dropped:
            print(f"requirements.txt: left out {', '.join(dropped)} (nothing in the Space imports them)")
        (folder / "requirements.txt").write_text(
            "# The Space's packages: the repository's requirements.txt less those its code does not import\n"
            "# (written by python -m deploy.space).\n" + "\n".join(kept) + "\n")
        write_readme(folder / README, gradio_front_matter(kept, model), gradio_body(bundled_models()))

    return _build(out, fill)


def build_static_space(out: Path) -> Path:
    """The private-mode page alone as a static Space in `out` (web/README.md is its README); returns it."""
    return _build(out, _prepare_page)


# ---------------------------------------------------------------- checking


def check(folder: Path) -> list[str]:
    """What is wrong with a built Space folder (nothing: []): its front matter, a binary file outside the
    .gitattributes patterns, its size; for a Gradio Space its sdk_version against the pinned Gradio, app.py and the
    prepared page; for a static one the isolation headers."""
    from serve.private_mode import ISOLATION_HEADERS, is_prepared

    folder = Path(folder)
    if not (folder / README).is_file():
        return [f"no {README}"]
    matter, problems = read_front_matter(folder / README), []
    sdk, app_file = matter.get("sdk"), str(matter.get("app_file", ""))
    if sdk not in ("gradio", "static"):
        problems.append(f"front matter: sdk is {sdk!r}, not gradio or static")
    if not app_file or not (folder / app_file).is_file():
        problems.append(f"front matter: app_file {app_file!r} is not in the folder")
    if sdk == "gradio":
        requirements = folder / "requirements.txt"
        lines = [line for line in requirements.read_text().splitlines() if line and not line.startswith("#")] \
            if requirements.is_file() else []
        if str(matter.get("sdk_version")) != str(pinned_version(lines, "gradio")):
            problems.append(f"front matter: sdk_version {matter.get('sdk_version')!r} is not the Gradio "
                            f"requirements.txt pins ({pinned_version(lines, 'gradio')!r})")
        if not isinstance(matter.get("python_version"), str):
            problems.append("front matter: python_version must be a string (3.10 would read as 3.1)")
        if not is_prepared(folder / "web"):
            problems.append("web/: the private-mode page is not prepared")
    if sdk == "static":
        headers = {key.lower(): value for key, value in (matter.get("custom_headers") or {}).items()}
        for name, value in ISOLATION_HEADERS.items():
            if headers.get(name.lower()) != value:
                problems.append(f"front matter: custom_headers lacks {name}: {value}")
    patterns, total = lfs_patterns(folder), 0
    for name in folder_files(folder):
        total += (folder / name).stat().st_size
        if needs_lfs(folder / name) and not any(matches(name, pattern) for pattern in patterns):
            problems.append(f"{name}: binary (or over 10 MiB) but not stored with Xet/LFS by {GITATTRIBUTES}")
    if total > MAX_SPACE_BYTES:
        problems.append(f"{total / 2**20:.0f} MiB in all, over the {MAX_SPACE_BYTES / 2**20:.0f} MiB budget")
    return problems


# ---------------------------------------------------------------- uploading


def push(folder: Path, repo_id: str, private: bool = False, variables: dict[str, str] | None = None,
         api=None) -> tuple[str, str]:
    """Create the Space if needed, set its variables (SPACE_VARIABLES and `variables`) and upload the folder as one
    commit that also removes what an earlier upload left; (the Space's URL, the commit id)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    folder = Path(folder)
    problems = check(folder)
    if problems:
        raise SpaceError(f"{folder} is not a complete Space:\n  " + "\n  ".join(problems))
    sdk = read_front_matter(folder / README)["sdk"]
    url = api.create_repo(repo_id, repo_type="space", space_sdk=sdk, private=private, exist_ok=True)
    for key, value in {**(SPACE_VARIABLES if sdk == "gradio" else {}), **(variables or {})}.items():
        api.add_space_variable(repo_id, key, value)
    commit = api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=folder, delete_patterns="*",
                               commit_message=f"FER Explain {'private mode ' if sdk == 'static' else ''}Space, "
                                              f"built by deploy.space from {provenance()}")
    return str(getattr(url, "url", url)), commit.oid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.space", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to build the Space in (replaced if an earlier build)")
    parser.add_argument("--static", action="store_true", help="the private-mode page alone, as a static Space")
    parser.add_argument("--model", help="a Hub model as the Space's default: hf://owner/repo@revision")
    parser.add_argument("--push", metavar="OWNER/NAME", help="upload the folder to this Space (created if needed)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    args = parser.parse_args(argv)
    if args.static and args.model:
        parser.error("--model is for the Gradio Space (the static page runs the bundled models)")
    from fer.errors import FerError
    from web.prepare import PrepareError

    try:
        if args.model:
            hub_model(args.model)  # before the build: a wrong source is a quick error
        if args.static:
            folder = build_static_space(args.out)
        else:
            folder = build_gradio_space(args.out, args.model)
        size = sum((folder / name).stat().st_size for name in folder_files(folder))
        print(f"built {folder}: {len(folder_files(folder))} files, {size / 2**20:.1f} MiB, "
              f"Xet/LFS for {', '.join(lfs_patterns(folder))}")
        if args.push:
            url, commit = push(folder, args.push, args.private, {"FER_MODEL": args.model} if args.model else None)
            print(f"uploaded: {url} (commit {commit})")
    except (SpaceError, PrepareError, FerError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
