// frc live page: publish with WHIP, watch with WHEP, show the server's stats,
// chart the last minute of them and inspect the upconverted frames.
// No framework, no build step: plain browser APIs and ES modules. `window.frc`
// exposes the peer connections, charts and inspector, for the browser tests
// and for poking at in the console.

import { LastMinuteCharts } from './charts.js';
import { FrameInspector } from './inspector.js';

const $ = (id) => document.getElementById(id);
const state = { publisher: null, publishUrl: null, viewer: null, viewUrl: null, original: null, originalUrl: null, source: null, fileVideo: null };
window.frc = state;

const origin = location.origin;
const keyInput = $('key');
// `/?key=test` opens the page on that stream (what `npm start` prints).
const wanted = new URLSearchParams(location.search).get('key');
if (wanted) keyInput.value = wanted;
const key = () => keyInput.value.trim();
// Without `?key=`, the page watches the only live stream when there is one
// (see watchTheOnlyStream), once, unless the user has taken over by then.
let userTookOver = Boolean(wanted);
let autoWatched = false;
// The user taking over (a key typed, a button pressed) ends a watch the page
// started on its own, so it neither lingers on another key nor overwrites
// the status of what the user asked for.
let autoViewer = null;
function userActs() {
  userTookOver = true;
  if (!autoViewer) return;
  const viewer = autoViewer;
  autoViewer = null;
  inTurn(async () => {
    if (state.viewer === viewer) await stopWatching();
  });
}
keyInput.addEventListener('input', userActs);
for (const id of ['publish-camera', 'publish-file']) $(id).addEventListener('click', userActs);

function showUrls() {
  const k = key() || '<key>';
  $('whip-url').textContent = `${origin}/whip/${k}`;
  $('rtmp-url').textContent = `rtmp://${location.hostname}:1935/live`;
  $('hls-url').textContent = `${origin}/hls/${k}/index.m3u8`;
}
keyInput.addEventListener('input', showUrls);
showUrls();

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function checkKey() {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key())) throw new Error('The stream key may only have letters, digits, _ and - (at most 64).');
}

/** No trickle ICE: the offer goes out with every candidate, the answer comes back with all of the server's. */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 2000); // some candidates are enough
  });
}

/** WHIP and WHEP alike: POST the offer, 201 with the answer and the session's URL. */
async function negotiate(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp });
  if (res.status !== 201) {
    let reason = res.statusText;
    try { reason = (await res.json()).error; } catch {}
    throw new Error(`${res.status}: ${reason}`);
  }
  const session = new URL(res.headers.get('Location'), url).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return session;
}

async function endSession(url, token) {
  if (!url) return;
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  await fetch(url, { method: 'DELETE', headers }).catch(() => {});
}

function peer() {
  return new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
}

async function publish(stream, label) {
  checkKey();
  await stopPublishing();
  const pc = peer();
  state.publisher = pc;
  state.source = stream;
  // Video and, when there is some, audio (Opus: relayed to WebRTC viewers, AAC in HLS).
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
  if (!state.original) showLocalPreview(stream);
  pc.addEventListener('connectionstatechange', () => {
    if (pc !== state.publisher) return;
    if (pc.connectionState === 'connected') status(`Publishing ${label} on “${key()}”. Press “Watch stream” to see it upconverted.`);
    if (pc.connectionState === 'failed') status('The connection to the server failed.', true);
  });
  state.publishUrl = await negotiate(pc, `${origin}/whip/${encodeURIComponent(key())}`, $('token').value);
  $('stop-publish').disabled = false;
  status(`Connecting ${label} to the server…`);
}

async function stopPublishing() {
  const pc = state.publisher;
  if (!pc) return;
  state.publisher = null;
  await endSession(state.publishUrl, $('token').value);
  state.publishUrl = null;
  pc.close();
  state.source?.getTracks().forEach((t) => t.stop());
  state.source = null;
  state.fileVideo?.pause();
  if (!state.original) $('original').srcObject = null;
  $('stop-publish').disabled = true;
}

$('publish-camera').addEventListener('click', async () => {
  try {
    status('Asking for the camera…');
    const video = { frameRate: { ideal: 30 } };
    // The microphone too, if there is one (and the user allows it); video alone otherwise.
    const stream = await navigator.mediaDevices.getUserMedia({ video, audio: true }).catch(() => navigator.mediaDevices.getUserMedia({ video, audio: false }));
    await publish(stream, 'the camera');
  } catch (error) {
    status(`Cannot publish the camera: ${error.message}`, true);
  }
});

$('file').addEventListener('change', () => { $('publish-file').disabled = !$('file').files.length; });
$('publish-file').addEventListener('click', async () => {
  try {
    const file = $('file').files[0];
    const video = state.fileVideo ?? document.createElement('video');
    state.fileVideo = video;
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.src = URL.createObjectURL(file);
    await video.play();
    // captureStream follows the file's own frame rate.
    await publish(video.captureStream(), `“${file.name}”`);
  } catch (error) {
    status(`Cannot publish the file: ${error.message}`, true);
  }
});

$('stop-publish').addEventListener('click', async () => {
  await stopPublishing();
  status('Stopped publishing.');
});

function showLocalPreview(stream) {
  $('original-title').textContent = '(what this page sends)';
  $('original').srcObject = stream;
}

// Watching and stopping run one at a time: a click while the page is still
// connecting on its own (the only live stream) waits for it, then replaces it,
// instead of leaving a second pair of sessions behind.
let viewing = Promise.resolve();
function inTurn(work) {
  const run = viewing.then(work);
  viewing = run.catch(() => {});
  return run;
}

async function watch({ sound = true, auto = false } = {}) {
  checkKey();
  await stopWatching();
  const pc = peer();
  state.viewer = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const upconverted = new MediaStream();
  $('upconverted').srcObject = upconverted;
  // Pressing “Watch” is the gesture that lets the page play sound; watching on
  // its own (the only live stream, below) starts muted, as browsers require.
  $('upconverted').muted = !sound;
  pc.addEventListener('track', (event) => upconverted.addTrack(event.track));
  pc.addEventListener('connectionstatechange', () => {
    // A watch the page started on its own and the user has since overtaken says nothing: theirs is coming.
    if (pc !== state.viewer || (auto && userTookOver)) return;
    if (pc.connectionState === 'connected') status(`Watching “${key()}” upconverted.`);
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') status('The stream ended or the connection was lost.', pc.connectionState === 'failed');
  });
  state.viewUrl = await negotiate(pc, `${origin}/whep/${encodeURIComponent(key())}`);
  $('stop-watch').disabled = false;
  await watchOriginal().catch((error) => status(`Watching upconverted; the original is not available: ${error.message}`, true));
}

/** The original, from the server too (the publisher's video before upconverting, relayed or encoded for WebRTC; video only: the sound comes with the upconverted one). */
async function watchOriginal() {
  const pc = peer();
  state.original = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addEventListener('track', (event) => {
    $('original-title').textContent = '(from the server, before upconverting, via WHEP)';
    $('original').srcObject = new MediaStream([event.track]);
  });
  state.originalUrl = await negotiate(pc, `${origin}/whep/${encodeURIComponent(key())}/original`);
}

async function stopWatching() {
  const pc = state.viewer;
  if (!pc) return;
  state.viewer = null;
  await endSession(state.viewUrl);
  state.viewUrl = null;
  pc.close();
  $('upconverted').srcObject = null;
  const original = state.original;
  state.original = null;
  if (original) {
    await endSession(state.originalUrl);
    state.originalUrl = null;
    original.close();
    if (state.source) showLocalPreview(state.source);
    else $('original').srcObject = null;
  }
  $('stop-watch').disabled = true;
}

$('watch').addEventListener('click', async () => {
  try {
    status('Connecting to the stream…');
    await inTurn(() => watch());
  } catch (error) {
    status(`Cannot watch: ${error.message}`, true);
  }
});
$('stop-watch').addEventListener('click', async () => {
  await inTurn(() => stopWatching());
  status('Stopped watching.');
});

// Frame rates as the browser sees them: frames sent by the publisher, decoded by the viewer.
const last = new Map();
function rate(id, frames, timestamp) {
  const previous = last.get(id);
  last.set(id, { frames, timestamp });
  if (!previous || timestamp <= previous.timestamp) return undefined;
  return ((frames - previous.frames) * 1000) / (timestamp - previous.timestamp);
}

/** Lines for a receiving peer: video fps and counts, and audio when there is some. */
async function receiverLines(pc, id) {
  const lines = [];
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      const fps = rate(id, s.framesDecoded ?? 0, s.timestamp);
      lines.unshift(`receiving ${s.frameWidth ?? '?'}x${s.frameHeight ?? '?'} at ${fps === undefined ? '…' : fps.toFixed(1)} fps`);
      lines.push(`${s.framesDecoded ?? 0} frames decoded, ${s.framesDropped ?? 0} dropped, ${s.packetsLost ?? 0} packets lost`);
      if (s.jitterBufferEmittedCount) lines.push(`jitter buffer ${((s.jitterBufferDelay / s.jitterBufferEmittedCount) * 1000).toFixed(0)} ms`);
    }
    if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.packetsReceived) {
      lines.push(`audio: ${s.packetsReceived} packets, level ${(s.audioLevel ?? 0).toFixed(3)}`);
    }
  });
  return lines;
}

async function browserStats() {
  if (state.original) {
    $('original-stats').textContent = (await receiverLines(state.original, 'original')).join('\n') || 'connecting…';
  } else if (state.publisher) {
    const lines = [];
    (await state.publisher.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        const fps = rate('out', s.framesEncoded ?? 0, s.timestamp);
        lines.push(`sending ${s.frameWidth ?? '?'}x${s.frameHeight ?? '?'} at ${fps === undefined ? '…' : fps.toFixed(1)} fps`);
        if (s.qualityLimitationReason && s.qualityLimitationReason !== 'none') lines.push(`limited by ${s.qualityLimitationReason}`);
      }
    });
    $('original-stats').textContent = lines.join('\n') || 'connecting…';
  } else {
    $('original-stats').textContent = 'not publishing';
  }
  if (state.viewer) {
    $('upconverted-stats').textContent = (await receiverLines(state.viewer, 'in')).join('\n') || 'connecting…';
  } else {
    $('upconverted-stats').textContent = 'not watching';
  }
}
setInterval(() => browserStats().catch(() => {}), 1000);

/** Opened without a key, on a server with exactly one live stream: watch it (once). */
function watchTheOnlyStream(streams) {
  if (userTookOver || autoWatched || state.viewer || state.publisher) return;
  const live = streams.filter((x) => x.state === 'live');
  if (live.length !== 1) return;
  autoWatched = true;
  keyInput.value = live[0].key;
  showUrls();
  status(`Connecting to “${key()}”, the only live stream (muted: press “Watch stream” for sound)…`);
  inTurn(async () => {
    if (userTookOver) return;
    await watch({ sound: false, auto: true });
    // The user took over while it connected: it was not theirs to keep.
    if (userTookOver) await stopWatching();
    else autoViewer = state.viewer;
  }).catch((error) => status(`Cannot watch: ${error.message}`, true));
}

// The server's own view: the same objects as GET /api/streams, every second.
function connectStats() {
  const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/api/ws`);
  ws.addEventListener('message', (event) => {
    const { streams } = JSON.parse(event.data);
    watchTheOnlyStream(streams);
    const s = streams.find((x) => x.key === key());
    charts.add(key(), s);
    charts.draw();
    if (!s) {
      $('server-stats').textContent = `nothing published on “${key()}” yet` + (streams.length ? ` (live now: ${streams.map((x) => x.key).join(', ')})` : '');
      return;
    }
    $('server-stats').textContent = [
      `${s.state}${s.error ? ` (${s.error})` : ''}: ${s.protocol} ${s.codec ?? ''} ${s.width ?? '?'}x${s.height ?? '?'}, up ${Math.round(s.uptimeSeconds)} s`,
      `fps in ${s.inputFps}, fps out ${s.outputFps}, added latency ${s.latencyMs ?? '…'} ms`,
      `${s.interpolated} interpolated by ${s.interpolator ?? '…'}, ${s.fallbacks} fallbacks, ${s.repeated} repeated, ${s.ringDrops} dropped (engine behind)`,
      `audio: ${s.audio ?? 'none'} to HLS, ${s.webrtcAudio ?? 'none'} to WebRTC${s.audioHoldMs !== undefined ? ` (held ${s.audioHoldMs} ms to match the video)` : ''}`,
      `${s.viewers} WebRTC viewer${s.viewers === 1 ? '' : 's'} upconverted, ${s.originalViewers ?? 0} of the original`,
    ].join('\n');
  });
  ws.addEventListener('close', () => {
    $('server-stats').textContent = 'lost the connection to the server; retrying…';
    setTimeout(connectStats, 2000);
  });
}
connectStats();

const charts = new LastMinuteCharts({ fps: $('chart-fps'), latency: $('chart-latency'), slots: $('chart-slots') });
state.charts = charts;
charts.draw();

const inspector = new FrameInspector({
  video: $('upconverted'),
  view: $('inspector-view'),
  ui: { pause: $('inspector-pause'), resume: $('inspector-resume'), back: $('inspector-back'), forward: $('inspector-forward'), badge: $('inspector-badge'), info: $('inspector-info') },
  frames: async () => {
    const res = await fetch(`${origin}/api/streams/${encodeURIComponent(key())}/frames`);
    if (!res.ok) throw new Error(`${res.status}: ${(await res.json().catch(() => ({}))).error ?? res.statusText}`);
    return res.json();
  },
});
state.inspector = inspector;
// Capturing costs the page a canvas copy per frame: only while the inspector is open.
$('inspector-open').addEventListener('click', () => {
  const body = $('inspector-body');
  body.hidden = !body.hidden;
  $('inspector-open').textContent = body.hidden ? 'Open the inspector' : 'Close the inspector';
  if (body.hidden) inspector.stop();
  else inspector.start();
});
$('inspector-pause').addEventListener('click', () => inspector.pause());
$('inspector-resume').addEventListener('click', () => inspector.resume());
$('inspector-back').addEventListener('click', () => inspector.step(-1));
$('inspector-forward').addEventListener('click', () => inspector.step(1));
$('inspector-motion').addEventListener('change', () => inspector.setMotion($('inspector-motion').checked));
document.addEventListener('keydown', (event) => {
  if (!inspector.paused || event.target instanceof HTMLInputElement) return;
  if (event.key === 'ArrowLeft') inspector.step(-1);
  if (event.key === 'ArrowRight') inspector.step(1);
});
