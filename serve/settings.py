"""The app's settings in one place: upload and display limits, the webcam stream (what the browser sends and how
often; the stream's model and detection side are fer-side settings of serve.engine), and video limits."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
# Private mode: the static page in web/ (prepared by `make web`) runs the webcam pipeline in the visitor's browser.
WEB_DIR, PRIVATE_MODE_PATH = ROOT / "web", "/private"
EXAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_FACE_PANELS = 8  # per-face probability panels on the page (the JSON output lists every face)
MAX_DISPLAY_SIDE = 1600  # annotated photos are downscaled for display beyond this
MAX_CROP_SIDE = 512  # face crops kept in the session for explanation overlays
MIN_CROP_SIDE = 256  # small faces are enlarged so their explanation maps stay readable
MAX_FILE_SIZE = "20mb"
# After a photo this large decoded (8 MiB: about 2.8 MP in RGB), the freed heap pages go back to the OS: glibc keeps
# a large photo's freed buffers in its arenas otherwise, and the server's memory creeps up (docs/reliability.md).
LARGE_PHOTO_BYTES = 8 * 2**20
PREDICTED = "(predicted)"
MAX_FACES = 20  # faces classified per photo or video frame: the largest ones
# Webcam: frames downscaled to 640 px; faces found on a 320-px copy (webcam faces are large), at most 6, flip TTA
# unless the model's card measured its single view as accurate (serve.engine.stream_tta).
MAX_STREAM_SIDE, STREAM_DETECTION_SIDE, MAX_STREAM_FACES, STREAM_TTA = 640, 320, 6, "flip"
# The webcam stream's model unless the visitor picks one: the distilled live model (its card gives its accuracy
# against the photo model it learned from and its speed); FER_STREAM_MODEL overrides it.
LIVE_MODEL = "ferplus-live"
# Webcam: a frame every STREAM_EVERY s (chosen by benchmarks/webcam.py against a no-op handler), a session lasts
# at most STREAM_TIME_LIMIT s, STREAM_CONCURRENCY at once.
STREAM_EVERY, STREAM_TIME_LIMIT, STREAM_CONCURRENCY = 0.05, 180, 4
# Video: every k-th frame of at most VIDEO_MAX_SECONDS, at most VIDEO_MAX_SIDE px; outputs removed after 15 min.
VIDEO_MAX_SECONDS, VIDEO_MAX_SIDE, VIDEO_OUTPUT_MAX_AGE = 120, 960, 15 * 60
