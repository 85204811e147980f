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

.PHONY: install install-test web app test bench clean

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

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
