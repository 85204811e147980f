// The analysis: its own ONNX Runtime Web, YuNet and expression model (pipeline.js). As a Web Worker (the page's
// default) the page keeps one or more of them busy with consecutive camera frames, so the networks run off the
// page's main thread and, on a machine with cores to spare, on several frames at once; with ?workers=0 the page
// imports this module and calls the same handlers on its main thread. Nothing leaves the browser: frames come in
// as transferred buffers and results go back the same way.

import {image} from './imaging.js';
import {ExpressionModel, GRAD_CAM_NEEDS, Recognizer, YuNetDetector, argmax, faceCrop, overlayTile, preprocessFace}
  from './pipeline.js';

let ort = null, recognizer = null, overlay = null;

async function load({settings, model: name, threads, precision = 'float32'}) {
  if (!ort) {
    try {
      ort = await import('./runtime/ort.wasm.min.mjs');
    } catch (error) {
      throw new Error('ONNX Runtime Web is not in runtime/: run `make web` (or `python -m web.prepare`) first');
    }
    ort.env.wasm.wasmPaths = new URL('runtime/', import.meta.url).href;  // beside this module, worker or page
    ort.env.wasm.numThreads = threads;
  }
  const entry = settings.models.find((m) => m.name === name) || settings.models[0];
  const options = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
  const [detector, model] = await Promise.all([
    recognizer?.detector || YuNetDetector.load(ort, `models/${settings.detector.file}`, settings.detector, options),
    ExpressionModel.load(ort, `models/${entry.folder}`, {tta: settings.stream.tta, precision, sessionOptions: options}),
  ]);
  recognizer = new Recognizer(detector, model, settings);
  overlay = settings.grad_cam;
  // One blank frame through both networks (and the class maps), so the first camera frame does not pay for set-up.
  await recognizer.analyze(image(64, 48, 3));
  const blank = image(model.frameShape[1], model.frameShape[0], model.frameShape[2]);
  await model.run([blank], model.tta, {classMaps: model.hasClassMaps});
  return {name: entry.name, labels: model.labels, config: model.config, tta: model.tta, frameShape: model.frameShape,
          file: model.file, precision: model.precision, fallback: model.fallback, classMaps: model.hasClassMaps,
          threads: ort.env.wasm.numThreads || 1};
}

// cam: also the Grad-CAM of each face's predicted class (from the same model call) and its tile for the strip.
async function analyze({data, width, height, inputs = false, cam = false}) {
  const result = await recognizer.analyze(image(width, height, 3, new Uint8Array(data)), {cam});
  let cams;
  if (result.cams) {
    const start = performance.now(), side = overlay.tile;
    cams = result.cams.map(({target, map}, i) => ({
      target, map, side, tile: overlayTile(result.crops[i], map, recognizer.model.frameShape, side, overlay),
    }));
    result.timings.cam += performance.now() - start;
  }
  return {
    found: result.found, timings: result.timings, cams,
    faces: result.faces.map((f) => ({box: f.box, landmarks: f.landmarks, score: f.score, probabilities: Array.from(f.probabilities)})),
    inputs: inputs ? result.inputs.map((input) => Array.from(input.data)) : undefined,
  };
}

function prepareFace({data, width, height, face}) {
  const {model, settings} = recognizer;
  const crop = faceCrop(image(width, height, 3, new Uint8Array(data)), face, model.config.face_margin ?? 0, settings.align);
  return Array.from(preprocessFace(crop, model.frameShape).data);
}

function unpackFrames(data, count) {
  const {model} = recognizer, [height, width, channels] = model.frameShape, size = height * width * channels;
  const bytes = new Uint8Array(data);
  if (bytes.length !== count * size) throw new Error(`expected ${count} frames of ${size} bytes, got ${bytes.length} bytes`);
  return Array.from({length: count}, (_, i) => image(width, height, channels, bytes.subarray(i * size, (i + 1) * size)));
}

// The expression model alone on given frames (packed, frameShape each): mean logits and probabilities.
async function classify({data, count, tta}) {
  const {model} = recognizer;
  const logits = await model.logits(unpackFrames(data, count), tta || model.tta);
  return {logits: logits.map((row) => Array.from(row)), probabilities: model.calibrate(logits).map((row) => Array.from(row))};
}

// The camera path's Grad-CAM on given frames: one model call (in the webcam's TTA mode unless `tta`), each frame's
// predicted class and its map (frameShape), as analyze({cam: true}) makes them for detected faces.
async function gradCam({data, count, tta}) {
  const {model} = recognizer;
  if (!model.hasClassMaps) throw new Error(GRAD_CAM_NEEDS);
  const {rows, maps} = await model.run(unpackFrames(data, count), tta || model.tta, {classMaps: true});
  const classes = rows.map(argmax);
  return {classes, maps: count ? model.gradCam(maps, classes).map((map) => Array.from(map)) : []};
}

export const handlers = {load, analyze, prepareFace, classify, gradCam};

// As a worker: answer the page's messages. Imported by the page (?workers=0), the page calls `handlers` itself.
if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope) {
  self.onmessage = async ({data: {id, kind, args}}) => {
    try {
      self.postMessage({id, result: await handlers[kind](args)});
    } catch (error) {
      self.postMessage({id, error: error.message || String(error)});
    }
  };
}
