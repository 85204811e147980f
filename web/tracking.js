// fer.live.FaceTracker in the page: greedy box-overlap matching of each frame's faces to tracks, and an
// exponential moving average of their probabilities (weight: the newest frame's share).

export function boxIoU(a, b) {
  const left = Math.max(a.x, b.x), top = Math.max(a.y, b.y);
  const right = Math.min(a.x + a.width, b.x + b.width), bottom = Math.min(a.y + a.height, b.y + b.height);
  const intersection = Math.max(0, right - left) * Math.max(0, bottom - top);
  const union = a.width * a.height + b.width * b.height - intersection;
  return union > 0 ? intersection / union : 0;
}

export class FaceTracker {
  constructor({weight, minIoU, maxMissed}) {
    if (!(weight > 0 && weight <= 1)) throw new RangeError(`weight must be in (0, 1], got ${weight}`);
    Object.assign(this, {weight, minIoU, maxMissed, tracks: [], nextId: 1});
  }

  /** One frame's boxes and probability rows -> the track of each face, in the order of `boxes`. */
  update(boxes, probabilities) {
    // Highest overlaps first, so two nearby faces do not steal each other's track.
    const pairs = [];
    this.tracks.forEach((track, t) => boxes.forEach((box, b) => pairs.push([boxIoU(track.box, box), t, b])));
    pairs.sort((p, q) => q[0] - p[0] || q[1] - p[1] || q[2] - p[2]);
    const matched = new Map(), used = new Set();
    for (const [overlap, t, b] of pairs) {
      if (overlap < this.minIoU) break;
      if (used.has(t) || matched.has(b)) continue;
      const track = this.tracks[t];
      track.box = boxes[b];
      track.missed = 0;
      track.probabilities = track.probabilities.map((p, k) => this.weight * probabilities[b][k] + (1 - this.weight) * p);
      used.add(t);
      matched.set(b, track);
    }
    const survivors = [];
    this.tracks.forEach((track, t) => {
      if (!used.has(t)) track.missed += 1;
      if (track.missed <= this.maxMissed) survivors.push(track);
    });
    boxes.forEach((box, b) => {
      if (!matched.has(b)) {
        const track = {id: this.nextId++, box, probabilities: Float32Array.from(probabilities[b]), missed: 0};
        matched.set(b, track);
        survivors.push(track);
      }
    });
    this.tracks = survivors;
    return boxes.map((box, b) => matched.get(b));
  }
}
