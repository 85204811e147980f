// Pixel operations of the Python pipeline, written to give OpenCV's exact uint8 results.
//
// fer.faces and fer.model.preprocessing call cv2.resize (INTER_AREA / INTER_LINEAR), cv2.copyMakeBorder,
// cv2.warpAffine (INTER_LINEAR, BORDER_REPLICATE) and cv2.cvtColor (RGB2GRAY). The browser has no OpenCV,
// and a canvas resize or rotation rounds differently, so each is re-implemented here after OpenCV 4.x's
// own arithmetic (fixed-point where OpenCV uses fixed point, float32 where it uses floats): the page then
// feeds the networks the same pixels the Python Recognizer does (checked by tests/e2e/test_web.py).
//
// An image is {data: Uint8Array, width, height, channels}, rows packed without padding.

export function image(width, height, channels, data = null) {
  return {data: data || new Uint8Array(width * height * channels), width, height, channels};
}

/** RGBA ImageData (a canvas) -> packed RGB. */
export function fromRGBA(rgba, width, height) {
  const out = new Uint8Array(width * height * 3);
  const pixels = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);  // little-endian: R is the low byte
  for (let i = 0, j = 0; i < pixels.length; i++, j += 3) {
    const p = pixels[i];
    out[j] = p & 255; out[j + 1] = (p >> 8) & 255; out[j + 2] = (p >> 16) & 255;
  }
  return image(width, height, 3, out);
}

// cvRound: round half to even (lrint in the default rounding mode).
function roundEven(value) {
  const floor = Math.floor(value), diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

const saturate = (value) => (value < 0 ? 0 : value > 255 ? 255 : value);
const f32 = Math.fround;

/** cv2.cvtColor(RGB2GRAY) for uint8: fixed point, 14 bits, as OpenCV's RGB2Gray<uchar>. */
export function toGrey(src) {
  if (src.channels === 1) return src;
  const {width, height, data} = src, out = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < out.length; i++, j += 3) {
    out[i] = (data[j] * 9798 + data[j + 1] * 19235 + data[j + 2] * 3735 + 16384) >> 15;
  }
  return image(width, height, 1, out);
}

/** cv2.copyMakeBorder(BORDER_CONSTANT, 0). */
export function padConstant(src, top, bottom, left, right) {
  const {width, height, channels} = src;
  const out = image(width + left + right, height + top + bottom, channels);
  const rowBytes = width * channels, outRow = out.width * channels;
  for (let y = 0; y < height; y++) {
    out.data.set(src.data.subarray(y * rowBytes, (y + 1) * rowBytes), (y + top) * outRow + left * channels);
  }
  return out;
}

// OpenCV's computeResizeAreaTab: which source pixel (si) adds what share (alpha) to which output pixel (di).
function areaTable(sourceSize, targetSize, scale) {
  const di = [], si = [], alpha = [];
  const add = (d, s, a) => { di.push(d); si.push(s); alpha.push(a); };
  for (let d = 0; d < targetSize; d++) {
    const fs1 = d * scale, fs2 = fs1 + scale;
    const cellWidth = Math.min(scale, sourceSize - fs1);
    let s1 = Math.ceil(fs1), s2 = Math.floor(fs2);
    s2 = Math.min(s2, sourceSize - 1);
    s1 = Math.min(s1, s2);
    if (s1 - fs1 > 1e-3) add(d, s1 - 1, (s1 - fs1) / cellWidth);
    for (let s = s1; s < s2; s++) add(d, s, 1.0 / cellWidth);
    if (fs2 - s2 > 1e-3) add(d, s2, Math.min(Math.min(fs2 - s2, 1.0), cellWidth) / cellWidth);
  }
  return {di: Int32Array.from(di), si: Int32Array.from(si), alpha: Float32Array.from(alpha), length: di.length};
}

const areaTables = new Map();  // the same frame size every camera frame: the tables are built once

function cachedAreaTable(sourceSize, targetSize, scale) {
  const key = `${sourceSize}:${targetSize}:${scale}`;
  if (!areaTables.has(key)) {
    if (areaTables.size > 64) areaTables.clear();
    areaTables.set(key, areaTable(sourceSize, targetSize, scale));
  }
  return areaTables.get(key);
}

/** cv2.resize(INTER_AREA) when shrinking: OpenCV's area averaging in float32 (integer factors: its fast path). */
export function resizeArea(src, width, height) {
  const {channels: cn, data} = src;
  const scaleX = 1 / (width / src.width), scaleY = 1 / (height / src.height);
  const intX = Math.round(scaleX), intY = Math.round(scaleY);
  if (Math.abs(scaleX - intX) < 2.220446049250313e-16 && Math.abs(scaleY - intY) < 2.220446049250313e-16) {
    return resizeAreaFast(src, width, height, intX, intY);
  }
  const xtab = cachedAreaTable(src.width, width, scaleX), ytab = cachedAreaTable(src.height, height, scaleY);
  const out = image(width, height, cn), rowLength = width * cn, sourceRow = src.width * cn;
  const buffer = new Float32Array(rowLength), sum = new Float32Array(rowLength);
  const {di, si, alpha, length} = xtab;
  let previous = ytab.length ? ytab.di[0] : 0;
  const store = (dy) => {
    for (let i = 0, o = dy * rowLength; i < rowLength; i++) out.data[o + i] = saturate(roundEven(sum[i]));
  };
  // Every product and sum is rounded to float32 (Math.fround), as OpenCV computes them in float. A source row
  // that straddles two output rows gives the same horizontal sums twice: they are computed once.
  let bufferRow = -1;
  for (let j = 0; j < ytab.length; j++) {
    const dy = ytab.di[j], beta = ytab.alpha[j], row = ytab.si[j] * sourceRow;
    if (ytab.si[j] !== bufferRow) {
      bufferRow = ytab.si[j];
      buffer.fill(0);
      if (cn === 3) {
        for (let k = 0; k < length; k++) {
          const d = di[k] * 3, s = row + si[k] * 3, a = alpha[k];
          buffer[d] = f32(buffer[d] + f32(data[s] * a));
          buffer[d + 1] = f32(buffer[d + 1] + f32(data[s + 1] * a));
          buffer[d + 2] = f32(buffer[d + 2] + f32(data[s + 2] * a));
        }
      } else {
        for (let k = 0; k < length; k++) {
          for (let c = 0; c < cn; c++) {
            const d = di[k] * cn + c;
            buffer[d] = f32(buffer[d] + f32(data[row + si[k] * cn + c] * alpha[k]));
          }
        }
      }
    }
    if (dy !== previous) {
      store(previous);
      for (let i = 0; i < rowLength; i++) sum[i] = f32(beta * buffer[i]);
      previous = dy;
    } else {
      for (let i = 0; i < rowLength; i++) sum[i] = f32(sum[i] + f32(beta * buffer[i]));
    }
  }
  store(previous);
  return out;
}

function resizeAreaFast(src, width, height, factorX, factorY) {
  const {channels: cn} = src, out = image(width, height, cn);
  const area = factorX * factorY, scale = f32(1 / area);
  const halves = factorX === 2 && factorY === 2 && (cn === 1 || cn === 3 || cn === 4);
  for (let dy = 0; dy < height; dy++) {
    for (let dx = 0; dx < width; dx++) {
      for (let c = 0; c < cn; c++) {
        let total = 0, count = 0;
        for (let y = dy * factorY; y < Math.min((dy + 1) * factorY, src.height); y++) {
          for (let x = dx * factorX; x < Math.min((dx + 1) * factorX, src.width); x++) {
            total += src.data[(y * src.width + x) * cn + c];
            count++;
          }
        }
        if (halves && count === 4) {  // OpenCV's ResizeAreaFastVec: integer rounding, half up
          out.data[(dy * width + dx) * cn + c] = (total + 2) >> 2;
          continue;
        }
        const value = count === area ? f32(total * scale) : f32(total / count);
        out.data[(dy * width + dx) * cn + c] = saturate(roundEven(value));
      }
    }
  }
  return out;
}

// INTER_LINEAR coefficients for one axis in OpenCV's fixed point (11 bits). Columns past an edge take the
// edge pixel whole; rows keep their weights and read the clamped row (as OpenCV does).
function linearTable(sourceSize, targetSize, clampWeights) {
  const scale = sourceSize / targetSize, offsets = new Int32Array(targetSize), weights = new Int32Array(targetSize * 2);
  for (let d = 0; d < targetSize; d++) {
    let f = f32((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = f32(f - s);
    if (clampWeights && s < 0) { f = 0; s = 0; }
    if (clampWeights && s >= sourceSize - 1) { f = 0; s = sourceSize - 1; }
    offsets[d] = s;
    weights[d * 2] = roundEven(f32(1 - f) * 2048);
    weights[d * 2 + 1] = roundEven(f * 2048);
  }
  return {offsets, weights};
}

/** cv2.resize(INTER_LINEAR) for uint8 (enlarging a face, shrinking a frame for detection): OpenCV's 11-bit
 * fixed point; to exactly half size in both directions OpenCV runs INTER_AREA's 2x2 average instead. */
export function resizeLinear(src, width, height) {
  if (src.width === 2 * width && src.height === 2 * height) return resizeAreaFast(src, width, height, 2, 2);
  const {channels: cn} = src, out = image(width, height, cn);
  const xt = linearTable(src.width, width, true), yt = linearTable(src.height, height, false);
  const rowLength = width * cn;
  const horizontal = (sy) => {
    const row = new Int32Array(rowLength), base = sy * src.width * cn;
    for (let dx = 0; dx < width; dx++) {
      const sx = xt.offsets[dx], a0 = xt.weights[dx * 2], a1 = xt.weights[dx * 2 + 1];
      const next = Math.min(sx + 1, src.width - 1);
      for (let c = 0; c < cn; c++) {
        row[dx * cn + c] = src.data[base + sx * cn + c] * a0 + src.data[base + next * cn + c] * a1;
      }
    }
    return row;
  };
  for (let dy = 0; dy < height; dy++) {
    const clamp = (row) => Math.max(0, Math.min(row, src.height - 1));
    const r0 = horizontal(clamp(yt.offsets[dy])), r1 = horizontal(clamp(yt.offsets[dy] + 1)), b0 = yt.weights[dy * 2], b1 = yt.weights[dy * 2 + 1];
    for (let i = 0; i < rowLength; i++) {
      // OpenCV's SIMD vertical pass (VResizeLinearVec_32s8u): 16-bit high products, then >> 2 with rounding.
      const x0 = r0[i] >> 4, x1 = r1[i] >> 4;
      const value = (((x0 * b0) >> 16) + ((x1 * b1) >> 16) + 2) >> 2;
      out.data[dy * rowLength + i] = saturate(value);
    }
  }
  return out;
}

/** cv2.getRotationMatrix2D((cx, cy), angle, scale) as [a, b, c, d, e, f] (x' = a x + b y + c). */
export function rotationMatrix(centerX, centerY, angleDegrees, scale = 1) {
  const angle = angleDegrees * Math.PI / 180;
  const alpha = Math.cos(angle) * scale, beta = Math.sin(angle) * scale;
  return [alpha, beta, (1 - alpha) * centerX - beta * centerY, -beta, alpha, beta * centerX + (1 - alpha) * centerY];
}

/** cv2.warpAffine(src, M, (width, height), INTER_LINEAR, BORDER_REPLICATE) for uint8: OpenCV's fixed point
 * (source positions in 1/32 pixel from a 10-bit affine step, 15-bit bilinear weights). */
export function warpAffine(src, matrix, width, height) {
  // OpenCV inverts M (double precision), then maps every output pixel back into the source.
  let [m0, m1, m2, m3, m4, m5] = matrix;
  let det = m0 * m4 - m1 * m3;
  det = det !== 0 ? 1 / det : 0;
  const a11 = m4 * det, a22 = m0 * det;
  m0 = a11; m1 *= -det; m3 *= -det; m4 = a22;
  const b1 = -m0 * m2 - m1 * m5, b2 = -m3 * m2 - m4 * m5;
  m2 = b1; m5 = b2;
  const {channels: cn, width: sw, height: sh, data} = src;
  const out = image(width, height, cn);
  const deltaX = new Int32Array(width), deltaY = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    deltaX[x] = roundEven(m0 * x * 1024);
    deltaY[x] = roundEven(m3 * x * 1024);
  }
  const clampX = (x) => (x < 0 ? 0 : x >= sw ? sw - 1 : x), clampY = (y) => (y < 0 ? 0 : y >= sh ? sh - 1 : y);
  let o = 0;
  for (let y = 0; y < height; y++) {
    const rowX = roundEven((m1 * y + m2) * 1024) + 16, rowY = roundEven((m4 * y + m5) * 1024) + 16;
    for (let x = 0; x < width; x++) {
      const X = (rowX + deltaX[x]) >> 5, Y = (rowY + deltaY[x]) >> 5;
      const ix = X >> 5, iy = Y >> 5, fx = X & 31, fy = Y & 31;
      // (1 - fx/32)(1 - fy/32) * 32768 etc.: exact integers, summing to 32768.
      const w00 = (32 - fx) * (32 - fy) * 32, w01 = fx * (32 - fy) * 32, w10 = (32 - fx) * fy * 32, w11 = fx * fy * 32;
      const x0 = clampX(ix), x1 = clampX(ix + 1), r0 = clampY(iy) * sw, r1 = clampY(iy + 1) * sw;
      for (let c = 0; c < cn; c++) {
        const sum = data[(r0 + x0) * cn + c] * w00 + data[(r0 + x1) * cn + c] * w01 +
                    data[(r1 + x0) * cn + c] * w10 + data[(r1 + x1) * cn + c] * w11;
        out.data[o++] = saturate((sum + 16384) >> 15);
      }
    }
  }
  return out;
}
