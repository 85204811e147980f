"""The app's library helpers: Gradio adapters (serve.gradio_support), the private-mode mount (serve.private_mode)
and the public wording of errors (fer.errors.public_message)."""

from __future__ import annotations

import os

import pytest

from fer.errors import ImageError, public_message


def test_public_messages_name_the_file_but_not_where_the_server_keeps_it():
    error = ImageError("/tmp/gradio/3f2a/holiday photo.png cannot be read: it is not an image")
    assert public_message(error) == "holiday photo.png cannot be read: it is not an image"
    assert public_message(ValueError("no path here: 3/4 done")) == "no path here: 3/4 done"
    assert public_message(ValueError("'/srv/a/b.mp4' and /srv/c.webm")) == "'b.mp4' and c.webm"


def test_keyed_handlers_return_components_by_name():
    from serve.gradio_support import keyed

    def handler(x, scale=1):
        """Doubles."""
        return {"double": 2 * x * scale, "same": x}

    components = {"double": object(), "same": object(), "unused": object()}
    wrapped = keyed(handler, components)
    assert wrapped(3, scale=2) == {components["double"]: 12, components["same"]: 3}
    assert wrapped.__name__ == "handler" and wrapped.__doc__ == "Doubles."  # Gradio names endpoints and docs


@pytest.mark.parametrize("before, after", [
    (None, "127.0.0.1,localhost"),
    ("proxy.internal", "proxy.internal,127.0.0.1,localhost"),
    ("localhost,127.0.0.1", "localhost,127.0.0.1"),
])
def test_local_addresses_bypass_the_proxy(monkeypatch, before, after):
    from serve.gradio_support import bypass_proxy_for_localhost

    for name in ("NO_PROXY", "no_proxy"):
        if before is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, before)
    bypass_proxy_for_localhost()
    assert os.environ["NO_PROXY"] == os.environ["no_proxy"] == after


def test_a_page_is_prepared_once_its_settings_are_written(tmp_path):
    from serve.private_mode import SETTINGS_FILE, is_prepared

    (tmp_path / "index.html").write_text("<html></html>")
    assert not is_prepared(tmp_path)  # the tracked page files alone
    (tmp_path / "models").mkdir()
    assert not is_prepared(tmp_path)
    (tmp_path / SETTINGS_FILE).write_text("{}")
    assert is_prepared(tmp_path) and not is_prepared(tmp_path / "missing")


def test_the_page_is_served_cross_origin_isolated(tmp_path):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from serve.private_mode import ISOLATION_HEADERS, routes

    (tmp_path / "index.html").write_text("<p>private</p>")
    assert routes(tmp_path) == [] and routes(tmp_path / "not-there") == []  # not prepared: nothing to serve
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "pipeline.json").write_text("{}")
    with TestClient(Starlette(routes=routes(tmp_path, "/private"))) as client:
        for path in ("/private/", "/private/models/pipeline.json"):
            response = client.get(path)
            assert response.status_code == 200
            for name, value in ISOLATION_HEADERS.items():
                assert response.headers[name] == value
        assert client.get("/private/").text == "<p>private</p>"
        assert client.get("/private/missing.js").status_code == 404
