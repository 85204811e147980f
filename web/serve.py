"""python -m web.serve [--port 8000] [--site DIR] [--plain]: preview the private-mode page as a static site.

By default the files are sent with the cross-origin isolation headers that a static Hugging Face Space adds
from the front matter in web/README.md, so ONNX Runtime Web may use several threads; --plain serves them as
`python -m http.server` does (the page then runs single-threaded). The tests and benchmarks/web.py use it too.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import threading
from pathlib import Path
from typing import Iterator

from serve.private_mode import ISOLATION_HEADERS  # the app sends the same ones

WEB_DIR = Path(__file__).resolve().parent


class Handler(http.server.SimpleHTTPRequestHandler):
    isolated = True

    def end_headers(self) -> None:
        if self.isolated:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # quiet: one line per file is noise here
        pass


def make_server(site: Path = WEB_DIR, port: int = 0, isolated: bool = True,
                host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    handler = type("SiteHandler", (Handler,), {"isolated": isolated})
    return http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(site)))


@contextlib.contextmanager
def serving(site: Path = WEB_DIR, isolated: bool = True) -> Iterator[str]:
    """Serve `site` on a free local port in a thread; yields its URL (ending in /)."""
    server = make_server(site, 0, isolated)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--site", type=Path, default=WEB_DIR, help="the prepared folder (default: web/)")
    parser.add_argument("--plain", action="store_true", help="no cross-origin isolation headers")
    args = parser.parse_args(argv)
    server = make_server(args.site, args.port, not args.plain, args.host)
    print(f"serving {args.site} at http://{args.host}:{server.server_address[1]}/ (Ctrl+C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
