"""What of this repository a Space needs: the package as pyproject.toml ships it, every first-party module app.py
reaches through its imports, the app's data folders, and the requirements its code imports."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_FILE = "app.py"
# Folders app.py reads beside itself (EXAMPLES_DIR); the models and fer/assets come with the package data.
APP_DATA = ("examples",)
REQUIREMENTS = "requirements.txt"


def _kept(path: Path) -> bool:
    return path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"


def _package_folder(package: str, package_dirs: dict[str, str]) -> Path:
    """Where setuptools finds `package` (the longest prefix named in [tool.setuptools.package-dir] wins)."""
    parts = package.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in package_dirs:
            return Path(package_dirs[prefix], *parts[end:])
    return Path(package_dirs.get("", ""), *parts)


def package_files(root: Path = REPO_ROOT) -> set[str]:
    """The files `pip install .` ships, as paths in the source tree: each package's modules and its package data
    ([tool.setuptools] packages, package-dir and package-data of pyproject.toml)."""
    with open(root / "pyproject.toml", "rb") as file:
        tool = tomllib.load(file).get("tool", {}).get("setuptools", {})
    packages = tool.get("packages", [])
    if isinstance(packages, dict):  # [tool.setuptools.packages.find]
        import setuptools

        options = {key.replace("-", "_"): value for key, value in packages.get("find", {}).items()}
        where = options.pop("where", ["."])
        packages = [name for folder in where for name in setuptools.find_packages(str(root / folder), **options)]
    package_dirs, package_data = tool.get("package-dir", {}), tool.get("package-data", {})
    files: set[Path] = set()
    for package in packages:
        folder = root / _package_folder(package, package_dirs)
        files.update(folder.glob("*.py"))
        for pattern in [*package_data.get(package, []), *package_data.get("*", [])]:
            files.update(folder.glob(pattern))
    return {path.relative_to(root).as_posix() for path in files if _kept(path)}


def module_file(root: Path, name: str) -> Path | None:
    """The file of module `name` in `root` (a package's __init__.py), or None when it is not one of ours."""
    base = root.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _optional_imports(tree: ast.AST) -> set[int]:
    """ids of the import statements inside a `try:` that catches ImportError (the code runs without them)."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(handler.type, ast.Name) and handler.type.id in ("ImportError", "ModuleNotFoundError")
                or isinstance(handler.type, ast.Tuple) and any(getattr(e, "id", "") in ("ImportError", "ModuleNotFoundError")
                                                               for e in handler.type.elts)
                for handler in node.handlers):
            optional.update(id(child) for statement in node.body for child in ast.walk(statement))
    return optional


def imported_names(path: Path, module: str, optional: bool = True) -> set[str]:
    """Every module name `path` imports, at any depth (imports inside functions too), relative ones made absolute;
    for `from a import b` both a and a.b (b may be a submodule). optional=False leaves out the imports inside a
    `try:` that catches ImportError."""
    tree = ast.parse(path.read_bytes(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skipped = set() if optional else _optional_imports(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*parent, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {name for name in names if name}


def app_modules(root: Path = REPO_ROOT, entry: str = APP_FILE) -> dict[str, Path]:
    """Module name -> file for `entry` and every module of this repository it imports, directly or not (each
    package's __init__.py included: importing a.b runs a/__init__.py)."""
    found: dict[str, Path] = {Path(entry).stem: root / entry}
    todo = list(found.items())
    while todo:
        module, path = todo.pop()
        for name in imported_names(path, module):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in found:
                    continue
                file = module_file(root, prefix)
                if file is None:
                    if root.joinpath(*parts[:end]).is_dir():
                        continue  # a namespace package (no __init__.py): its modules are ours
                    break  # not ours (or a name inside a module): its submodules are not ours either
                found[prefix] = file
                todo.append((prefix, file))
    return found


def space_files(root: Path = REPO_ROOT, entry: str = APP_FILE) -> list[str]:
    """Every file of the repository a Space runs from: app.py, the package files, the modules app.py reaches
    outside the package (a later app package, say) and the app's data folders."""
    files = package_files(root) | {path.relative_to(root).as_posix() for path in app_modules(root, entry).values()}
    for folder in APP_DATA:
        files.update(path.relative_to(root).as_posix() for path in (root / folder).rglob("*") if _kept(path))
    return sorted(files)


def third_party_imports(folder: Path) -> set[str]:
    """Top-level names of the modules the Python files in `folder` import that are neither in the standard library
    nor in `folder` itself."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        module = ".".join(path.relative_to(folder).with_suffix("").parts)
        names.update(name.split(".")[0] for name in imported_names(path, module.removesuffix(".__init__")))
    return {name for name in names if name not in sys.stdlib_module_names and name != "__future__"
            and module_file(folder, name) is None and not (folder / name).is_dir()}


def space_requirements(folder: Path, root: Path = REPO_ROOT) -> tuple[list[str], list[str]]:
    """(kept, dropped) requirement lines of the repository's requirements.txt for the Space in `folder`: a
    requirement that applies here, is installed (so the modules it provides are known) and whose modules none of
    the folder's code imports is dropped (a training-only package, say); the rest stay, markers and all."""
    imported = third_party_imports(folder)
    provides: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            provides.setdefault(canonicalize_name(distribution), set()).add(module)
    kept, dropped = [], []
    for line in (root / REQUIREMENTS).read_text().splitlines():
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("-"):
            raise ValueError(f"{REQUIREMENTS}: {text!r}: options and included files are not supported in a Space's "
                             "requirements; list the packages themselves")
        requirement = Requirement(text)
        modules = provides.get(canonicalize_name(requirement.name))
        applies = requirement.marker is None or requirement.marker.evaluate()
        (dropped if applies and modules and not modules & imported else kept).append(text)
    return kept, dropped
