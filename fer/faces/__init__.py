"""Face detection: where the faces are (detect), the detectors registered by name (yunet, haar) and the crop the
model sees (align). Light: OpenCV and numpy only."""

from fer.faces.detect import (DEFAULT_DETECTOR, DETECTORS, DOWNSCALE_INTERPOLATION, Box, DetectionSettings,  # noqa: F401
                              Face, FaceDetector, detector_name, find_faces, largest_faces, make_detector,
                              reading_order, register_detector, to_rgb)
from fer.faces.yunet import ASSETS_DIR, YUNET_MODEL, YuNetFaceDetector, yunet_rows  # noqa: F401  (registers "yunet")
from fer.faces.haar import HaarFaceDetector  # noqa: F401,E402  (registers "haar")
from fer.faces.align import face_crop  # noqa: F401,E402
