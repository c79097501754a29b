// The page's live charts: the last minute of one stream's server stats
// (as the /api/ws feed sends them, once a second), drawn on plain canvases.
// No chart library: a line per series, an axis with its top value, a legend.

const WINDOW_MS = 60_000;
/** Colours the eye tells apart; saturated, so they stand out from the grey axes (the browser test counts them). */
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf', '#e377c2', '#8c564b'];

/**
 * Slots filled per second by each rung between two stats samples of one
 * stream: the change of its `rungFrames` counters, and of `repeated`, which
 * the page counts as dup (a repeat is what dup makes). Undefined when the
 * counters went back (a new stream on the key): no rate across a restart.
 */
export function slotRates(previous, current, seconds) {
  if (!previous || seconds <= 0) return undefined;
  const counts = (s) => {
    const map = new Map((s.rungFrames ?? []).map((r) => [r.rung, r.frames]));
    map.set('dup', (map.get('dup') ?? 0) + (s.repeated ?? 0));
    return map;
  };
  const before = counts(previous);
  const after = counts(current);
  const rates = {};
  for (const [rung, frames] of after) {
    const delta = frames - (before.get(rung) ?? 0);
    if (delta < 0) return undefined;
    rates[rung] = delta / seconds;
  }
  return rates;
}

export class LastMinuteCharts {
  constructor({ fps, latency, slots }) {
    this.canvases = { fps, latency, slots };
    this.key = undefined;
    this.samples = [];
    this.last = undefined;
    /** Every rung seen on this key, in the order first seen: a rung keeps its colour. */
    this.rungs = [];
  }

  /** One stats object of the watched stream (`undefined`: none on the key now) at `now` (ms). */
  add(key, stats, now = Date.now()) {
    if (key !== this.key) {
      this.key = key;
      this.samples = [];
      this.last = undefined;
      this.rungs = [];
    }
    if (!stats) {
      this.last = undefined;
      return;
    }
    const restarted = this.last && this.last.stats.startedAt !== stats.startedAt;
    const slots = restarted ? undefined : slotRates(this.last?.stats, stats, this.last ? (now - this.last.at) / 1000 : 0);
    for (const rung of Object.keys(slots ?? {})) if (!this.rungs.includes(rung)) this.rungs.push(rung);
    this.samples.push({ at: now, inputFps: stats.inputFps, outputFps: stats.outputFps, latencyMs: stats.latencyMs, slots });
    this.last = { at: now, stats };
    while (this.samples.length && this.samples[0].at < now - WINDOW_MS) this.samples.shift();
  }

  draw(now = Date.now()) {
    const series = (label, value, i) => ({ label, colour: COLOURS[i % COLOURS.length], points: this.samples.map((s) => [s.at, value(s)]) });
    drawChart(this.canvases.fps, now, 'fps', [series('in', (s) => s.inputFps, 0), series('out', (s) => s.outputFps, 1)]);
    drawChart(this.canvases.latency, now, 'ms', [series('added latency', (s) => s.latencyMs, 2)]);
    drawChart(
      this.canvases.slots,
      now,
      '/s',
      this.rungs.map((rung, i) => series(rung, (s) => s.slots?.[rung], i + 3)),
    );
  }
}

/** Lines over the last minute; a missing value breaks the line. */
function drawChart(canvas, now, unit, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 300;
  const height = canvas.clientHeight || 120;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const left = 44;
  const right = width - 6;
  const top = 18;
  const bottom = height - 16;
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const max = niceMax(Math.max(1, ...values));
  const x = (at) => left + ((at - (now - WINDOW_MS)) / WINDOW_MS) * (right - left);
  const y = (v) => bottom - (v / max) * (bottom - top);

  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = '#bbb';
  g.fillStyle = '#666';
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(left, top);
  g.lineTo(left, bottom);
  g.lineTo(right, bottom);
  g.stroke();
  g.textAlign = 'right';
  g.fillText(`${max} ${unit}`, left - 4, top + 4);
  g.fillText('0', left - 4, bottom);
  g.textAlign = 'left';
  g.fillText('−60 s', left, height - 3);
  g.textAlign = 'right';
  g.fillText('now', right, height - 3);

  let legendX = left + 4;
  g.textAlign = 'left';
  for (const s of series) {
    g.strokeStyle = s.colour;
    g.lineWidth = 2;
    g.beginPath();
    let drawing = false;
    for (const [at, v] of s.points) {
      if (!Number.isFinite(v)) {
        drawing = false;
        continue;
      }
      if (drawing) g.lineTo(x(at), y(v));
      else g.moveTo(x(at), y(v));
      drawing = true;
    }
    g.stroke();
    g.fillStyle = s.colour;
    g.fillRect(legendX, 5, 10, 3);
    g.fillStyle = '#333';
    g.fillText(s.label, legendX + 13, 11);
    legendX += 20 + g.measureText(s.label).width;
  }
  if (series.length === 0) {
    g.fillStyle = '#888';
    g.fillText('no in-between frames yet', left + 6, top + 14);
  }
}

/** A round top for the axis: 1, 2 or 5 times a power of ten. */
function niceMax(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}
