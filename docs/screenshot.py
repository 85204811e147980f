"""Regenerate docs/screenshot-photo.png: the app with a bundled model, one photo analyzed, all methods shown.

Usage: python docs/screenshot.py [MODEL_SOURCE]   (needs Debian's chromium and the playwright package)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    source = sys.argv[1] if len(sys.argv) > 1 else "fer2013-cnn"
    port = free_port()
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--model", source], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                 args=["--no-sandbox", "--disable-gpu",
                                                       "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.locator("#photo-input input[type=file]").set_input_files(str(ROOT / "examples" / "grace_hopper.jpg"))
            page.locator("#faces-output img").wait_for()
            page.locator("#explanation-output img").wait_for()
            page.get_by_role("button", name="Compare all methods").click()
            time.sleep(8)
            page.screenshot(path=str(ROOT / "docs" / "screenshot-photo.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
