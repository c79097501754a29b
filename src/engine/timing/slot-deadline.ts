/**
 * Per-slot deadlines for live output: which synthesizer renders an
 * in-between slot so that it is ready in time.
 *
 * The synthesizers form a ladder, most wanted first and cheapest last
 * (model → blend → dup). Before each slot the core predicts, from the
 * durations it has recently seen, whether each rung can finish by the slot's
 * deadline, and picks the first that can; the last rung (dup: a reference to
 * a frame, no pixel work) is taken when none can. A stream that has fallen
 * behind (its frames reach the engine already late) therefore gets cheap
 * slots until it is back on time: it catches up instead of drifting, and its
 * output never waits for a slow model.
 *
 * A rung that is not picked is not measured, so a model skipped once could
 * be skipped forever. Every rung but the last is re-tried ("probed") after
 * `probeInterval` slots in which a cheaper one stood in for it; a probe that
 * comes back too slow doubles that rung's interval (up to `maxProbeInterval`),
 * one that fits is followed by more until the estimate has recovered. A
 * middle rung needs this as much as the wanted one: `fast` behind `quality`
 * measured once at a bad moment (its first pair after the switch converts
 * both frames) would otherwise leave every late slot to blend (720p live,
 * 548 of 558 stand-in slots, bench/RESULTS.md).
 *
 * Pure (werift style): time comes in with the inputs, there is no timer and
 * no synthesizer here; `Upconverter` is the adapter that runs the decisions.
 */
export type DeadlineInput =
  /** An in-between slot is about to be rendered; it must be ready by `deadline` (same clock as `now`, ms). */
  | { kind: 'slot'; now: number; deadline: number }
  /** The rung chosen for the last slot finished, `ms` after it started; `now` is when. */
  | { kind: 'done'; rung: number; ms: number; now: number };

export type DeadlineOutput =
  /**
   * Render the slot with this rung (0 = the wanted synthesizer). `reason` is
   * set when a cheaper rung stands in because the wanted one would be late;
   * `probe` when a rung is tried again although it was predicted late.
   */
  | { kind: 'render'; rung: number; reason?: 'deadline'; probe?: true }
  /** The slot just done missed its deadline by `lateMs` (it still goes out: late rather than never). */
  | { kind: 'late'; lateMs: number };

export interface SlotDeadlineOptions {
  /** Rungs on the ladder, wanted first; the last is assumed to cost (almost) nothing. */
  rungs: number;
  /** Recent durations kept per rung for the prediction (default 5). */
  window?: number;
  /** Slack added to every prediction, ms (default 1). */
  marginMs?: number;
  /** Skipped slots before the wanted rung is tried again (default 30: one second at 30 fps in). */
  probeInterval?: number;
  /**
   * Upper bound of the probe interval after repeated slow probes (default 60:
   * two seconds at 30 fps in). A late probe costs one late slot; a model
   * left unprobed for long stays on blend through all the time it would
   * have fitted (a 720p live trace: 16 s on blend after two late probes;
   * the share it buys is within the noise so far, bench/RESULTS.md).
   */
  maxProbeInterval?: number;
}

export class SlotDeadline {
  private readonly rungs: number;
  private readonly window: number;
  private readonly marginMs: number;
  private readonly baseProbe: number;
  private readonly maxProbe: number;
  private readonly samples: number[][];
  /** Runs seen per rung: the first is a warm-up and not kept as a sample. */
  private readonly runs: number[];
  /** Per rung: slots since a cheaper rung last stood in for it without it being tried, and when to try it. */
  private readonly skipped: number[];
  private readonly probeInterval: number[];
  /** The slot in flight: its deadline, rung and whether it is a probe. */
  private pending?: { deadline: number; rung: number; probe: boolean };

  constructor(options: SlotDeadlineOptions) {
    if (!Number.isInteger(options.rungs) || options.rungs < 1) throw new RangeError(`a deadline ladder needs at least one rung, got ${options.rungs}`);
    this.rungs = options.rungs;
    this.window = options.window ?? 5;
    this.marginMs = options.marginMs ?? 1;
    this.baseProbe = options.probeInterval ?? 30;
    this.maxProbe = Math.max(this.baseProbe, options.maxProbeInterval ?? 60);
    this.skipped = Array.from({ length: this.rungs }, () => 0);
    this.probeInterval = Array.from({ length: this.rungs }, () => this.baseProbe);
    this.samples = Array.from({ length: this.rungs }, () => []);
    this.runs = Array.from({ length: this.rungs }, () => 0);
  }

  /**
   * The predicted duration of a rung (ms): the median of its recent
   * durations (the upper one of an even count), 0 before any. The median,
   * not a high percentile: on a loaded machine single runs spike, and a
   * prediction that follows the spikes hands most slots to blend (480p live,
   * second largest of five: 33–58 % of slots by the model; median: 90–92 %,
   * with a lower p99; bench/RESULTS.md). A real slowdown still takes over the
   * window within three slots, and a late slot goes out all the same.
   */
  estimate(rung: number): number {
    const recent = [...this.samples[rung]!].sort((a, b) => b - a);
    return recent.length === 0 ? 0 : recent[Math.floor((recent.length - 1) / 2)]!;
  }

  processInput(input: DeadlineInput): DeadlineOutput[] {
    return input.kind === 'slot' ? this.slot(input.now, input.deadline) : this.done(input.rung, input.ms, input.now);
  }

  private slot(now: number, deadline: number): DeadlineOutput[] {
    const fits = (rung: number) => now + this.estimate(rung) + this.marginMs <= deadline;
    let rung = 0;
    while (rung < this.rungs - 1 && !fits(rung)) rung++;
    this.skipped[rung] = 0;
    for (let wanted = 0; wanted < rung; wanted++) this.skipped[wanted]!++;
    // The most wanted rung that is due for a probe, if any.
    const probe = this.skipped.findIndex((n, r) => r < rung && n >= this.probeInterval[r]!);
    if (probe >= 0) {
      this.skipped[probe] = 0;
      this.pending = { deadline, rung: probe, probe: true };
      // A probe of a stand-in is still a stand-in's slot.
      return [probe === 0 ? { kind: 'render', rung: 0, probe: true } : { kind: 'render', rung: probe, reason: 'deadline', probe: true }];
    }
    this.pending = { deadline, rung, probe: false };
    return [rung === 0 ? { kind: 'render', rung } : { kind: 'render', rung, reason: 'deadline' }];
  }

  private done(rung: number, ms: number, now: number): DeadlineOutput[] {
    const samples = this.samples[rung];
    if (!samples || !Number.isFinite(ms) || ms < 0) return [];
    // A synthesizer's first run allocates for the stream's frame size (`fast` at 720p: 20 ms, then
    // 11–13): kept, it made the model look late from the first slot and a live stream could stay
    // on blend for its whole length.
    if (this.runs[rung]!++ > 0) {
      samples.push(ms);
      if (samples.length > this.window) samples.shift();
    }
    const pending = this.pending;
    this.pending = undefined;
    if (!pending || pending.rung !== rung) return [];
    const late = now > pending.deadline;
    if (pending.probe) {
      // A probe that fits asks for another at once, so a recovered model returns within a few slots.
      this.probeInterval[rung] = late ? Math.min(this.maxProbe, this.probeInterval[rung]! * 2) : 1;
    } else {
      this.probeInterval[rung] = this.baseProbe;
    }
    return late ? [{ kind: 'late', lateMs: now - pending.deadline }] : [];
  }
}
