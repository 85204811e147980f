"""ModelConfig: the facts that travel with a model's weights as config.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from fer.errors import ModelSourceError

CONFIG_FORMAT_VERSION = 1
# A model folder's files (fer.runtime.keras writes them; fer.runtime reads the serving files beside them).
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
# none: one center view; flip: it and its mirror; ten_crop: the four corners and the center of the frame,
# each with its mirror (models trained on random crops, crop_pct < 1).
TTA_MODES = ("none", "flip", "ten_crop")


def face_input_shape(input_shape, crop_pct: float) -> list[int]:
    """[height, width, channels] of the face frame whose central crop_pct is input_shape."""
    height, width, channels = (int(v) for v in input_shape)
    return [int(round(height / crop_pct)), int(round(width / crop_pct)), channels]


@dataclasses.dataclass
class ModelConfig:
    """Everything needed to rebuild, serve and describe a model.

    Serving code reads labels, input shape, Grad-CAM layer and temperature from here, never from flags.
    """

    architecture: str
    labels: list[str]
    input_shape: list[int]
    last_conv_layer: str
    architecture_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The model's final layer emits logits; probabilities are softmax(logits / temperature).
    output: str = "logits"
    temperature: float = 1.0
    # Test-time augmentation for photos and evaluation (TTA_MODES); the webcam path asks for "flip".
    tta: str = "flip"
    # Like timm's crop_pct: the model sees the central crop_pct of the face frame. Preprocessing resizes the
    # face to input_size / crop_pct, then takes the central input_size square (40 of 48 px at 40/48).
    crop_pct: float = 1.0
    # Margin added on every side of the detector's square face box so crops match the training framing.
    face_margin: float = 0.0
    preprocessing: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {
            "function": "fer.model.preprocessing.preprocess_face",
            "pixels": "raw 0-255 values; scaling is a layer inside the model",
        }
    )
    training: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Serving files beside model.keras, written and checked against Keras by training.finalize, e.g.
    # {"onnx": {"file": "model.onnx", "sha256": ..., "max_abs_difference": ...}}; fer.runtime reads them.
    runtimes: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The explanation the app draws by default: chosen by the card's faithfulness table (training.explanations).
    explanation_method: str = "gradcam"
    format_version: int = CONFIG_FORMAT_VERSION

    def __post_init__(self) -> None:
        self.labels = [str(label) for label in self.labels]
        self.input_shape = [int(v) for v in self.input_shape]
        if len(self.labels) < 2:
            raise ModelSourceError(f"config needs at least 2 labels, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ModelSourceError(f"config labels must be unique, got {self.labels!r}")
        if len(self.input_shape) != 3 or self.input_shape[2] not in (1, 3) or min(self.input_shape) < 1:
            raise ModelSourceError(
                f"config input_shape must be [height, width, 1 or 3], got {self.input_shape!r}"
            )
        if self.output != "logits":
            raise ModelSourceError(f"config output must be 'logits', got {self.output!r}")
        if not 0.5 <= float(self.crop_pct) <= 1.0:
            raise ModelSourceError(f"config crop_pct must be in 0.5..1, got {self.crop_pct!r}")
        if self.tta not in TTA_MODES:
            raise ModelSourceError(f"config tta must be one of {', '.join(TTA_MODES)}, got {self.tta!r}")
        if self.tta == "ten_crop" and self.crop_pct == 1.0:
            raise ModelSourceError("config tta 'ten_crop' needs crop_pct < 1 (crops of a larger face frame)")
        if not -0.2 <= float(self.face_margin) <= 1.0:
            raise ModelSourceError(f"config face_margin must be in -0.2..1, got {self.face_margin!r}")
        from fer.explain import METHODS

        if self.explanation_method not in METHODS:
            raise ModelSourceError(f"config explanation_method must be one of {', '.join(METHODS)}, "
                                   f"got {self.explanation_method!r}")
        if not self.temperature > 0:
            raise ModelSourceError(f"config temperature must be > 0, got {self.temperature!r}")

    @property
    def face_input_shape(self) -> list[int]:
        """The face frame the model's input is cropped from (input_shape when crop_pct is 1)."""
        return face_input_shape(self.input_shape, self.crop_pct)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {field.name for field in dataclasses.fields(cls)}
        missing = [name for name in ("architecture", "labels", "input_shape", "last_conv_layer") if name not in data]
        if missing:
            raise ModelSourceError(f"config.json is missing required keys: {', '.join(missing)}")
        if "flip_tta" in data and "tta" not in data:  # configs written before tta had more than one mode
            data = {**data, "tta": "flip" if data["flip_tta"] else "none"}
        version = data.get("format_version", CONFIG_FORMAT_VERSION)
        if version > CONFIG_FORMAT_VERSION:
            raise ModelSourceError(
                f"config.json has format_version {version}; this fer supports up to {CONFIG_FORMAT_VERSION}. "
                "Upgrade fer to load it."
            )
        return cls(**{key: value for key, value in data.items() if key in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelSourceError(f"{path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelSourceError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise ModelSourceError(f"{path} must hold a JSON object")
        try:
            return cls.from_dict(data)
        except TypeError as error:
            raise ModelSourceError(f"{path}: {error}") from None
