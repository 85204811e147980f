# Self-hosting the FER Explain app in one command:
#   docker build -t fer-explain . && docker run --rm -p 7860:7860 fer-explain
# then open http://localhost:7860. Pick another default model with -e FER_MODEL=hf://owner/repo@revision
# (add -e HF_TOKEN=... for a private repo).
#
# Three stages: `base` installs requirements.txt once; `web` prepares the private-mode page on it (python -m
# web.prepare: the bundled models' own model.onnx files, checked against the sha256 in their config.json, and ONNX
# Runtime Web from the npm registry, checked against its pinned sha512), so building needs network access to
# registry.npmjs.org; the app's image takes only the prepared page from it. Nothing is exported to ONNX here.

# ---------------------------------------------------------------- dependencies (shared by both stages)
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1 \
    TF_CPP_MIN_LOG_LEVEL=2

COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

# ---------------------------------------------------------------- private-mode page
FROM base AS web
WORKDIR /src

# What web.prepare reads: the library (the app's webcam settings), the bundled model folders, the page.
COPY fer/ fer/
COPY models/ models/
COPY web/ web/
# --site: a clean copy of the static site (page files, runtime/, models/), without prepare.py and serve.py.
RUN python -m web.prepare --site /site

# ---------------------------------------------------------------- the app
FROM base

# An unprivileged user owns the app; Gradio's temporary cache lives under /tmp.
RUN useradd --create-home --uid 1000 app
WORKDIR /home/app/fer

COPY --chown=app:app fer/ fer/
COPY --chown=app:app models/ models/
COPY --chown=app:app examples/ examples/
COPY --chown=app:app app.py ./
# The app serves it at /private/ and its Private mode tab links there (app.py: WEB_DIR).
COPY --from=web --chown=app:app /site/ web/

USER app
# Fewer glibc malloc arenas: Gradio's worker threads decoding large photos otherwise keep freed memory per
# arena (8 threads x 280 photo requests in process: peak RSS 3.18 GiB by default, 2.43 GiB with 2 arenas).
ENV MALLOC_ARENA_MAX=2
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"

# 0.0.0.0 inside the container; publish the port with -p to choose who can reach it.
CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "7860"]
