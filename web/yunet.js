// YuNet in the browser: the input tensor and the decoding that OpenCV's cv::FaceDetectorYN does around the
// network (objdetect/src/face_detect.cpp): pad to a multiple of 32, scores sqrt(cls * obj), boxes and five
// landmarks from the stride-8/16/32 grids, then NMS on integer boxes as cv::dnn::NMSBoxes.

export const STRIDES = [8, 16, 32];
const DIVISOR = 32;

/** The padded size the network runs at for an input of width x height. */
export function paddedSize(width, height) {
  return [Math.floor((width - 1) / DIVISOR + 1) * DIVISOR, Math.floor((height - 1) / DIVISOR + 1) * DIVISOR];
}

/** RGB image -> float32 [1, 3, H32, W32] in BGR plane order, 0..255, zero-padded right and bottom. */
export function inputTensor(rgb) {
  const {width, height, data} = rgb;
  const [padW, padH] = paddedSize(width, height);
  const plane = padW * padH, tensor = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3, d = y * padW + x;
      tensor[d] = data[s + 2];
      tensor[plane + d] = data[s + 1];
      tensor[2 * plane + d] = data[s];
    }
  }
  return {tensor, dims: [1, 3, padH, padW]};
}

const clamp01 = (v) => Math.min(Math.max(v, 0), 1);
const f32 = Math.fround;

/**
 * outputs: {cls_8: Float32Array, obj_8, bbox_8, kps_8, ...} for an input of padW x padH.
 * Returns faces [{x, y, width, height, landmarks: [[x, y] x5], score}] in the padded input's pixels (floats),
 * in NMS order (highest score first), like the rows of FaceDetectorYN.detect().
 */
export function decode(outputs, padW, padH, {scoreThreshold, nmsThreshold, topK}) {
  const faces = [];
  for (const stride of STRIDES) {
    const cols = Math.floor(padW / stride), rows = Math.floor(padH / stride);
    const cls = outputs[`cls_${stride}`], obj = outputs[`obj_${stride}`];
    const bbox = outputs[`bbox_${stride}`], kps = outputs[`kps_${stride}`];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const score = f32(Math.sqrt(f32(clamp01(cls[i]) * clamp01(obj[i]))));
        if (score < scoreThreshold) continue;
        const cx = f32((c + bbox[i * 4]) * stride), cy = f32((r + bbox[i * 4 + 1]) * stride);
        const w = f32(Math.exp(bbox[i * 4 + 2]) * stride), h = f32(Math.exp(bbox[i * 4 + 3]) * stride);
        const landmarks = [];
        for (let n = 0; n < 5; n++) {
          landmarks.push([f32((kps[i * 10 + 2 * n] + c) * stride), f32((kps[i * 10 + 2 * n + 1] + r) * stride)]);
        }
        faces.push({x: f32(cx - w / 2), y: f32(cy - h / 2), width: w, height: h, landmarks, score});
      }
    }
  }
  if (faces.length <= 1) return faces;
  return nms(faces, scoreThreshold, nmsThreshold, topK);
}

// cv::dnn::NMSBoxes on Rect2i(int(x), int(y), int(w), int(h)): scores above the threshold, stable-sorted
// high to low, the first topK, each kept unless it overlaps a kept box by more than nmsThreshold (IoU).
function nms(faces, scoreThreshold, nmsThreshold, topK) {
  const rects = faces.map((f) => [Math.trunc(f.x), Math.trunc(f.y), Math.trunc(f.width), Math.trunc(f.height)]);
  let order = faces.map((f, i) => i).filter((i) => faces[i].score > scoreThreshold);
  order.sort((a, b) => faces[b].score - faces[a].score || a - b);
  if (topK > 0 && topK < order.length) order = order.slice(0, topK);
  const kept = [];
  for (const i of order) {
    if (kept.every((k) => iou(rects[i], rects[k]) <= nmsThreshold)) kept.push(i);
  }
  return kept.map((i) => faces[i]);
}

function iou([ax, ay, aw, ah], [bx, by, bw, bh]) {
  const w = Math.min(ax + aw, bx + bw) - Math.max(ax, bx), h = Math.min(ay + ah, by + bh) - Math.max(ay, by);
  const inter = w > 0 && h > 0 ? w * h : 0;
  const union = aw * ah + bw * bh - inter;
  return union > 0 ? inter / union : 0;
}
