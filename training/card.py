"""Model card (README.md) for a model folder, built from its config.json."""

from __future__ import annotations

from pathlib import Path

from fer.model.config import ModelConfig
from fer.model.config import CONFIG_FILE

CARD_FILE = "README.md"


TTA_NAMES = {"none": "single view (center crop)", "flip": "flip (view + mirror)", "ten_crop": "ten-crop (5 crops x mirror)"}


def _metric_lines(config: ModelConfig) -> list[str]:
    metrics = config.metrics
    if "accuracy" not in metrics:
        return ["No evaluation has been recorded for this model yet."]
    split = metrics.get("split", "unknown split")
    dataset = metrics.get("dataset", "unknown dataset")
    lines = [
        f"Measured on **{dataset}**, split **{split}** (n = {metrics.get('n', '?')}), "
        f"with the model's own inference (test-time augmentation: {config.tta}, temperature {config.temperature:.3f}):",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    by_tta = metrics.get("accuracy_by_tta") or {config.tta: metrics["accuracy"]}
    for mode, accuracy in by_tta.items():
        chosen = " (the default for photos)" if mode == config.tta else ""
        lines.append(f"| accuracy, {TTA_NAMES.get(mode, mode)}{chosen} | {accuracy:.4f} |")
    for key, name in (("macro_f1", "macro-F1"), ("weighted_f1", "weighted-F1"),
                      ("ece_before_temperature", "ECE before temperature scaling"), ("ece", "ECE (calibrated)")):
        if key in metrics:
            lines.append(f"| {name} | {metrics[key]:.4f} |")
    per_class = metrics.get("per_class")
    if per_class:
        lines += ["", "Per class (default inference):", "", "| class | recall | precision | F1 | support |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {label} | {row['recall']:.3f} | {row['precision']:.3f} | {row['f1']:.3f} | {row['support']} |"
                  for label, row in per_class.items()]
    adjustment = config.training.get("logit_adjustment")
    if adjustment:
        plain = next((row for row in metrics.get("logit_adjustment_sweep", []) if row["tau"] == 0), None)
        lines += ["", f"Logit adjustment tau = {adjustment['tau']:g} (logits - tau x log of the training class prior, "
                      "in the last layer's bias) lifts the rare classes"
                      + (f"; without it: accuracy {plain['accuracy']:.4f}, macro-F1 {plain['macro_f1']:.4f}."
                         if plain else ".")]
    if metrics.get("note"):
        lines += ["", metrics["note"]]
    return lines + _network_lines(config)


def _network_lines(config: ModelConfig) -> list[str]:
    """Size and cost, the teachers it was distilled from (same split), and the checked serving files."""
    metrics, lines = config.metrics, []
    network = metrics.get("network")
    if network:
        lines += ["", f"Network: {network['parameters']:,} parameters, {network['multiply_adds_per_view'] / 1e6:.1f}M "
                      f"multiply-adds per view, {network['views']} view(s) per face with the default TTA."]
    for teacher in metrics.get("teachers", []):
        if teacher.get("accuracy") is None or "accuracy" not in metrics:
            continue
        ratio = network["multiply_adds_per_view"] / teacher["multiply_adds_per_view"] if network else None
        lines += ["", f"Distilled from `{teacher['source']}`: {teacher['accuracy']:.4f} on {teacher.get('split')} "
                      f"with its own TTA ({teacher['tta']}); this model {metrics['accuracy']:.4f} "
                      f"({(metrics['accuracy'] - teacher['accuracy']) * 100:+.2f} points) with "
                      + (f"{ratio:.2f}x its multiply-adds per view." if ratio else "its own TTA.")]
    onnx = config.runtimes.get("onnx")
    if onnx:
        lines += ["", f"Served by ONNX Runtime from `{onnx['file']}` (checked against Keras: largest probability "
                      f"difference {onnx.get('max_abs_difference', float('nan')):.1e} on {onnx.get('checked_on', '?')})."]
        int8 = onnx.get("int8")
        if int8 and "accuracy_change" in int8:
            verdict = "within" if int8.get("within_limit") else "outside"
            lines += ["", f"`{int8['file']}` (int8): {int8['split']} accuracy {int8['accuracy']:.4f} against "
                          f"{int8['accuracy_float32']:.4f} in float32 ({int8['accuracy_change'] * 100:+.2f} points, "
                          f"{verdict} the {int8['limit'] * 100:.1f}-point limit for the live paths)."]
    lines += _explanation_lines(config)
    speed = metrics.get("speed")
    if speed:
        lines += ["", f"Speed: {speed['text']} (`{speed['benchmark']}`, {speed['measured']})."]
    return lines


def _explanation_lines(config: ModelConfig) -> list[str]:
    """The faithfulness and sanity table (training.explanations) and the default method it chose."""
    table = config.metrics.get("explanations")
    if not table:
        return []
    lines = ["", f"Explanations, on {table['faces']} {table['split']} faces (each for its predicted class; deletion: "
                 "lower is better, insertion: higher is better, each against random pixel orders; sanity: mean "
                 "Spearman correlation with the maps of the network with every layer above the Grad-CAM layer "
                 "re-initialized, passing at 0.5 or less):", "",
             "| method | deletion AUC (random) | insertion AUC (random) | sanity | ms per face | faces |",
             "| --- | --- | --- | --- | --- | --- |"]
    for method, row in table["methods"].items():
        sanity = row.get("sanity")
        verdict = "-" if not sanity else (f"{'pass' if sanity['passed'] else 'FAIL'} "
                                          f"({sanity['spearman']['above the Grad-CAM layer']:.2f})")
        lines.append(f"| {method} | {row['deletion_auc']:.3f} ({row['random_deletion_auc']:.3f}) | "
                     f"{row['insertion_auc']:.3f} ({row['random_insertion_auc']:.3f}) | {verdict} | "
                     f"{row['ms_per_face']:.0f} | {row['faces']} |")
    return lines + ["", f"Default explanation: {table['why']}"]


def _input_text(config: ModelConfig) -> str:
    height, width, channels = config.input_shape
    face = f"{'grey' if channels == 1 else 'RGB'} face"
    if config.crop_pct == 1.0:
        return f"{height}x{width} {face} crop"
    frame_h, frame_w, _ = config.face_input_shape
    return f"the central {height}x{width} of a {frame_h}x{frame_w} {face} frame"


def _training_lines(config: ModelConfig, folder: Path | None) -> list[str]:
    training = config.training
    lines = [
        f"Data: {training.get('data', 'unknown')}; trained on split(s) {training.get('train_split', '?')}, "
        f"selected on {training.get('val_split', '?')}. Epochs completed: {training.get('epochs_completed', '?')} "
        f"of {training.get('epochs', '?')}, in {training.get('train_minutes', '?')} minutes of training.",
    ]
    if training.get("trained_on"):
        lines += ["", "Trained on: " + "; then ".join(training["trained_on"]) + "."]
    if training.get("images_per_second_median"):
        lines += ["", f"Speed: {training['images_per_second_median']:.0f} training images/s (median over epochs)."]
    lines += ["", f"Command: `{training.get('command', 'unknown')}`"]
    for name, file in (("Learning curves", "learning_curve.png"), ("Confusion matrix", "confusion_matrix.png")):
        if folder is not None and (folder / file).is_file():
            lines += ["", f"![{name}]({file})"]
    return lines


def model_card(config: ModelConfig, repo_id: str | None = None, folder: str | Path | None = None) -> str:
    """Markdown card with Hub metadata: library, task, labels, eval results, training record, intended use,
    limits; the learning-curve and confusion-matrix pictures are linked when `folder` holds them."""
    metrics = config.metrics
    dataset = metrics.get("dataset", "fer2013")
    front = [
        "---",
        "library_name: keras",
        "pipeline_tag: image-classification",
        "tags:",
        "- keras",
        "- image-classification",
        "- facial-expression-recognition",
        "- fer",
        "datasets:",
        f"- {'ferplus' if 'ferplus' in dataset.lower() else 'fer2013'}",
    ]
    if "accuracy" in metrics:
        front += [
            "model-index:",
            f"- name: {repo_id or config.architecture}",
            "  results:",
            "  - task:",
            "      type: image-classification",
            "    dataset:",
            f"      name: {dataset}",
            f"      type: {'ferplus' if 'ferplus' in dataset.lower() else 'fer2013'}",
            f"      split: {metrics.get('split', 'unknown')}",
            "    metrics:",
            "    - type: accuracy",
            f"      value: {metrics['accuracy']:.4f}",
        ]
        if "macro_f1" in metrics:
            front += ["    - type: f1", "      name: macro-F1", f"      value: {metrics['macro_f1']:.4f}"]
    front.append("---")
    body = [
        f"# {repo_id or 'Facial expression model'} ({config.architecture})",
        "",
        f"Classifies a face crop into {config.num_classes} expressions: {', '.join(config.labels)}.",
        f"Input: {_input_text(config)}, raw 0-255 pixels "
        "(preprocess with `fer.model.preprocessing.preprocess_face`). Output: logits; probabilities are "
        f"softmax(logits / {config.temperature:.3f}).",
        "",
        "## Evaluation",
        "",
        *_metric_lines(config),
        "",
        "## Use",
        "",
        "```python",
        "from fer import Recognizer",
        f"recognizer = Recognizer(\"{('hf://' + repo_id) if repo_id else 'path/to/this/folder'}\")",
        "for face in recognizer.predict(\"photo.jpg\"):",
        "    print(face.to_dict())",
        "```",
        "",
        "## Training",
        "",
        *_training_lines(config, None if folder is None else Path(folder)),
        "",
        "## Intended use and limitations",
        "",
        "- For research, teaching and demos of facial-expression recognition. Not for decisions about people "
        "(hiring, policing, health, education, access): expressions are not emotions, and a face does not "
        "reveal what a person feels.",
        "- Trained on FER-2013 web images (48x48 grey): mostly frontal, adult faces. Accuracy drops for "
        "profile views, occlusion, poor light, children and elderly faces; dataset labels are noisy "
        "(human agreement on FER-2013 is about 65%).",
        "- The figures above come from one split of one dataset; expect lower accuracy on your own images.",
        "",
        f"Configuration travels in `{CONFIG_FILE}` (labels, input size, Grad-CAM layer `{config.last_conv_layer}`, "
        "temperature, metrics).",
    ]
    return "\n".join(front + [""] + body) + "\n"


def write_model_card(folder: str | Path, config: ModelConfig, repo_id: str | None = None) -> Path:
    path = Path(folder) / CARD_FILE
    path.write_text(model_card(config, repo_id, folder))
    return path
