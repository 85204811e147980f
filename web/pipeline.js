// The Recognizer of fer.pipeline, in the page: find faces (fer.faces.find_faces with YuNet), crop and
// level each one (face_crop), preprocess it (preprocess_face) and classify all faces in one model call.
// Every knob comes from models/pipeline.json (written by `python -m web.prepare` from the Python defaults)
// and from the model folder's config.json; none is written here. The expression model is the folder's own
// model.onnx (the bare network, as fer.runtime.onnx.OnnxModel runs it): the test-time views, their mean logits,
// the temperature and the softmax are made here, as fer.runtime.base makes them. A network ending in global average
// pooling also gives its class maps, from which Grad-CAM is made here as OnnxModel.class_activation_maps makes it.

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

export const PRECISIONS = ['float32', 'int8', 'auto'];
export const CLASS_MAPS = 'class_maps';  // the output of networks ending in global average pooling (fer.runtime.onnx)
export const GRAD_CAM_NEEDS = 'Grad-CAM needs a global-pooling model';

/** The face input whose central crop_pct the network sees (fer.model.config.face_input_shape). */
export function frameShape(config) {
  const [height, width, channels] = config.input_shape, cropPct = config.crop_pct ?? 1;
  return [pyRound(height / cropPct), pyRound(width / cropPct), channels];
}

/** fer.runtime.base.view_offsets(): [top, left, mirrored] of each view of the frame that the network sees. */
export function viewOffsets(config, tta) {
  const [frameHeight, frameWidth] = frameShape(config), [height, width] = config.input_shape;
  const center = [Math.floor((frameHeight - height) / 2), Math.floor((frameWidth - width) / 2)];
  if (tta === 'none') return [[...center, false]];
  if (tta === 'flip') return [[...center, false], [...center, true]];
  if (tta !== 'ten_crop') throw new Error(`tta must be one of none, flip, ten_crop, got ${tta}`);
  if ((config.crop_pct ?? 1) === 1) throw new Error('ten_crop needs a model trained on crops of a larger frame (crop_pct < 1)');
  const corners = [[0, 0], [0, frameWidth - width], [frameHeight - height, 0], [frameHeight - height, frameWidth - width], center];
  return corners.flatMap(([top, left]) => [[top, left, false], [top, left, true]]);
}

/** fer.runtime.base.test_time_views(): N frames -> the network's (V * N, h, w, c) float32 input, view by view
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

/** The index of the largest value (the first one on ties, as numpy's argmax). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

const f32 = Math.fround;

// One axis of cv2.resize(INTER_LINEAR) on float32 data: half-pixel centers, OpenCV's float weights; columns past
// an edge take the edge value whole (clampEdges), rows keep their weights and read the clamped row (as OpenCV).
function linearAxis(sourceSize, targetSize, clampEdges) {
  const scale = 1 / (targetSize / sourceSize);  // OpenCV: inv_scale = dsize / ssize, scale = 1 / inv_scale
  const offsets = new Int32Array(targetSize), weights = new Float32Array(2 * targetSize);
  for (let d = 0; d < targetSize; d++) {
    let f = f32((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = f32(f - s);
    if (clampEdges && s < 0) { f = 0; s = 0; }
    if (clampEdges && s >= sourceSize - 1) { f = 0; s = sourceSize - 1; }
    offsets[d] = s;
    weights[2 * d] = f32(1 - f);
    weights[2 * d + 1] = f;
  }
  return {offsets, weights};
}

/** cv2.resize(src, (width, height), INTER_LINEAR) of a one-channel float32 map (OpenCV's float path, each product
 * and sum rounded to float32 as OpenCV computes them). */
export function resizeLinearFloat(src, srcWidth, srcHeight, width, height) {
  const xt = linearAxis(srcWidth, width, true), yt = linearAxis(srcHeight, height, false);
  const horizontal = (sy) => {
    const row = new Float32Array(width), base = sy * srcWidth;
    for (let dx = 0; dx < width; dx++) {
      const sx = xt.offsets[dx];
      row[dx] = sx >= srcWidth - 1 ? src[base + sx]
        : f32(f32(src[base + sx] * xt.weights[2 * dx]) + f32(src[base + sx + 1] * xt.weights[2 * dx + 1]));
    }
    return row;
  };
  const clamp = (row) => Math.max(0, Math.min(row, srcHeight - 1));
  const out = new Float32Array(width * height), rows = new Map();
  const rowAt = (sy) => {
    if (!rows.has(sy)) rows.set(sy, horizontal(sy));
    return rows.get(sy);
  };
  for (let dy = 0; dy < height; dy++) {
    const r0 = rowAt(clamp(yt.offsets[dy])), r1 = rowAt(clamp(yt.offsets[dy] + 1));
    const b0 = yt.weights[2 * dy], b1 = yt.weights[2 * dy + 1];
    for (let x = 0, o = dy * width; x < width; x++) out[o + x] = f32(f32(r0[x] * b0) + f32(r1[x] * b1));
  }
  return out;
}

/** Softmax of logits / temperature, shifted by the row maximum (fer.runtime.base.softmax). */
export function softmax(logits, temperature = 1) {
  const scaled = Array.from(logits, (value) => value / temperature), top = Math.max(...scaled);
  const exp = scaled.map((value) => Math.exp(value - top)), sum = exp.reduce((a, b) => a + b, 0);
  return Float32Array.from(exp, (value) => value / sum);
}

/** config.json's record of the ONNX file to run: `asked` ("float32", "int8", or "auto": int8 when it is within its
 * accuracy limit, as the live paths run it, like fer.model.sources.load_model(precision="auto")), or float32 when the folder
 * has no int8 file within its limit (fer.runtime.onnx.onnx_record; `within_limit` is training.finalize's verdict). */
export function onnxFile(config, asked = 'float32') {
  if (!PRECISIONS.includes(asked)) throw new Error(`precision must be ${PRECISIONS.join(', ')}, got ${asked}`);
  const record = config.runtimes?.onnx;
  if (!record?.file) throw new Error('config.json records no ONNX file: prepare the page again (make web)');
  const int8 = record.int8;
  const usable = int8?.file && int8.within_limit === true;
  if (asked === 'auto') return usable ? {file: int8.file, precision: 'int8'} : {file: record.file, precision: 'float32', why: ''};
  if (asked === 'int8' && usable) return {file: int8.file, precision: 'int8'};
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
    const names = session.outputNames;
    this.outputName = names.includes('logits') ? 'logits' : names[0];  // as OnnxModel picks it
    this.hasClassMaps = names.includes(CLASS_MAPS);
  }

  /** (N, frameShape) uint8 frames -> N rows of logits, the mean over the `tta` views: one session call. */
  async logits(frames, tta = this.tta) {
    return (await this.run(frames, tta)).rows;
  }

  /** logits(), and with classMaps (a network that has them) the class maps of each face's center view from the
   * same session call: {rows, maps: {data, height, width, first} or null}, face i's maps at batch row first + i. */
  async run(frames, tta = this.tta, {classMaps = false} = {}) {
    if (!frames.length) return {rows: [], maps: null};
    if (classMaps && !this.hasClassMaps) throw new Error(GRAD_CAM_NEEDS);
    const {data, dims, views} = testTimeViews(frames, this.config, tta);
    const input = new this.ort.Tensor('float32', data, dims);
    const fetches = classMaps ? [this.outputName, CLASS_MAPS] : [this.outputName];
    const outputs = await this.session.run({[this.session.inputNames[0]]: input}, fetches);
    const output = outputs[this.outputName].data, classes = this.labels.length, count = frames.length;
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
    if (!classMaps) return {rows, maps: null};
    // OnnxModel.class_activation_maps runs the center view alone ("none"); it is one of every mode's views.
    const [frameHeight, frameWidth] = this.frameShape, [height, width] = this.config.input_shape;
    const center = viewOffsets(this.config, tta).findIndex(([top, left, mirrored]) => !mirrored &&
      top === Math.floor((frameHeight - height) / 2) && left === Math.floor((frameWidth - width) / 2));
    const tensor = outputs[CLASS_MAPS];
    const [, mapHeight, mapWidth, mapClasses] = tensor.dims;
    if (tensor.dims.length !== 4 || mapClasses !== classes || tensor.dims[0] !== views * count) {
      throw new Error(`class_maps of shape [${tensor.dims}] do not fit ${views * count} inputs and ${classes} labels`);
    }
    return {rows, maps: {data: tensor.data, height: mapHeight, width: mapWidth, first: center * count}};
  }

  /** Grad-CAM of class classes[i] for face i from run()'s maps, as OnnxModel.class_activation_maps: the ReLU of
   * the class's map, upsampled to the network input (cv2.resize INTER_LINEAR), normalized to 0..1 per face (min-max;
   * all zero when constant) and placed in the frame (frameShape; zero outside the center the network sees). */
  gradCam(maps, classes) {
    const [frameHeight, frameWidth] = this.frameShape, [height, width] = this.config.input_shape;
    const top = Math.floor((frameHeight - height) / 2), left = Math.floor((frameWidth - width) / 2);
    const {data, height: mapHeight, width: mapWidth, first} = maps, count = this.labels.length;
    return classes.map((target, face) => {
      const relu = new Float32Array(mapHeight * mapWidth), at = (first + face) * mapHeight * mapWidth;
      for (let i = 0; i < relu.length; i++) relu[i] = Math.max(data[(at + i) * count + target], 0);
      const cam = resizeLinearFloat(relu, mapWidth, mapHeight, width, height);
      let low = Infinity, high = -Infinity;
      for (const value of cam) { if (value < low) low = value; if (value > high) high = value; }
      const out = new Float32Array(frameHeight * frameWidth);
      if (!(high > low)) return out;
      const range = f32(high - low);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) out[(top + y) * frameWidth + left + x] = f32(f32(cam[y * width + x] - low) / range);
      }
      return out;
    });
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

/** face_crop(): the square around the box center, margin added, rotated so the eyes are level. */
export function faceCrop(frame, face, margin, align) {
  const {box} = face;
  const side = Math.max(2, Math.trunc(pyRound(Math.max(box.width, box.height) * (1 + 2 * margin))));
  // cv2.getRotationMatrix2D takes the center as a float32 point.
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

/** One Grad-CAM tile as the app's webcam strip shows it (fer.explain.overlay on the face crop, tile_strip's size):
 * the crop resized to side x side, the frame's 0..1 heatmap upsampled over it, colored with `colormap` (256 RGB
 * rows: OpenCV's JET, from pipeline.json) and blended with weight `alpha`. Returns RGBA bytes for an ImageData. */
export function overlayTile(crop, heatmap, [frameHeight, frameWidth], side, {alpha, colormap}) {
  if (crop.channels !== 3) throw new Error('Grad-CAM tiles are drawn on RGB face crops');
  let face = crop;
  if (face.width !== side || face.height !== side) {
    face = face.width > side || face.height > side ? imaging.resizeArea(face, side, side) : imaging.resizeLinear(face, side, side);
  }
  const heat = resizeLinearFloat(heatmap, frameWidth, frameHeight, side, side);
  const out = new Uint8ClampedArray(side * side * 4);
  for (let i = 0, j = 0, o = 0; i < heat.length; i++, j += 3, o += 4) {
    const level = Math.round(Math.min(1, Math.max(0, heat[i] || 0)) * 255), color = colormap[level];
    for (let c = 0; c < 3; c++) out[o + c] = alpha * color[c] + (1 - alpha) * face.data[j + c];  // rounds, clamps
    out[o + 3] = 255;
  }
  return out;
}

/** Recognizer.analyze_frame() in the page. */
export class Recognizer {
  constructor(detector, model, settings) {
    Object.assign(this, {detector, model, settings});
  }

  get labels() {
    return this.model.labels;
  }

  /** An RGB image -> {faces: [{box, landmarks, score, probabilities}], found, inputs, crops, timings (ms)}. With
   * cam (and a model with class maps), also cams: each face's predicted class and its Grad-CAM map (frameShape),
   * the maps taken from the same session call as the probabilities (timings.cam: making the maps from them). */
  async analyze(frame, {cam = false} = {}) {
    const start = performance.now();
    const {faces, found} = await findFaces(frame, this.detector, this.settings.detection);
    const detected = performance.now();
    const margin = this.model.config.face_margin ?? 0;
    const crops = faces.map((face) => faceCrop(frame, face, margin, this.settings.align));
    const inputs = crops.map((crop) => preprocessFace(crop, this.model.frameShape));
    const cropped = performance.now();
    const {rows, maps} = await this.model.run(inputs, this.model.tta, {classMaps: cam && this.model.hasClassMaps});
    const probabilities = this.model.calibrate(rows);
    const classified = performance.now();
    let cams = null;
    if (maps) {
      const classes = rows.map(argmax);  // the face's predicted class (the calibrated softmax keeps the order)
      cams = this.model.gradCam(maps, classes).map((map, i) => ({target: classes[i], map}));
    }
    const end = performance.now();
    const timings = {detect: detected - start, crop: cropped - detected, classify: classified - cropped, total: end - start};
    if (cams) timings.cam = end - classified;
    return {faces: faces.map((face, i) => ({...face, probabilities: probabilities[i]})), found, inputs, crops, cams, timings};
  }
}
