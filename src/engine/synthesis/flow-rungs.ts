import type { Frame } from 'node-av/lib';
import type { FlowField } from '../model/flow-field.js';
import type { PartsRung, WarpFilter } from '../model/model-card.js';
import type { Synthesizer } from './synthesis.js';

/**
 * One setting of a flow model's synthesis: the top rung is the card's own;
 * the rungs under it are cheaper settings of the same loaded model that a
 * live stream walks down to under load before it gives a slot to blend (see
 * `SlotDeadline`). Each rung is motion-compensated.
 */
export interface RungSetting {
  /** Appended to the model's name with a slash (`fast/bilinear`): what the stats count. The top rung has none. */
  label?: string;
  /** How the full-resolution warp samples the frames. */
  filter: WarpFilter;
  /**
   * No network: the field of the previous gap (the adjacent one, same
   * geometry, same t) is refined by the `lkFine` step against this pair.
   * Under steady motion the in-between position moves on by one gap's motion;
   * the step corrects what it can of that.
   */
  reuse: boolean;
  /** Run only the model's first parts, then this many `lkFine` steps (the card's `partsRung`). */
  parts?: PartsRung;
}

/**
 * The rungs of a model's ladder, top first, from its card: bilinear instead
 * of bicubic (where the card warps bicubic), then the network's first parts
 * only (where the card has a `partsRung`), then the previous gap's field
 * reused (where the card has `lkFine`, whose step does the refining). These
 * are the settings on the cost/quality frontier: the network without its
 * `lkFine` step was measured too, and the reused field was both cheaper and
 * better on validation (bench/RESULTS.md, Ladder rungs).
 */
export function ladder(filter: WarpFilter, hasFine: boolean, partsRung?: PartsRung): RungSetting[] {
  const rungs: RungSetting[] = [{ filter, reuse: false }];
  if (filter === 'bicubic') rungs.push({ label: 'bilinear', filter: 'bilinear', reuse: false });
  if (hasFine && partsRung) rungs.push({ label: `${partsRung.parts}-parts`, filter: 'bilinear', reuse: false, parts: partsRung });
  if (hasFine) rungs.push({ label: 'reuse', filter: 'bilinear', reuse: true });
  return rungs;
}

/**
 * Gaps in a row one network field may be carried through by the `reuse`
 * rung: each gap's refinement corrects only part of the error it inherits,
 * so the field drifts. On validation the first reuse loses 0.2 dB against
 * the model, the fourth in a row 0.7 (still 1 dB above blend), the eighth 1.3
 * (below blend on three of five sets; bench/RESULTS.md, Ladder rungs). Past
 * it a network rung renders again (`SlotDeadline` seeds the chain).
 */
export const MAX_REUSES = 4;

/** A field kept for the next gap: `scale` is the `lkFine` scale still to apply (1 once refined); `reuses`, the gaps it was carried through since the network made it. */
export interface KeptField {
  field: FlowField;
  scale: number;
  reuses: number;
}

interface Gap {
  /** The gap's later frame (by identity) and its geometry. */
  later: Frame;
  geometry: string;
  fields: Map<number, KeptField>;
}

const geometryOf = (f: Frame) => `${f.width}x${f.height}/${f.format}`;

/**
 * The fields of the gap being rendered and of the one before it, by
 * timestep: what the `reuse` rung starts from. A gap's fields are offered to
 * the next gap only when that gap starts at the frame this one ended on, in
 * the same geometry: after a cut, a long gap or a frame size change (no
 * synthesis there) the chain breaks.
 *
 * A field that leaves the memory (its gap is two back, or a slot is
 * rendered again) goes to `onDrop`, unless a gap still kept holds the same
 * field: the owner may reuse its arrays for a later field.
 */
export class FieldMemory {
  private current?: Gap;
  private previous?: Gap;

  constructor(private readonly onDrop: (field: FlowField) => void = () => {}) {}

  /** Call before rendering the pair `a`, `b`: a new gap moves the current one back. */
  enter(a: Frame, b: Frame): void {
    if (this.current?.later === b) return;
    const gone = [this.previous, this.current];
    this.previous = this.current?.later === a && this.current.geometry === geometryOf(a) ? this.current : undefined;
    this.current = { later: b, geometry: geometryOf(b), fields: new Map() };
    for (const gap of gone) if (gap && gap !== this.previous) for (const kept of gap.fields.values()) this.drop(kept.field);
  }

  keep(t: number, kept: KeptField): void {
    if (!this.current) return;
    const old = this.current.fields.get(t);
    this.current.fields.set(t, kept);
    if (old && old.field !== kept.field) this.drop(old.field);
  }

  private drop(field: FlowField): void {
    const held = (gap?: Gap) => gap !== undefined && [...gap.fields.values()].some((k) => k.field === field);
    if (!held(this.current) && !held(this.previous)) this.onDrop(field);
  }

  /** The previous gap's field at `t` for the pair `a`, `b`, if it is the adjacent gap. */
  previousField(a: Frame, b: Frame, t: number): KeptField | undefined {
    // Looking ahead as `enter` would, without changing anything.
    const gap = this.current?.later === b ? this.previous : this.current?.later === a ? this.current : undefined;
    return gap && gap.later === a && gap.geometry === geometryOf(a) && gap.geometry === geometryOf(b) ? gap.fields.get(t) : undefined;
  }

  /** The field kept at `t` for the gap being rendered (a warm-up's pair of one frame). */
  currentField(t: number): KeptField | undefined {
    return this.current?.fields.get(t);
  }

  clear(): void {
    const gone = [this.previous, this.current];
    this.current = undefined;
    this.previous = undefined;
    const fields = new Set(gone.flatMap((gap) => (gap ? [...gap.fields.values()].map((k) => k.field) : [])));
    for (const field of fields) this.onDrop(field);
  }
}

/**
 * A rung of a flow synthesizer's ladder: a view of its owner (same model,
 * RGB converter and field memory), which renders with the rung's setting.
 * The owner closes its rungs when it is disposed (mediasoup style: the close
 * cascades); a rung's own dispose only closes the view.
 */
export class FlowRung implements Synthesizer {
  private closed = false;

  constructor(
    readonly name: string,
    private readonly owner: {
      render(a: Frame, b: Frame, t: number, setting: RungSetting): Promise<Frame>;
      canRender(a: Frame, b: Frame, t: number, setting: RungSetting): boolean;
    },
    readonly setting: RungSetting,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  canRender(a: Frame, b: Frame, t: number): boolean {
    return !this.closed && this.owner.canRender(a, b, t, this.setting);
  }

  synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    if (this.closed) return Promise.reject(new Error(`rung ${this.name} is closed`));
    return this.owner.render(a, b, t, this.setting);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closed = true;
  }

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}
