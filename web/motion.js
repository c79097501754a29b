// The inspector's motion overlay: where each block of a frame came from in
// the frame before it, found by block matching in the page (the server sends
// no flow: it would cost it per-pixel work for every viewer). It shows the
// motion the in-between frames had to follow, not the model's own flow.

/** Luma of RGBA pixels, halved in each direction (a quarter of the work, and less noise). */
export function halfLuma(rgba, width, height) {
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const i = ((2 * y + dy) * width + 2 * x + dx) * 4;
        sum += 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
      }
      out[y * w + x] = sum / 4;
    }
  }
  return { luma: out, width: w, height: h };
}

/**
 * For each `block`-square of `current` with some texture (a flat block
 * matches anywhere), the offset within ±`range` where it best matches
 * `previous` (least sum of absolute differences; no motion wins ties):
 * `{x, y, dx, dy}`, the block's top left now and its motion since, in the
 * planes' pixels. Both planes are `{luma, width, height}` of one size.
 */
export function blockMotion(previous, current, { block = 8, range = 6, minContrast = 12 } = {}) {
  const { width, height } = current;
  const a = previous.luma;
  const b = current.luma;
  const vectors = [];
  for (let by = range; by + block + range <= height; by += block) {
    for (let bx = range; bx + block + range <= width; bx += block) {
      let lo = 255;
      let hi = 0;
      for (let y = 0; y < block; y++) {
        for (let x = 0; x < block; x++) {
          const v = b[(by + y) * width + bx + x];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      if (hi - lo < minContrast) continue;
      const cost = (ox, oy, limit) => {
        let sad = 0;
        for (let y = 0; y < block && sad < limit; y++) {
          const rowB = (by + y) * width + bx;
          const rowA = (by + y + oy) * width + bx + ox;
          for (let x = 0; x < block; x++) sad += Math.abs(b[rowB + x] - a[rowA + x]);
        }
        return sad;
      };
      let best = cost(0, 0, Infinity);
      let bestX = 0;
      let bestY = 0;
      for (let oy = -range; oy <= range; oy++) {
        for (let ox = -range; ox <= range; ox++) {
          if (ox === 0 && oy === 0) continue;
          const sad = cost(ox, oy, best);
          if (sad < best) {
            best = sad;
            bestX = ox;
            bestY = oy;
          }
        }
      }
      // The block was at (bx + ox, by + oy) before: it moved by minus that offset.
      vectors.push({ x: bx, y: by, dx: -bestX, dy: -bestY });
    }
  }
  return vectors;
}

/** Draws the moving blocks' vectors over `g` (a canvas of the frame's size), from where each block was to where it is. */
export function drawMotion(g, vectors, { scale = 2, block = 8 } = {}) {
  let drawn = 0;
  g.save();
  g.lineWidth = 2;
  g.lineCap = 'round';
  for (const v of vectors) {
    if (v.dx === 0 && v.dy === 0) continue;
    const x1 = (v.x + block / 2) * scale;
    const y1 = (v.y + block / 2) * scale;
    const x0 = x1 - v.dx * scale;
    const y0 = y1 - v.dy * scale;
    for (const [colour, width] of [['rgba(0,0,0,.7)', 4], ['#ffeb3b', 2]]) {
      g.strokeStyle = colour;
      g.lineWidth = width;
      g.beginPath();
      g.moveTo(x0, y0);
      g.lineTo(x1, y1);
      g.stroke();
    }
    g.fillStyle = '#ffeb3b';
    g.beginPath();
    g.arc(x1, y1, 2.5, 0, 2 * Math.PI);
    g.fill();
    drawn++;
  }
  g.restore();
  return drawn;
}
