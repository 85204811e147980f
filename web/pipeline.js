// The Recognizer of fer.recognizer, in the page: find faces (fer.faces.find_faces with YuNet), crop and
// level each one (face_crop), preprocess it (preprocess_face) and classify all faces in one model call.
// Every knob comes from models/pipeline.json (written by `python -m web.prepare` from the Python defaults)
// and from the exported model's config.json / export.json; none is written here.

import * as imaging from './imaging.js';
import * as yunet from './yunet.js';

// Python's round(): half to even (used where fer.faces rounds, so boxes land on the same pixels).
export function pyRound(value) {
  const floor = Math.floor(value), diff = value - floor;
  if (diff !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

async function fetchJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return response.json();
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** An exported expression model: its config.json, export.json and the ONNX Runtime session of one TTA mode. */
export class ExpressionModel {
  static async load(ort, folder, tta, sessionOptions) {
    const [config, manifest] = await Promise.all([fetchJSON(`${folder}/config.json`), fetchJSON(`${folder}/export.json`)]);
    if (manifest.format !== 'onnx') throw new Error(`${folder}: the page runs ONNX exports, not ${manifest.format}`);
    const mode = manifest.files[tta] ? tta : manifest.default_tta;
    const file = manifest.files[mode];
    if (!file) throw new Error(`${folder}/export.json names no file for tta ${tta}`);
    const session = await ort.InferenceSession.create(await fetchBytes(`${folder}/${file}`), sessionOptions);
    return new ExpressionModel(ort, config, manifest, mode, session);
  }

  constructor(ort, config, manifest, tta, session) {
    Object.assign(this, {ort, config, manifest, tta, session});
    this.labels = config.labels;
    this.frameShape = manifest.input.shape.slice(1);  // [height, width, channels] the graph takes
    this.inputName = manifest.input.name;
  }

  /** (N, frameShape) uint8 frames -> N rows of calibrated probabilities (the graph's own output). */
  async predict(frames) {
    const [height, width, channels] = this.frameShape, size = height * width * channels;
    const data = new Float32Array(frames.length * size);
    frames.forEach((frame, i) => data.set(frame.data, i * size));
    const input = new this.ort.Tensor('float32', data, [frames.length, height, width, channels]);
    const {probabilities} = await this.session.run({[this.inputName]: input}, ['probabilities']);
    const classes = this.labels.length, rows = [];
    for (let i = 0; i < frames.length; i++) rows.push(probabilities.data.slice(i * classes, (i + 1) * classes));
    return rows;
  }
}

/** YuNet through ONNX Runtime Web, with OpenCV's decoding (yunet.js). */
export class YuNetDetector {
  static async load(ort, url, settings, sessionOptions) {
    const session = await ort.InferenceSession.create(await fetchBytes(url), sessionOptions);
    return new YuNetDetector(ort, session, settings);
  }

  constructor(ort, session, settings) {
    Object.assign(this, {ort, session, settings});
  }

  /** Faces in an RGB image, in its pixels (fer.faces.YuNetFaceDetector.detect). */
  async detect(rgb) {
    const {tensor, dims} = yunet.inputTensor(rgb);
    const outputs = await this.session.run({input: new this.ort.Tensor('float32', tensor, dims)});
    const arrays = Object.fromEntries(Object.entries(outputs).map(([name, value]) => [name, value.data]));
    const rows = yunet.decode(arrays, dims[3], dims[2], {
      scoreThreshold: this.settings.score_threshold, nmsThreshold: this.settings.nms_threshold, topK: this.settings.top_k,
    });
    return rows
      .filter((f) => [f.x, f.y, f.width, f.height, f.score, ...f.landmarks.flat()].every(Number.isFinite))
      .map((f) => ({box: {x: pyRound(f.x), y: pyRound(f.y), width: pyRound(f.width), height: pyRound(f.height)},
                    score: f.score, landmarks: f.landmarks}));
  }
}

/** find_faces(): downscale, pad, detect, map back and clip, drop small faces, keep the largest, sort. */
export async function findFaces(frame, detector, {max_side: maxSide, pad, min_face_size: minFaceSize, max_faces: maxFaces}) {
  const {width, height} = frame;
  const scale = Math.min(1, maxSide / ((1 + 2 * pad) * Math.max(height, width)));
  let small = frame;
  if (scale < 1) {
    small = imaging.resizeLinear(frame, Math.max(1, pyRound(width * scale)), Math.max(1, pyRound(height * scale)));
  }
  const padX = pyRound(pad * small.width), padY = pyRound(pad * small.height);
  const padded = padX || padY ? imaging.padConstant(small, padY, padY, padX, padX) : small;
  let faces = [];
  for (const face of await detector.detect(padded)) {
    const mapped = mapBack(face, padX, padY, scale, width, height);
    if (mapped && Math.min(mapped.box.width, mapped.box.height) >= minFaceSize) faces.push(mapped);
  }
  const found = faces.length;
  if (maxFaces && found > maxFaces) {
    faces = faces.map((f, i) => [f, i]).sort((a, b) => area(b[0]) - area(a[0]) || a[1] - b[1]).slice(0, maxFaces).map((p) => p[0]);
  }
  faces.sort((a, b) => a.box.x - b.box.x || a.box.y - b.box.y);
  return {faces, found};
}

const area = (face) => face.box.width * face.box.height;

function mapBack(face, padX, padY, scale, width, height) {
  const {box} = face;
  const left = (box.x - padX) / scale, top = (box.y - padY) / scale;
  const right = left + box.width / scale, bottom = top + box.height / scale;
  const x0 = Math.max(0, pyRound(left)), y0 = Math.max(0, pyRound(top));
  const x1 = Math.min(width, pyRound(right)), y1 = Math.min(height, pyRound(bottom));
  if (x1 <= x0 || y1 <= y0) return null;
  const landmarks = face.landmarks.map(([x, y]) => [(x - padX) / scale, (y - padY) / scale]);
  return {box: {x: x0, y: y0, width: x1 - x0, height: y1 - y0}, score: face.score, landmarks};
}

/** Degrees the eye line is tilted (Face.eye_angle). */
export function eyeAngle(face) {
  if (!face.landmarks) return 0;
  const [[rightX, rightY], [leftX, leftY]] = face.landmarks;
  return Math.atan2(leftY - rightY, leftX - rightX) * (180 / Math.PI);
}

/** face_crop(): the square around the box centre, margin added, rotated so the eyes are level. */
export function faceCrop(frame, face, margin, align) {
  const {box} = face;
  const side = Math.max(2, Math.trunc(pyRound(Math.max(box.width, box.height) * (1 + 2 * margin))));
  // cv2.getRotationMatrix2D takes the centre as a float32 point.
  const centerX = Math.fround(box.x + box.width / 2), centerY = Math.fround(box.y + box.height / 2);
  const matrix = imaging.rotationMatrix(centerX, centerY, align ? eyeAngle(face) : 0, 1);
  matrix[2] += side / 2 - centerX;
  matrix[5] += side / 2 - centerY;
  return imaging.warpAffine(frame, matrix, side, side);
}

/** preprocess_face(): grey (for 1-channel models), then resized to the frame the model takes. */
export function preprocessFace(crop, [height, width, channels]) {
  let face = crop;
  if (channels === 1) face = imaging.toGrey(crop);
  else if (crop.channels === 1) throw new Error('RGB models need RGB crops');
  if (face.width === width && face.height === height) return face;
  const shrinking = face.height > height || face.width > width;
  return shrinking ? imaging.resizeArea(face, width, height) : imaging.resizeLinear(face, width, height);
}

/** Recognizer.analyze_frame() in the page. */
export class Recognizer {
  constructor(detector, model, settings) {
    Object.assign(this, {detector, model, settings});
  }

  get labels() {
    return this.model.labels;
  }

  /** An RGB image -> {faces: [{box, landmarks, score, probabilities}], found, timings (ms)}. */
  async analyze(frame) {
    const start = performance.now();
    const {faces, found} = await findFaces(frame, this.detector, this.settings.detection);
    const detected = performance.now();
    const margin = this.model.config.face_margin ?? 0;
    const inputs = faces.map((face) => preprocessFace(faceCrop(frame, face, margin, this.settings.align), this.model.frameShape));
    const cropped = performance.now();
    const rows = inputs.length ? await this.model.predict(inputs) : [];
    const end = performance.now();
    return {
      faces: faces.map((face, i) => ({...face, probabilities: rows[i]})), found, inputs,
      timings: {detect: detected - start, crop: cropped - detected, classify: end - cropped, total: end - start},
    };
  }
}
