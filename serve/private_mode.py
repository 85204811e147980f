"""The private-mode page (web/, filled in by `python -m web.prepare`) served by the app from its own origin."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

# ONNX Runtime Web runs on several threads only on a cross-origin isolated page.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
# web.prepare writes the page's settings after the runtime and the models: once they exist, the page is complete.
SETTINGS_FILE = Path("models") / "pipeline.json"


def is_prepared(site: str | Path) -> bool:
    """Whether `site` holds a prepared page (the tracked page files alone cannot run)."""
    return (Path(site) / SETTINGS_FILE).is_file()


class IsolatedFiles(StaticFiles):
    """Static files sent with the cross-origin isolation headers."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(ISOLATION_HEADERS)
        return response


def routes(site: str | Path, path: str = "/private") -> list[Mount]:
    """The page at `path` of the app (a static site: no server code); none when it is not prepared."""
    if not is_prepared(site):
        return []  # the page would only fail to load its models; the app's tab says private mode is off
    return [Mount(path, IsolatedFiles(directory=Path(site), html=True))]
