# Two commands set everything up on a fresh clone: `make app` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 7860
export GRADIO_ANALYTICS_ENABLED = False
export NO_PROXY = 127.0.0.1,localhost
export no_proxy = 127.0.0.1,localhost
export TF_CPP_MIN_LOG_LEVEL = 2

.PHONY: install install-test web app test bench clean space space-check

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.export-installed: requirements-export.txt $(VENV)/.runtime-installed
	$(PY) -m pip install -q -r requirements-export.txt
	touch $@

$(VENV)/.test-installed: requirements-test.txt requirements-export.txt requirements.txt $(VENV)/.runtime-installed
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

install: $(VENV)/.runtime-installed

install-test: $(VENV)/.test-installed

# Private mode (web/): ONNX Runtime Web from the npm registry (npm pack, or a checked download without npm), each
# bundled model's checked model.onnx (copied, hash-checked) and the page's settings from the Python code; redone when any changes.
# Generated and gitignored.
WEB_PREPARED := web/models/.prepared
$(WEB_PREPARED): web/prepare.py $(wildcard fer/*.py fer/*/*.py) $(wildcard models/*/*) | $(VENV)/.runtime-installed
	$(PY) -m web.prepare
	touch $@

web: $(WEB_PREPARED)

app: install web
	MALLOC_ARENA_MAX=2 $(PY) app.py --host $(HOST) --port $(PORT)  # see Dockerfile: less memory kept after large photos

test: install-test web
	$(PY) -m pytest -q

bench: install-test web
	$(PY) -m benchmarks.run

# Hugging Face Space (docs/deploy.md): the complete Space folder in SPACE_DIR (app, library, models, the prepared
# private-mode page, its requirements.txt and .gitattributes), checked. SPACE_ARGS adds --push owner/name
# [--private] to upload it, --static for the private-mode page alone, --model hf://owner/repo@sha for a Hub default.
SPACE_DIR ?= build/space
SPACE_ARGS ?=
space: install
	$(PY) -m deploy.space $(SPACE_DIR) $(SPACE_ARGS)

# The Space as a new user gets it: tests/e2e/test_space.py plus a fresh virtual environment installed from the built
# folder's own requirements.txt, `python app.py` from the folder with a Space's environment, the browser checks.
space-check: install-test
	FER_SPACE_CHECK=1 $(PY) -m pytest -q tests/e2e/test_space.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
