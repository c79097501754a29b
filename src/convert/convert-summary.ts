import type { ConvertSummary } from './convert.js';
import { STAGES } from '../engine/timing/frame-timing.js';

/**
 * `frc convert`'s summary line: frames in and out and how they were made,
 * then the same figures `/metrics` gives for a live stream, where they apply
 * to a file (input and output rate, fallbacks by reason, synthesized slots
 * by rung, time per stage).
 */
export function formatSummary(s: ConvertSummary): string {
  const extras = [
    s.repeated ? `${s.repeated} repeated` : '',
    s.sceneCuts ? `${s.sceneCuts} scene cut${s.sceneCuts === 1 ? '' : 's'}` : '',
    s.dropped ? `${s.dropped} dropped (timestamps not increasing)` : '',
    s.decodeErrors ? `${s.decodeErrors} damaged packets skipped` : '',
  ].filter(Boolean);
  const fallbacks = s.fallbackFrames.length ? ` [${s.fallbackFrames.map((f) => `${f.frames} ${f.reason}→${f.synthesizer}`).join(', ')}]` : '';
  // Still pairs count as interpolated (their blend is the in-between frame) but took no model run.
  const still = s.rungFrames.find((r) => r.rung === 'still')?.frames ?? 0;
  const stillNote = still ? ` (${still} of them still pairs, blended)` : '';
  const rungs = s.rungFrames.length ? `; slots by rung: ${s.rungFrames.map((r) => `${r.rung} ${r.frames}`).join(', ')}` : '';
  // The features stage runs only with the semantic stage on.
  const stages = STAGES.filter((stage) => stage !== 'features' || s.sceneCuts !== undefined).map((stage) => `${stage} ${s.stages[stage].p50.toFixed(1)}/${s.stages[stage].p95.toFixed(1)}`).join(', ');
  return (
    `frc: ${s.framesIn} frames in, ${s.framesOut} out (${s.interpolated} interpolated by ${s.interpolator}${stillNote}, ${s.fallbacks} fallbacks${fallbacks}` +
    (extras.length ? `, ${extras.join(', ')}` : '') +
    rungs +
    `), ${s.width}x${s.height}, audio ${s.audio}, ${s.wallSeconds.toFixed(2)} s, ${s.inputFps.toFixed(1)} fps in, ${s.fps.toFixed(1)} fps out, ms per frame p50/p95: ${stages}`
  );
}
