// One analysis worker: its own ONNX Runtime Web, YuNet and expression model (pipeline.js). The page keeps one
// or more of them busy with consecutive camera frames, so the networks run off the page's main thread and, on a
// machine with cores to spare, on several frames at once. Nothing leaves the browser: frames come in as
// transferred buffers and results go back the same way.

import {image} from './imaging.js';
import {ExpressionModel, Recognizer, YuNetDetector, faceCrop, preprocessFace} from './pipeline.js';

let ort = null, recognizer = null;

async function load({settings, model: name, threads, precision = 'float32'}) {
  if (!ort) {
    try {
      ort = await import('./runtime/ort.wasm.min.mjs');
    } catch (error) {
      throw new Error('ONNX Runtime Web is not in runtime/: run `make web` (or `python -m web.prepare`) first');
    }
    ort.env.wasm.wasmPaths = new URL('runtime/', self.location.href).href;
    ort.env.wasm.numThreads = threads;
  }
  const entry = settings.models.find((m) => m.name === name) || settings.models[0];
  const options = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
  const [detector, model] = await Promise.all([
    recognizer?.detector || YuNetDetector.load(ort, `models/${settings.detector.file}`, settings.detector, options),
    ExpressionModel.load(ort, `models/${entry.folder}`, {tta: settings.stream.tta, precision, sessionOptions: options}),
  ]);
  recognizer = new Recognizer(detector, model, settings);
  // One blank frame through both networks, so the first camera frame does not pay for their set-up.
  await recognizer.analyze(image(64, 48, 3));
  await model.predict([image(model.frameShape[1], model.frameShape[0], model.frameShape[2])]);
  return {name: entry.name, labels: model.labels, config: model.config, tta: model.tta, frameShape: model.frameShape,
          file: model.file, precision: model.precision, fallback: model.fallback, threads: ort.env.wasm.numThreads || 1};
}

async function analyze({data, width, height, inputs = false}) {
  const result = await recognizer.analyze(image(width, height, 3, new Uint8Array(data)));
  return {
    found: result.found, timings: result.timings,
    faces: result.faces.map((f) => ({box: f.box, landmarks: f.landmarks, score: f.score, probabilities: Array.from(f.probabilities)})),
    inputs: inputs ? result.inputs.map((input) => Array.from(input.data)) : undefined,
  };
}

function prepareFace({data, width, height, face}) {
  const {model, settings} = recognizer;
  const crop = faceCrop(image(width, height, 3, new Uint8Array(data)), face, model.config.face_margin ?? 0, settings.align);
  return Array.from(preprocessFace(crop, model.frameShape).data);
}

// The expression model alone on given frames (packed, frameShape each): mean logits and probabilities.
async function classify({data, count, tta}) {
  const {model} = recognizer, [height, width, channels] = model.frameShape, size = height * width * channels;
  const bytes = new Uint8Array(data);
  if (bytes.length !== count * size) throw new Error(`expected ${count} frames of ${size} bytes, got ${bytes.length} bytes`);
  const frames = Array.from({length: count}, (_, i) => image(width, height, channels, bytes.subarray(i * size, (i + 1) * size)));
  const logits = await model.logits(frames, tta || model.tta);
  return {logits: logits.map((row) => Array.from(row)), probabilities: model.calibrate(logits).map((row) => Array.from(row))};
}

const handlers = {load, analyze, prepareFace, classify};

self.onmessage = async ({data: {id, kind, args}}) => {
  try {
    self.postMessage({id, result: await handlers[kind](args)});
  } catch (error) {
    self.postMessage({id, error: error.message || String(error)});
  }
};
