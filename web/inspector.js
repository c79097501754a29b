// The frame inspector: pause the upconverted stream and step through its
// last frames one by one, each badged with what the server made it from.
//
// Live WebRTC cannot be seeked, so the page keeps the frames itself: while
// the inspector is open, every frame the video element presents is drawn
// into one of a fixed ring of canvases (requestVideoFrameCallback), with the
// RTP timestamp it came under. On pause the page asks the server what each
// of its last output frames was (GET /api/streams/<key>/frames: badge, rung
// and the same RTP timestamp) and matches the two on that timestamp.

import { blockMotion, drawMotion, halfLuma } from './motion.js';

/** Frames kept: two seconds at 60 fps. */
export const CAPTURED_FRAMES = 120;
/** Captured frames are scaled down to this width at most: 120 full 720p frames would hold 440 MB. */
const MAX_WIDTH = 640;
const RTP_WRAP = 2 ** 32;

/**
 * For each captured RTP timestamp, the server's frame with the nearest one,
 * when it is nearer than half the spacing of the server's frames (else the
 * server no longer has it, or never sent it: `undefined`). Timestamps are
 * 32-bit and wrap.
 */
export function matchFrames(captured, frames) {
  const timed = frames.filter((f) => Number.isFinite(f.rtp));
  const gaps = timed.slice(1).map((f, i) => distance(f.rtp, timed[i].rtp)).filter((d) => d > 0).sort((a, b) => a - b);
  const spacing = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 1500;
  return captured.map((rtp) => {
    if (!Number.isFinite(rtp)) return undefined;
    let best;
    let bestDistance = Infinity;
    timed.forEach((frame, index) => {
      const d = distance(rtp, frame.rtp);
      if (d < bestDistance) {
        best = { ...frame, index };
        bestDistance = d;
      }
    });
    return bestDistance < spacing / 2 ? best : undefined;
  });
}

function distance(a, b) {
  const d = Math.abs(a - b) % RTP_WRAP;
  return Math.min(d, RTP_WRAP - d);
}

export class FrameInspector {
  /**
   * `video`: the upconverted stream's element; `view`: where a frame is shown;
   * `ui`: the badge, info and button elements; `frames()`: the server's list.
   */
  constructor({ video, view, ui, frames }) {
    this.video = video;
    this.view = view;
    this.ui = ui;
    this.fetchFrames = frames;
    this.open = false;
    this.paused = false;
    /** The ring: canvases made once, reused as it turns. */
    this.slots = [];
    this.next = 0;
    this.count = 0;
    /** While paused: the captured frames oldest first, with what the server said of each. */
    this.frames = [];
    this.index = -1;
    this.callback = undefined;
    /** Whether the shown frame gets the motion overlay, and how many vectors it drew last. */
    this.showMotion = false;
    this.motionDrawn = 0;
  }

  /** Turns the motion overlay on or off (computed for the shown frame only, when paused). */
  setMotion(on) {
    this.showMotion = on;
    this.render();
  }

  /** Starts capturing (the inspector is shown). */
  start() {
    if (this.open) return;
    this.open = true;
    this.paused = false;
    this.listen();
    this.render();
  }

  /** Stops capturing and lets the frames go (the inspector is hidden). */
  stop() {
    this.open = false;
    this.paused = false;
    if (this.callback !== undefined) this.video.cancelVideoFrameCallback?.(this.callback);
    this.callback = undefined;
    this.slots = [];
    this.next = 0;
    this.count = 0;
    this.frames = [];
    this.index = -1;
    this.render();
  }

  /** Freezes the ring and badges its frames; shows the newest. */
  async pause() {
    if (!this.open || this.paused) return;
    this.paused = true;
    const held = Math.min(this.count, this.slots.length);
    const captured = [];
    for (let i = this.count - held; i < this.count; i++) captured.push(this.slots[i % this.slots.length]);
    this.frames = captured.map((slot) => ({ canvas: slot.canvas, rtp: slot.rtp, mediaTime: slot.mediaTime }));
    this.index = this.frames.length - 1;
    this.ui.info.textContent = 'asking the server what each frame was…';
    this.render();
    try {
      const list = await this.fetchFrames();
      const matched = matchFrames(this.frames.map((f) => f.rtp), list.frames ?? []);
      this.frames.forEach((f, i) => (f.server = matched[i]));
    } catch (error) {
      this.error = `the server did not say: ${error.message}`;
    }
    this.render();
  }

  resume() {
    if (!this.open || !this.paused) return;
    this.paused = false;
    this.error = undefined;
    this.frames = [];
    this.index = -1;
    this.listen();
    this.render();
  }

  step(by) {
    if (!this.paused || this.frames.length === 0) return;
    this.index = Math.max(0, Math.min(this.frames.length - 1, this.index + by));
    this.render();
  }

  /** Draws the motion from `before` to `frame` over the view; how many vectors it drew. Vectors are kept with the frame: stepping back and forth computes each once. */
  overlayMotion(g, frame, before) {
    if (!before || before.canvas.width !== frame.canvas.width || before.canvas.height !== frame.canvas.height) return 0;
    if (!frame.motion) {
      const plane = (c) => halfLuma(c.getContext('2d').getImageData(0, 0, c.width, c.height).data, c.width, c.height);
      frame.motion = blockMotion(plane(before.canvas), plane(frame.canvas));
    }
    return drawMotion(g, frame.motion);
  }

  /** The badges of the frames held while paused, oldest first (for the browser tests and the console). */
  badges() {
    return this.frames.map((f) => f.server?.badge ?? 'unknown');
  }

  listen() {
    if (!this.video.requestVideoFrameCallback) {
      this.ui.info.textContent = 'this browser cannot hand the page its video frames (requestVideoFrameCallback)';
      return;
    }
    this.callback = this.video.requestVideoFrameCallback((now, metadata) => this.capture(metadata));
  }

  capture(metadata) {
    this.callback = undefined;
    if (!this.open || this.paused) return;
    const { videoWidth, videoHeight } = this.video;
    if (videoWidth && videoHeight) {
      const scale = Math.min(1, MAX_WIDTH / videoWidth);
      const width = Math.round(videoWidth * scale);
      const height = Math.round(videoHeight * scale);
      if (this.slots.length < CAPTURED_FRAMES) this.slots.push({ canvas: document.createElement('canvas') });
      const slot = this.slots[this.next];
      this.next = (this.next + 1) % CAPTURED_FRAMES;
      if (slot.canvas.width !== width || slot.canvas.height !== height) {
        slot.canvas.width = width;
        slot.canvas.height = height;
      }
      // Inside the callback the element shows exactly the frame `metadata` describes.
      slot.canvas.getContext('2d').drawImage(this.video, 0, 0, width, height);
      slot.rtp = metadata.rtpTimestamp;
      slot.mediaTime = metadata.mediaTime;
      this.count++;
      if (this.count % 30 === 0) this.render();
    }
    this.listen();
  }

  render() {
    const { ui } = this;
    ui.pause.disabled = !this.open || this.paused;
    ui.resume.disabled = !this.open || !this.paused;
    ui.back.disabled = !this.paused || this.index <= 0;
    ui.forward.disabled = !this.paused || this.index >= this.frames.length - 1;
    const g = this.view.getContext('2d');
    if (!this.paused) {
      ui.badge.textContent = '';
      ui.badge.className = 'badge';
      if (this.open && this.callback !== undefined) ui.info.textContent = `capturing: ${Math.min(this.count, CAPTURED_FRAMES)} frames held; pause to step through them`;
      return;
    }
    const frame = this.frames[this.index];
    if (!frame) {
      ui.info.textContent = 'no frames captured: is the stream playing?';
      return;
    }
    if (this.view.width !== frame.canvas.width || this.view.height !== frame.canvas.height) {
      this.view.width = frame.canvas.width;
      this.view.height = frame.canvas.height;
    }
    g.drawImage(frame.canvas, 0, 0);
    this.motionDrawn = this.showMotion ? this.overlayMotion(g, frame, this.frames[this.index - 1]) : 0;
    const server = frame.server;
    const badge = server?.badge ?? 'unknown';
    ui.badge.textContent = server?.rung && badge !== 'original' && server.rung !== badge ? `${badge}: ${server.rung}` : badge;
    ui.badge.className = `badge ${badge}`;
    // Frames the browser never showed (it presents at the display's rate) are named, so a step that skips one says so.
    const previous = this.frames[this.index - 1]?.server;
    const skipped = server && previous ? server.index - previous.index - 1 : 0;
    ui.info.textContent = [
      `frame ${this.index + 1} of ${this.frames.length}`,
      server ? `media time ${server.time.toFixed(3)} s` : frame.rtp === undefined ? 'no RTP timestamp from this browser' : 'not in the server’s list',
      skipped > 0 ? `${skipped} frame${skipped === 1 ? '' : 's'} before it not shown by the browser` : '',
      this.showMotion ? (this.index > 0 ? `${this.motionDrawn} moving blocks since the frame before` : 'no frame before it to show motion from') : '',
      this.error ?? '',
    ]
      .filter(Boolean)
      .join(' · ');
  }
}
