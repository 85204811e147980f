// The Recognizer of fer.recognizer, in the page: find faces (fer.faces.find_faces with YuNet), crop and
// level each one (face_crop), preprocess it (preprocess_face) and classify all faces in one model call.
// Every knob comes from models/pipeline.json (written by `python -m web.prepare` from the Python defaults)
// and from the model folder's config.json; none is written here. The expression model is the folder's own
// model.onnx (the bare network, as fer.runtime.onnx.OnnxModel runs it): the test-time views, their mean logits,
// the temperature and the softmax are made here, as fer.inference makes them.

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

export const PRECISIONS = ['float32', 'int8'];

/** config.frame_shape: the face frame whose central crop_pct the network sees (fer.config.frame_shape). */
export function frameShape(config) {
  const [height, width, channels] = config.input_shape, cropPct = config.crop_pct ?? 1;
  return [pyRound(height / cropPct), pyRound(width / cropPct), channels];
}

/** fer.inference.view_offsets(): [top, left, mirrored] of each view of the frame that the network sees. */
export function viewOffsets(config, tta) {
  const [frameHeight, frameWidth] = frameShape(config), [height, width] = config.input_shape;
  const centre = [Math.floor((frameHeight - height) / 2), Math.floor((frameWidth - width) / 2)];
  if (tta === 'none') return [[...centre, false]];
  if (tta === 'flip') return [[...centre, false], [...centre, true]];
  if (tta !== 'ten_crop') throw new Error(`tta must be one of none, flip, ten_crop, got ${tta}`);
  if ((config.crop_pct ?? 1) === 1) throw new Error('ten_crop needs a model trained on crops of a larger frame (crop_pct < 1)');
  const corners = [[0, 0], [0, frameWidth - width], [frameHeight - height, 0], [frameHeight - height, frameWidth - width], centre];
  return corners.flatMap(([top, left]) => [[top, left, false], [top, left, true]]);
}

/** fer.inference.test_time_views(): N frames -> the network's (V * N, h, w, c) float32 input, view by view
 * (all faces' view 0, then all faces' view 1, ...), so every face and view goes through one session call. */
export function testTimeViews(frames, config, tta) {
  const [frameHeight, frameWidth, channels] = frameShape(config), [height, width] = config.input_shape;
  const offsets = viewOffsets(config, tta), size = height * width * channels, rowBytes = width * channels;
  const data = new Float32Array(offsets.length * frames.length * size);
  offsets.forEach(([top, left, mirrored], view) => frames.forEach((frame, face) => {
    if (frame.width !== frameWidth || frame.height !== frameHeight || frame.channels !== channels) {
      throw new Error(`expected ${frameWidth}x${frameHeight}x${channels} frames, got ${frame.width}x${frame.height}x${frame.channels}`);
    }
    let out = (view * frames.length + face) * size;
    for (let y = 0; y < height; y++) {
      const row = ((top + y) * frameWidth + left) * channels;
      if (!mirrored) {
        data.set(frame.data.subarray(row, row + rowBytes), out);  // uint8 -> float32
        out += rowBytes;
        continue;
      }
      for (let x = width - 1; x >= 0; x--) {
        for (let c = 0; c < channels; c++) data[out++] = frame.data[row + x * channels + c];
      }
    }
  }));
  return {data, dims: [offsets.length * frames.length, height, width, channels], views: offsets.length};
}

/** Softmax of logits / temperature, shifted by the row maximum (fer.inference.softmax). */
export function softmax(logits, temperature = 1) {
  const scaled = Array.from(logits, (value) => value / temperature), top = Math.max(...scaled);
  const exp = scaled.map((value) => Math.exp(value - top)), sum = exp.reduce((a, b) => a + b, 0);
  return Float32Array.from(exp, (value) => value / sum);
}

/** config.json's record of the ONNX file to run: `asked` ("float32" or "int8"), or float32 when the folder has no
 * int8 file within its accuracy limit (fer.runtime.onnx.onnx_record; `within_limit` is training.finalize's verdict). */
export function onnxFile(config, asked = 'float32') {
  if (!PRECISIONS.includes(asked)) throw new Error(`precision must be float32 or int8, got ${asked}`);
  const record = config.runtimes?.onnx;
  if (!record?.file) throw new Error('config.json records no ONNX file: prepare the page again (make web)');
  const int8 = record.int8;
  if (asked === 'int8' && int8?.file && int8.within_limit === true) return {file: int8.file, precision: 'int8'};
  const why = asked === 'int8' ? (int8?.file ? 'its int8 file is not within its accuracy limit' : 'it has no int8 file') : '';
  return {file: record.file, precision: 'float32', why};
}

/** A model folder's network (config.json + its recorded ONNX file) in ONNX Runtime Web, like OnnxModel. */
export class ExpressionModel {
  /** tta: the views to average (the webcam's mode); precision: "float32" or "int8" (used when recorded and
   * within its limit, else float32: `precision` says which one runs, `fallback` why it is not the one asked). */
  static async load(ort, folder, {tta, precision = 'float32', sessionOptions = {}} = {}) {
    const config = await fetchJSON(`${folder}/config.json`);
    const chosen = onnxFile(config, precision);
    const session = await ort.InferenceSession.create(await fetchBytes(`${folder}/${chosen.file}`), sessionOptions);
    if (session.inputNames.length !== 1) throw new Error(`${folder}/${chosen.file}: expected one input`);
    return new ExpressionModel(ort, config, session, {tta: tta || config.tta, file: chosen.file,
                                                      precision: chosen.precision, fallback: chosen.why || null});
  }

  constructor(ort, config, session, {tta, file, precision, fallback = null}) {
    Object.assign(this, {ort, config, session, tta, file, precision, fallback});
    this.labels = config.labels;
    this.frameShape = frameShape(config);  // [height, width, channels] of the frames predict() takes
    viewOffsets(config, tta);  // an unusable mode fails here, not on the first face
  }

  /** (N, frameShape) uint8 frames -> N rows of logits, the mean over the `tta` views: one session call. */
  async logits(frames, tta = this.tta) {
    if (!frames.length) return [];
    const {data, dims, views} = testTimeViews(frames, this.config, tta);
    const input = new this.ort.Tensor('float32', data, dims);
    const outputs = await this.session.run({[this.session.inputNames[0]]: input});
    const output = outputs[this.session.outputNames[0]].data, classes = this.labels.length, count = frames.length;
    if (output.length !== views * count * classes) throw new Error(`the model gave ${output.length} values, not ${views * count * classes}`);
    const rows = [];
    for (let face = 0; face < count; face++) {
      const row = new Float32Array(classes);
      for (let view = 0; view < views; view++) {
        const at = (view * count + face) * classes;
        for (let k = 0; k < classes; k++) row[k] += output[at + k];
      }
      for (let k = 0; k < classes; k++) row[k] /= views;
      rows.push(row);
    }
    return rows;
  }

  /** Rows of mean logits -> calibrated probabilities: softmax(logits / config.temperature). */
  calibrate(rows) {
    const temperature = this.config.temperature ?? 1;
    return rows.map((row) => softmax(row, temperature));
  }

  /** (N, frameShape) uint8 frames -> N rows of calibrated probabilities. */
  async predict(frames, tta = this.tta) {
    return this.calibrate(await this.logits(frames, tta));
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
