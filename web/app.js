// Private mode: the webcam page. Everything below runs in this tab; no frame, crop or result is sent anywhere.
// After the models are loaded (the only requests the page makes), it keeps working with the network off.

import {fromRGBA, image} from './imaging.js';
import {ExpressionModel, Recognizer, YuNetDetector, faceCrop, preprocessFace} from './pipeline.js';
import {FaceTracker} from './tracking.js';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const state = {recognizer: null, settings: null, tracker: null, running: false, stream: null, stats: emptyStats()};

function emptyStats() {
  return {frames: 0, times: [], faces: 0, timings: null, fps: 0};
}

function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = kind;
}

async function loadRuntime() {
  try {
    return await import('./runtime/ort.wasm.min.mjs');
  } catch (error) {
    throw new Error('ONNX Runtime Web is not in runtime/: run `make web` (or `python -m web.prepare`) first');
  }
}

async function loadModel(ort, name) {
  const {settings} = state, entry = settings.models.find((m) => m.name === name) || settings.models[0];
  setStatus(`Loading ${entry.name}…`);
  const options = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
  const [detector, model] = await Promise.all([
    state.recognizer?.detector || YuNetDetector.load(ort, `models/${settings.detector.file}`, settings.detector, options),
    ExpressionModel.load(ort, `models/${entry.folder}`, settings.stream.tta, options),
  ]);
  state.recognizer = new Recognizer(detector, model, settings);
  state.tracker = newTracker();
  // One blank frame through both networks, so the first camera frame does not pay for their set-up.
  await state.recognizer.analyze(image(64, 48, 3));
  await model.predict([image(model.frameShape[1], model.frameShape[0], model.frameShape[2])]);
  showModelCard(entry, model);
  drawBars(null);
}

function newTracker() {
  const {stream} = state.settings;
  return new FaceTracker({weight: stream.ema_weight, minIoU: stream.min_iou, maxMissed: stream.max_missed});
}

function showModelCard(entry, model) {
  const {config} = model, metrics = config.metrics || {};
  const [height, width] = config.input_shape;
  const accuracy = metrics.accuracy !== undefined
    ? `accuracy ${(100 * metrics.accuracy).toFixed(1)}% on ${metrics.dataset || 'an unnamed dataset'}, split ${metrics.split || '?'}`
    : 'no evaluation figures in its config';
  $('model-card').textContent = `${entry.name} · ${config.architecture} · input ${width}×${height} · ` +
    `${config.labels.length} labels · TTA ${model.tta} · ${accuracy}`;
}

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
  $('camera').textContent = 'Stop camera';
  setStatus('Running in this tab. No frame leaves your device.', 'ok');
  loop();
}

function stopCamera() {
  state.running = false;
  frames.waiting?.();
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  $('camera').textContent = 'Start camera';
  setStatus('Camera off.');
}

// Camera frames are counted as they arrive; the loop takes the newest one as soon as it is free, and only
// waits when it has already analysed the newest (so a slow frame does not also wait a camera interval).
const frames = {presented: 0, analysed: 0, waiting: null};

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
  if (frames.presented > frames.analysed) return Promise.resolve();
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
      copyTo = false;  // this browser cannot convert: use the canvas from now on
    }
  }
  const canvas = $('frame');
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, {width, height});
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.drawImage(video, 0, 0, width, height);
  return {rgb: fromRGBA(context.getImageData(0, 0, width, height).data, width, height), source: canvas};
}

async function loop() {
  const video = $('video');
  watchFrames(video);
  try {
    while (state.running) {
      await nextFrame();
      frames.analysed = frames.presented;
      if (!state.running || !video.videoWidth) continue;
      await step(video);
    }
  } catch (error) {
    stopCamera();
    setStatus(`Analysis stopped: ${error.message}`, 'error');
  }
}

async function step(video) {
  const {recognizer, tracker} = state;  // a model picked meanwhile takes over from the next frame
  const start = performance.now();
  const {rgb, source} = await grab(video);
  try {
    const grabbed = performance.now();
    const result = await recognizer.analyze(rgb);
    if (recognizer !== state.recognizer) return;
    const analysed = performance.now();
    const tracks = tracker.update(result.faces.map((f) => f.box), result.faces.map((f) => f.probabilities));
    draw(source, rgb.width, rgb.height, result, tracks);
    Object.assign(result.timings, {grab: grabbed - start, draw: performance.now() - analysed});
    count(result);
  } finally {
    source.close?.();  // a VideoFrame holds camera memory until closed
  }
}

function count(result) {
  const {stats} = state, now = performance.now();
  stats.frames += 1;
  stats.faces = result.faces.length;
  stats.timings = result.timings;
  stats.times.push(now);
  if (stats.times.length > 30) stats.times.shift();
  if (stats.times.length > 1) stats.fps = (stats.times.length - 1) / ((now - stats.times[0]) / 1000);
  const t = result.timings;
  $('fps').textContent = `${stats.fps.toFixed(1)} fps · ${stats.faces} face${stats.faces === 1 ? '' : 's'} · ` +
    `detect ${t.detect.toFixed(0)} ms · crop ${t.crop.toFixed(0)} ms · classify ${t.classify.toFixed(0)} ms · ${runtimeNote()}`;
}

function runtimeNote() {
  const wasm = state.ort?.env.wasm || {};
  const threads = wasm.numThreads || 1;
  return `WASM, ${threads} thread${threads === 1 ? '' : 's'}${crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
}

function labelText(index, label, score) {
  return `#${index + 1} ${label} ${Math.round(score * 100)}%`;
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function draw(source, width, height, result, tracks) {
  const canvas = $('view'), mirror = $('mirror').checked;
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, {width, height});
  const context = canvas.getContext('2d'), labels = state.recognizer.labels, palette = state.settings.palette;
  context.save();
  if (mirror) context.setTransform(-1, 0, 0, 1, canvas.width, 0);
  context.drawImage(source, 0, 0, width, height);
  context.restore();
  const thickness = Math.max(1, Math.round(Math.max(canvas.width, canvas.height) / 400));
  const fontSize = Math.max(12, Math.round(Math.max(canvas.width, canvas.height) / 40));
  context.font = `${fontSize}px sans-serif`;
  context.textBaseline = 'top';
  result.faces.forEach((face, i) => {
    const colour = `rgb(${palette[i % palette.length].join(',')})`, {box} = face;
    const x = mirror ? canvas.width - box.x - box.width : box.x;
    context.strokeStyle = context.fillStyle = colour;
    context.lineWidth = thickness;
    context.strokeRect(x, box.y, box.width, box.height);
    for (const [lx, ly] of face.landmarks) {
      context.beginPath();
      context.arc(mirror ? canvas.width - lx : lx, ly, thickness + 1, 0, 2 * Math.PI);
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
  const labels = state.recognizer.labels, bars = $('bars');
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

// Hooks for the tests and benchmarks (tests/test_web.py, benchmarks/web.py); they work offline too.
function base64ToBytes(text) {
  const binary = atob(text), bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

window.ferPrivate = {
  /** Analyse one packed RGB image (base64) exactly as a camera frame, without smoothing. */
  async analyzeRGB(base64, width, height) {
    const result = await state.recognizer.analyze(image(width, height, 3, base64ToBytes(base64)));
    return {
      labels: state.recognizer.labels, found: result.found, timings: result.timings,
      faces: result.faces.map((f) => ({box: f.box, landmarks: f.landmarks, score: f.score, probabilities: Array.from(f.probabilities)})),
      inputs: result.inputs.map((input) => Array.from(input.data)),
    };
  },
  /** The model input the page makes from one given face ({box, landmarks}) of a packed RGB image (base64). */
  prepareFace(base64, width, height, face) {
    const {model, settings} = state.recognizer;
    const crop = faceCrop(image(width, height, 3, base64ToBytes(base64)), face, model.config.face_margin ?? 0, settings.align);
    return Array.from(preprocessFace(crop, model.frameShape).data);
  },
  stats() {
    const {stats} = state;
    return {frames: stats.frames, fps: stats.fps, faces: stats.faces, timings: stats.timings, running: state.running,
            threads: state.ort?.env.wasm.numThreads || 1, crossOriginIsolated};
  },
  get settings() {
    return state.settings;
  },
};

async function main() {
  try {
    const [ort, settings] = await Promise.all([loadRuntime(), fetch('models/pipeline.json').then((r) => {
      if (!r.ok) throw new Error('models/pipeline.json is missing: run `make web` (or `python -m web.prepare`) first');
      return r.json();
    })]);
    state.ort = ort;
    state.settings = settings;
    const threads = Number(params.get('threads'));
    if (threads > 0) ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmPaths = new URL('runtime/', location.href).href;
    const picker = $('model');
    picker.replaceChildren(...settings.models.map((m) => new Option(m.name, m.name)));
    picker.value = params.get('model') || settings.default_model;
    await loadModel(ort, picker.value);
    picker.addEventListener('change', () => loadModel(ort, picker.value).then(
      () => setStatus(state.running ? 'Running in this tab. No frame leaves your device.' : 'Ready.', 'ok'),
      (error) => setStatus(error.message, 'error')));
    $('camera').disabled = false;
    $('camera').addEventListener('click', () => (state.running ? stopCamera() : startCamera().catch((error) => {
      setStatus(`Cannot open the camera: ${error.message}`, 'error');
    })));
    setStatus('Ready. Start the camera: frames are analysed in this tab and never sent anywhere.', 'ok');
    document.body.dataset.ready = 'true';
  } catch (error) {
    setStatus(error.message, 'error');
    document.body.dataset.ready = 'error';
  }
}

main();
