/**
 * Per-slot deadlines for live output: which synthesizer renders an
 * in-between slot so that it is ready in time.
 *
 * The synthesizers are an ordered list: the chosen one first, then its
 * fallbacks, cheapest last (model → blend → dup). Before each slot the core
 * predicts, from the durations it has recently seen, whether each can finish
 * by the slot's deadline, and picks the first that can; the last (dup: a
 * reference to a frame, no pixel work) is taken when none can. A stream that
 * has fallen behind (its frames reach the engine already late) therefore gets
 * cheap slots until it is back on time: it catches up instead of drifting,
 * and its output never waits for a slow model.
 *
 * With a model's ladder (its cheaper settings as rungs between it and
 * blend, see `FlowSynthesizer.rungs`) the list is longer, and the core walks
 * it down one rung at a time as the load grows: each rung's estimate must
 * exceed the time left before the next one is picked.
 *
 * A synthesizer that is not picked is not measured, so a model skipped once
 * could be skipped forever. The rung just above the one that renders is
 * re-tried ("probed") after `probeInterval` slots rendered by the rung below
 * it; a probe that comes back too slow doubles that rung's interval (up to
 * `maxProbeInterval`), one that fits is followed by more until the estimate
 * has recovered and the rung renders on its own; then the rung above it is
 * due. So the ladder climbs one rung at a time and a probe costs at most one
 * rung's step up: probing the top from the bottom of a six-rung ladder would
 * make every probe a late slot on a loaded machine. A fallback in the middle
 * needs probes as much as the chosen one: `fast` behind `quality` measured
 * once at a bad moment (its first pair after the switch converts both
 * frames) would otherwise leave nearly every late slot to blend (see
 * bench/RESULTS.md, Settings chosen by measurement: the live `quality`
 * fallbacks).
 *
 * A rung may be unable to render a slot at all (`skip`: the reused-field rung
 * when the gap before had no field, or its field has been carried through as
 * many gaps as it may); it is passed over, as if predicted late, and never
 * probed on such a slot. When it would have been in time, the rung above it
 * is probed at once instead of when due: its field seeds the chain again. A
 * seed is a probe (one late slot at most), so it waits for the probe interval
 * once a probe of that rung came back late: under a load that makes every
 * network rung late, the reused field renders a few gaps after each probe and
 * blend the rest.
 *
 * Pure (werift style): time comes in with the inputs, there is no timer and
 * no synthesizer here, only their indices in the list (`choice`);
 * `Upconverter` is the adapter that runs the decisions.
 */
export type DeadlineInput =
  /**
   * An in-between slot is about to be rendered; it must be ready by
   * `deadline` (same clock as `now`, ms). `skip`: the synthesizers that
   * cannot render this slot (never the last).
   */
  | { kind: 'slot'; now: number; deadline: number; skip?: readonly number[] }
  /** The synthesizer chosen for the last slot finished, `ms` after it started; `now` is when. */
  | { kind: 'done'; choice: number; ms: number; now: number };

export type DeadlineOutput =
  /**
   * Render the slot with synthesizer `choice` (0 = the chosen synthesizer,
   * then its fallbacks). `reason` is set when a fallback renders because the
   * chosen one would be late; `probe` when a synthesizer is tried again
   * although it was predicted late.
   */
  | { kind: 'render'; choice: number; reason?: 'deadline'; probe?: true }
  /** The slot just done missed its deadline by `lateMs` (it still goes out: late rather than never). */
  | { kind: 'late'; lateMs: number };

export interface SlotDeadlineOptions {
  /** How many synthesizers: the chosen one, then its fallbacks; the last is assumed to cost (almost) nothing. */
  synthesizers: number;
  /** Recent durations kept per synthesizer for the prediction (default 5). */
  window?: number;
  /** Slack added to every prediction, ms (default 1). */
  marginMs?: number;
  /** Skipped slots before the chosen synthesizer is tried again (default 30: one second at 30 fps in). */
  probeInterval?: number;
  /**
   * Upper bound of the probe interval after repeated slow probes (default 60:
   * two seconds at 30 fps in). A late probe costs one late slot; a model
   * left unprobed for long stays on blend through all the time it would
   * have fitted (a live trace showed long stretches on blend after two late
   * probes; the share the cap buys is within the noise so far, see
   * bench/RESULTS.md, Settings chosen by measurement).
   */
  maxProbeInterval?: number;
}

export class SlotDeadline {
  private readonly synthesizers: number;
  private readonly window: number;
  private readonly marginMs: number;
  private readonly baseProbe: number;
  private readonly maxProbe: number;
  private readonly samples: number[][];
  /** Runs seen per synthesizer: the first is a warm-up and not kept as a sample. */
  private readonly runs: number[];
  /** Per synthesizer: slots the rung below it rendered since it was last tried, and when to try it. */
  private readonly skipped: number[];
  private readonly probeInterval: number[];
  /** The slot in flight: its deadline, synthesizer and whether it is a probe. */
  private pending?: { deadline: number; choice: number; probe: boolean };

  constructor(options: SlotDeadlineOptions) {
    if (!Number.isInteger(options.synthesizers) || options.synthesizers < 1) throw new RangeError(`a deadline needs at least one synthesizer, got ${options.synthesizers}`);
    this.synthesizers = options.synthesizers;
    this.window = options.window ?? 5;
    this.marginMs = options.marginMs ?? 1;
    this.baseProbe = options.probeInterval ?? 30;
    this.maxProbe = Math.max(this.baseProbe, options.maxProbeInterval ?? 60);
    this.skipped = Array.from({ length: this.synthesizers }, () => 0);
    this.probeInterval = Array.from({ length: this.synthesizers }, () => this.baseProbe);
    this.samples = Array.from({ length: this.synthesizers }, () => []);
    this.runs = Array.from({ length: this.synthesizers }, () => 0);
  }

  /**
   * The predicted duration of synthesizer `choice` (ms): the median of its
   * recent durations (the upper one of an even count), 0 before any. The
   * median, not a high percentile: on a loaded machine single runs spike, and
   * a prediction that follows the spikes hands most slots to blend (see
   * bench/RESULTS.md, Settings chosen by measurement: deadline estimate). A
   * real slowdown still takes over the window within three slots, and a late
   * slot goes out all the same.
   */
  estimate(choice: number): number {
    const recent = [...this.samples[choice]!].sort((a, b) => b - a);
    return recent.length === 0 ? 0 : recent[Math.floor((recent.length - 1) / 2)]!;
  }

  processInput(input: DeadlineInput): DeadlineOutput[] {
    return input.kind === 'slot' ? this.slot(input.now, input.deadline, input.skip ?? []) : this.done(input.choice, input.ms, input.now);
  }

  private slot(now: number, deadline: number, skip: readonly number[]): DeadlineOutput[] {
    const can = (choice: number) => choice === this.synthesizers - 1 || !skip.includes(choice);
    const inTime = (choice: number) => now + this.estimate(choice) + this.marginMs <= deadline;
    let choice = 0;
    while (choice < this.synthesizers - 1 && !(can(choice) && inTime(choice))) choice++;
    this.skipped[choice] = 0;
    // The rung above the chosen one (the nearest that can render this slot) is the one to probe, once it is due.
    let above = choice - 1;
    while (above >= 0 && !can(above)) above--;
    // A rung between them would be in time but cannot render (the reused field's chain ran out): the rung
    // above seeds it, as a probe, now rather than when due, unless its last probe came back late.
    const starved = above >= 0 && skip.some((r) => r > above && r < choice && inTime(r)) && this.probeInterval[above]! <= this.baseProbe;
    const probe = above >= 0 && (++this.skipped[above]! >= this.probeInterval[above]! || starved) ? above : -1;
    if (probe >= 0) {
      this.skipped[probe] = 0;
      this.pending = { deadline, choice: probe, probe: true };
      // A probe of a fallback is still a fallback's slot.
      return [probe === 0 ? { kind: 'render', choice: 0, probe: true } : { kind: 'render', choice: probe, reason: 'deadline', probe: true }];
    }
    this.pending = { deadline, choice, probe: false };
    return [choice === 0 ? { kind: 'render', choice } : { kind: 'render', choice, reason: 'deadline' }];
  }

  private done(choice: number, ms: number, now: number): DeadlineOutput[] {
    const samples = this.samples[choice];
    if (!samples || !Number.isFinite(ms) || ms < 0) return [];
    // A synthesizer's first run allocates for the stream's frame size and is much slower than the
    // rest: kept, it made the model look late from the first slot and a live stream could stay on
    // blend for its whole length.
    if (this.runs[choice]!++ > 0) {
      samples.push(ms);
      if (samples.length > this.window) samples.shift();
    }
    const pending = this.pending;
    this.pending = undefined;
    if (!pending || pending.choice !== choice) return [];
    const late = now > pending.deadline;
    if (pending.probe) {
      // A probe that fits asks for another at once, so a recovered model returns within a few slots.
      this.probeInterval[choice] = late ? Math.min(this.maxProbe, this.probeInterval[choice]! * 2) : 1;
    } else {
      this.probeInterval[choice] = this.baseProbe;
    }
    return late ? [{ kind: 'late', lateMs: now - pending.deadline }] : [];
  }
}
