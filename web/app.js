// Private mode: the webcam page. Everything below runs in this tab; no frame, crop or result is sent anywhere.
// After the models are loaded (the only requests the page makes), it keeps working with the network off.
//
// The main thread grabs camera frames and draws; analysis workers (worker.js) run the pipeline. With two
// workers, consecutive frames are analyzed at the same time and their results drawn in order. With ?workers=0 the
// pipeline runs on the main thread itself (worker.js's handlers, imported), so that a main-thread-only slowdown such
// as Chromium's CPU throttling applies to all of it (benchmarks/web.py's throttled rows).

import {fromRGBA} from './imaging.js';
import {argmax} from './pipeline.js';
import {FaceTracker} from './tracking.js';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const state = {settings: null, model: null, pool: [], mainThread: false, tracker: null, running: false, stream: null,
               stats: emptyStats(), cam: emptyCam()};

function emptyStats() {
  return {frames: 0, times: [], faces: 0, timings: null, fps: 0, camMs: null, cams: 0};
}

// Grad-CAM cadence, counted in analyzed (dispatched) frames as fer.live.LiveSession counts them: due when none has
// been made yet or `every` frames have passed since the last one that had faces.
function emptyCam() {
  return {index: 0, last: -Infinity};
}

function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = kind;
}

// ---------------------------------------------------------------- workers

class AnalysisWorker {
  constructor() {
    this.worker = new Worker(new URL('worker.js', import.meta.url), {type: 'module'});
    this.pending = new Map();
    this.next = 0;
    this.worker.onmessage = ({data: {id, result, error}}) => {
      const {resolve, reject} = this.pending.get(id);
      this.pending.delete(id);
      if (error) reject(new Error(error));
      else resolve(result);
    };
    this.worker.onerror = (event) => {
      const error = new Error(event.message || 'the analysis worker failed to start');
      for (const {reject} of this.pending.values()) reject(error);
      this.pending.clear();
    };
  }

  call(kind, args = {}, transfer = []) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject});
      this.worker.postMessage({id, kind, args}, transfer);
    });
  }
}

// ?workers=0: the same handlers, called on the page's main thread (no worker at all).
class MainThreadAnalysis {
  constructor() {
    this.handlers = import('./worker.js').then((module) => module.handlers);
  }

  async call(kind, args = {}) {
    return (await this.handlers)[kind](args);
  }
}

// One worker already frees the main thread (it grabs and draws while the worker analyses the next frame). A second
// one needs cores to spare: on the busy 2-core machine of benchmarks/web.py it was no faster (mixed with 1 face,
// slower with 4), so it is used from 4 cores on (not measured there); ?workers=N overrides, and ?workers=0 runs the
// pipeline on the main thread.
function workerCount() {
  const asked = params.has('workers') ? Number(params.get('workers')) : NaN;
  if (Number.isInteger(asked) && asked >= 0) return asked;
  return (navigator.hardwareConcurrency || 1) >= 4 ? 2 : 1;
}

function analysisPool() {
  const count = workerCount();
  state.mainThread = count === 0;
  return state.mainThread ? [new MainThreadAnalysis()] : Array.from({length: count}, () => new AnalysisWorker());
}

// The live paths run a model's int8 file when config.json records it within its accuracy limit (the model card says
// so), the checked float32 export otherwise ("auto", the default); ?precision=float32 or int8 asks for one.
const precision = params.get('precision') || 'auto';

async function loadModel(name) {
  setStatus(`Loading ${name}…`);
  const threads = Number(params.get('threads')) || 1;  // frames in parallel, not threads within one frame
  const loaded = await Promise.all(state.pool.map((worker) => worker.call('load', {settings: state.settings, model: name, threads, precision})));
  state.model = loaded[0];
  state.tracker = newTracker();
  state.cam = emptyCam();
  showModelCard(state.model);
  showGradCamControls();
  drawBars(null);
}

// ---------------------------------------------------------------- Grad-CAM

// pipeline.json's grad_cam.every (fer.live.LiveSession.cam_every, the app's webcam cadence); ?cam_every=N overrides.
function camEvery() {
  const asked = Number(params.get('cam_every'));
  return Math.max(1, Number.isInteger(asked) && asked > 0 ? asked : state.settings.grad_cam.every);
}

function gradCamOn() {
  return Boolean(state.model?.classMaps) && $('gradcam').checked;
}

function showGradCamControls() {
  const supported = Boolean(state.model.classMaps), toggle = $('gradcam');
  toggle.disabled = !supported;
  $('cam-note').textContent = supported
    ? `Grad-CAM of each face's predicted class, every ${camEvery()} analyzed frames (from the same model call)`
    : 'Grad-CAM needs a global-pooling model: this one has no class maps.';
  $('cam-strip').hidden = !supported || !toggle.checked;
  Object.assign($('cam-strip'), {width: 0, height: 0});  // no tiles of the previous model
}

// Whether the frame being dispatched gets Grad-CAM (counted as due at dispatch, so two workers do not both make it).
function camDue() {
  const {cam} = state, index = cam.index++;
  if (!gradCamOn() || index - cam.last < camEvery()) return {index, due: false};
  cam.last = index;
  return {index, due: true};
}

/** The tiles (one per face: its crop under its map, colored) side by side, each captioned with its class. */
function drawStrip(cams, labels) {
  const strip = $('cam-strip'), side = cams[0].side;
  if (strip.width !== side * cams.length || strip.height !== side) Object.assign(strip, {width: side * cams.length, height: side});
  const context = strip.getContext('2d'), fontSize = Math.max(12, Math.round(side / 12));
  context.font = `${fontSize}px sans-serif`;
  context.textBaseline = 'bottom';
  cams.forEach(({tile, target}, i) => {
    context.putImageData(new ImageData(new Uint8ClampedArray(tile), side, side), i * side, 0);
    const text = `#${i + 1} ${labels[target]}`;
    context.fillStyle = 'rgba(0,0,0,0.55)';
    context.fillRect(i * side, side - fontSize - 6, context.measureText(text).width + 8, fontSize + 6);
    context.fillStyle = 'white';
    context.fillText(text, i * side + 4, side - 3);
  });
}

function newTracker() {
  const {stream} = state.settings;
  return new FaceTracker({weight: stream.ema_weight, minIoU: stream.min_iou, maxMissed: stream.max_missed});
}

function showModelCard(model) {
  const {config} = model, metrics = config.metrics || {};
  const [height, width] = config.input_shape;
  const accuracy = metrics.accuracy !== undefined
    ? `accuracy ${(100 * metrics.accuracy).toFixed(1)}% on ${metrics.dataset || 'an unnamed dataset'}, split ${metrics.split || '?'}`
    : 'no evaluation figures in its config';
  const precisionNote = model.fallback ? `${model.precision} (${precision} asked: ${model.fallback})` : model.precision;
  $('model-card').textContent = `${model.name} · ${config.architecture} · input ${width}×${height} · ` +
    `${config.labels.length} labels · TTA ${model.tta} · ${precisionNote} · ${accuracy}`;
}

// ---------------------------------------------------------------- camera

async function startCamera() {
  const {stream: settings} = state.settings;
  state.stream = await navigator.mediaDevices.getUserMedia({
    video: {width: {ideal: settings.max_side}}, audio: false,  // frames are fitted within max_side anyway
  });
  const video = $('video');
  video.srcObject = state.stream;
  await video.play();
  state.running = true;
  state.stats = emptyStats();
  state.tracker = newTracker();
  state.cam = emptyCam();
  $('camera').textContent = 'Stop camera';
  setStatus('Running in this tab. No frame leaves your device.', 'ok');
  loop(video);
}

function toggleGradCam() {
  $('cam-strip').hidden = !gradCamOn();
  state.cam.last = -Infinity;  // on again: the next frame makes a fresh one
}

function stopCamera() {
  state.running = false;
  frames.waiting?.();
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  $('camera').textContent = 'Start camera';
  setStatus('Camera off.');
}

// Camera frames are counted as they arrive; the loop takes the newest one as soon as a worker is free, and only
// waits when it has already taken the newest (so a slow frame does not also wait a camera interval).
const frames = {presented: 0, taken: 0, waiting: null};

function watchFrames(video) {
  const tick = () => {
    frames.presented += 1;
    frames.waiting?.();
    frames.waiting = null;
    if (state.running) schedule();
  };
  const schedule = () => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(tick) : requestAnimationFrame(tick));
  schedule();
}

function nextFrame() {
  if (frames.presented > frames.taken) return Promise.resolve();
  return new Promise((resolve) => { frames.waiting = resolve; });
}

// The camera frame, fitted within the app's webcam size (MAX_STREAM_SIDE), as packed RGB, and something to draw
// it from. VideoFrame.copyTo converts to RGB without a canvas round trip (about 3x faster); older browsers and
// larger cameras go through a canvas.
let copyTo = typeof VideoFrame === 'function';

async function grab(video) {
  const maxSide = state.settings.stream.max_side;
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  const width = Math.max(1, Math.round(video.videoWidth * scale)), height = Math.max(1, Math.round(video.videoHeight * scale));
  if (copyTo && scale === 1) {
    const videoFrame = new VideoFrame(video);
    try {
      const rgba = new Uint8Array(width * height * 4);
      await videoFrame.copyTo(rgba, {format: 'RGBX'});
      return {rgb: fromRGBA(rgba, width, height), source: videoFrame};
    } catch (error) {
      videoFrame.close();
      copyTo = false;  // this browser cannot convert: use a canvas from now on
    }
  }
  const canvas = document.createElement('canvas');
  Object.assign(canvas, {width, height});
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.drawImage(video, 0, 0, width, height);
  return {rgb: fromRGBA(context.getImageData(0, 0, width, height).data, width, height), source: canvas};
}

// Up to one frame per worker in flight; results are drawn in camera order. A worker that has finished gets the
// next camera frame before its result is drawn, so it does not sit idle while the main thread draws and grabs.
// The loop wakes for whichever comes first: a new camera frame for a free worker, or the oldest result.
async function loop(video) {
  watchFrames(video);
  const inFlight = [];
  try {
    while (state.running || inFlight.length) {
      const worker = state.running ? freeWorker(inFlight) : null;
      if (worker && frames.presented > frames.taken) {
        frames.taken = frames.presented;
        if (video.videoWidth) inFlight.push(await dispatch(video, worker));
        continue;
      }
      const head = inFlight[0];
      if (head?.settled) {
        inFlight.shift();
        await finish(head);
        continue;
      }
      await Promise.race([...(worker ? [nextFrame()] : []), ...(head ? [head.done.then(() => {}, () => {})] : [])]);
    }
  } catch (error) {
    stopCamera();
    setStatus(`Analysis stopped: ${error.message}`, 'error');
    inFlight.forEach((job) => job.source.close?.());
  }
}

function freeWorker(inFlight) {
  return state.pool.find((worker) => !inFlight.some((job) => job.worker === worker && !job.settled)) || null;
}

async function dispatch(video, worker) {
  const start = performance.now(), {rgb, source} = await grab(video), grabbed = performance.now() - start;
  const {index, due} = camDue();
  const job = {worker, source, model: state.model, width: rgb.width, height: rgb.height, grabbed, settled: false, index, cam: due};
  job.done = worker.call('analyze', {data: rgb.data.buffer, width: rgb.width, height: rgb.height, cam: due}, [rgb.data.buffer]);
  job.done.then(() => { job.settled = true; }, () => { job.settled = true; });
  return job;
}

async function finish(job) {
  try {
    const result = await job.done;
    if (state.running && job.model === state.model) show(job, result);  // a model picked meanwhile: skip
  } finally {
    job.source.close?.();  // a VideoFrame holds camera memory until closed
  }
}

function show(job, result) {
  const start = performance.now();
  const tracks = state.tracker.update(result.faces.map((f) => f.box), result.faces.map((f) => f.probabilities));
  draw(job.source, job.width, job.height, result, tracks);
  Object.assign(result.timings, {grab: job.grabbed, draw: performance.now() - start});
  if (job.cam && !result.cams?.length && state.cam.last === job.index) state.cam.last = -Infinity;  // no face: retry
  if (result.cams?.length && gradCamOn()) {
    const drawing = performance.now();
    drawStrip(result.cams, state.model.labels);
    result.timings.cam += performance.now() - drawing;  // the worker's maps and tiles, and drawing them here
    state.stats.camMs = result.timings.cam;
    state.stats.cams += 1;
  }
  count(result);
}

// ---------------------------------------------------------------- drawing

function count(result) {
  const {stats} = state, now = performance.now();
  stats.frames += 1;
  stats.faces = result.faces.length;
  stats.timings = result.timings;
  stats.times.push(now);
  if (stats.times.length > 30) stats.times.shift();
  if (stats.times.length > 1) stats.fps = (stats.times.length - 1) / ((now - stats.times[0]) / 1000);
  const t = result.timings;
  // Grad-CAM's cost: this frame's when it made one, else the last one's (it is made every camEvery() frames).
  const cam = !gradCamOn() || stats.camMs === null ? ''
    : ` · Grad-CAM ${stats.camMs.toFixed(0)} ms${t.cam === undefined ? ` (every ${camEvery()} frames)` : ''}`;
  $('fps').textContent = `${stats.fps.toFixed(1)} fps · ${stats.faces} face${stats.faces === 1 ? '' : 's'} · ` +
    `detect ${t.detect.toFixed(0)} ms · crop ${t.crop.toFixed(0)} ms · classify ${t.classify.toFixed(0)} ms${cam} · ` +
    runtimeNote();
}

function runtimeNote() {
  const threads = state.model?.threads || 1, workers = state.pool.length;
  const where = state.mainThread ? 'main thread' : `${workers} worker${workers === 1 ? '' : 's'}`;
  return `WASM ${state.model?.precision}, ${where} × ${threads} thread${threads === 1 ? '' : 's'}`;
}

function labelText(index, label, score) {
  return `#${index + 1} ${label} ${Math.round(score * 100)}%`;
}

function draw(source, width, height, result, tracks) {
  const canvas = $('view'), mirror = $('mirror').checked;
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, {width, height});
  const context = canvas.getContext('2d'), labels = state.model.labels, palette = state.settings.palette;
  context.save();
  if (mirror) context.setTransform(-1, 0, 0, 1, canvas.width, 0);
  context.drawImage(source, 0, 0, width, height);
  context.restore();
  const thickness = Math.max(1, Math.round(Math.max(width, height) / 400));
  const fontSize = Math.max(12, Math.round(Math.max(width, height) / 40));
  context.font = `${fontSize}px sans-serif`;
  context.textBaseline = 'top';
  result.faces.forEach((face, i) => {
    const color = `rgb(${palette[i % palette.length].join(',')})`, {box} = face;
    const x = mirror ? width - box.x - box.width : box.x;
    context.strokeStyle = context.fillStyle = color;
    context.lineWidth = thickness;
    context.strokeRect(x, box.y, box.width, box.height);
    for (const [lx, ly] of face.landmarks) {
      context.beginPath();
      context.arc(mirror ? width - lx : lx, ly, thickness + 1, 0, 2 * Math.PI);
      context.fill();
    }
    const probabilities = tracks[i].probabilities, best = argmax(probabilities);
    const text = labelText(i, labels[best], probabilities[best]);
    const textWidth = context.measureText(text).width + 2 * thickness, textHeight = fontSize + 2 * thickness;
    const top = box.y - textHeight >= 0 ? box.y - textHeight : box.y;
    context.fillRect(x, top, textWidth, textHeight);
    context.fillStyle = 'rgb(20,20,20)';
    context.fillText(text, x + thickness, top + thickness);
  });
  const main = tracks.length ? tracks.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a)) : null;
  drawBars(main, main ? tracks.indexOf(main) : null);
}

function drawBars(track, index = null) {
  const labels = state.model.labels, bars = $('bars');
  $('bars-title').textContent = track ? `Face #${index + 1} (smoothed)` : 'No face in view';
  if (bars.children.length !== labels.length) {
    bars.replaceChildren(...labels.map((label) => {
      const row = document.createElement('div');
      row.className = 'bar';
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
      row.querySelector('.name').textContent = label;
      return row;
    }));
  }
  labels.forEach((label, k) => {
    const p = track ? track.probabilities[k] : 0, row = bars.children[k];
    row.querySelector('.fill').style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector('.value').textContent = track ? `${(100 * p).toFixed(0)}%` : '';
  });
}

// ---------------------------------------------------------------- hooks for tests and benchmarks

// tests/e2e/test_web.py and benchmarks/web.py call these; like the camera loop they work offline.
function base64ToBuffer(text) {
  const binary = atob(text), bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

window.ferPrivate = {
  /** Analyze one packed RGB image (base64) exactly as a camera frame (no smoothing), with the model inputs; with
   * {cam: true} also each face's Grad-CAM as on a frame where it is due (cams: [{target, map}], map frameShape). */
  async analyzeRGB(base64, width, height, {cam = false} = {}) {
    const result = await state.pool[0].call('analyze', {data: base64ToBuffer(base64), width, height, inputs: true, cam});
    const cams = result.cams?.map(({target, map}) => ({target, map: Array.from(map)}));
    return {labels: state.model.labels, ...result, cams};
  },
  /** The model input the page makes from one given face ({box, landmarks}) of a packed RGB image (base64). */
  prepareFace(base64, width, height, face) {
    return state.pool[0].call('prepareFace', {data: base64ToBuffer(base64), width, height, face});
  },
  /** The expression model alone on `count` packed frames (base64, model.frameShape each): {logits, probabilities}
   * averaged over the views of `tta` (default: the webcam's mode). */
  classifyFrames(base64, count, tta = null) {
    return state.pool[0].call('classify', {data: base64ToBuffer(base64), count, tta});
  },
  /** The camera path's Grad-CAM on `count` packed frames (base64, model.frameShape each): {classes, maps}, each
   * frame's predicted class (from the views of `tta`, default: the webcam's mode) and its map (frameShape, flat). */
  gradCamFrames(base64, count, tta = null) {
    return state.pool[0].call('gradCam', {data: base64ToBuffer(base64), count, tta});
  },
  /** What the page runs: model name, file, precision (and why not the one asked), TTA, frame shape, class maps. */
  get model() {
    const {name, file, precision, fallback, tta, frameShape, classMaps} = state.model || {};
    return {name, file, precision, fallback, tta, frameShape, classMaps};
  },
  /** workers: 0 when the pipeline runs on the main thread (?workers=0). gradCam: on, off or unsupported; camMs:
   * the last Grad-CAM's cost (ms) and cams how many strips were drawn. */
  stats() {
    const {stats} = state;
    const gradCam = !state.model?.classMaps ? 'unsupported' : gradCamOn() ? 'on' : 'off';
    return {frames: stats.frames, fps: stats.fps, faces: stats.faces, timings: stats.timings, running: state.running,
            workers: state.mainThread ? 0 : state.pool.length, threads: state.model?.threads || 1,
            precision: state.model?.precision, gradCam, camMs: stats.camMs, cams: stats.cams, crossOriginIsolated};
  },
  get settings() {
    return state.settings;
  },
};

// ---------------------------------------------------------------- start

async function main() {
  try {
    const response = await fetch('models/pipeline.json');
    if (!response.ok) throw new Error('models/pipeline.json is missing: run `make web` (or `python -m web.prepare`) first');
    state.settings = await response.json();
    state.pool = analysisPool();
    const picker = $('model');
    picker.replaceChildren(...state.settings.models.map((m) => new Option(m.name, m.name)));
    picker.value = params.get('model') || state.settings.default_model;
    await loadModel(picker.value);
    picker.addEventListener('change', () => loadModel(picker.value).then(
      () => setStatus(state.running ? 'Running in this tab. No frame leaves your device.' : 'Ready.', 'ok'),
      (error) => setStatus(error.message, 'error')));
    $('gradcam').addEventListener('change', toggleGradCam);
    $('camera').disabled = false;
    $('camera').addEventListener('click', () => (state.running ? stopCamera() : startCamera().catch((error) => {
      setStatus(`Cannot open the camera: ${error.message}`, 'error');
    })));
    setStatus('Ready. Start the camera: frames are analyzed in this tab and never sent anywhere.', 'ok');
    document.body.dataset.ready = 'true';
  } catch (error) {
    setStatus(error.message, 'error');
    document.body.dataset.ready = 'error';
  }
}

main();
