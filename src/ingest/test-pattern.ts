import { type Rational } from '../base/rational.js';
import { FileSource } from './file-source.js';
import type { LiveInput, LiveSource } from './live-source.js';
import type { SourceItem } from './read-demuxed.js';
import { TEST_PATTERN_DEFAULTS, TEST_PATTERN_LABELS, testPatternGraph, type TestPatternKind } from './test-pattern-graphs.js';

export interface TestPatternOptions {
  /** Which pattern (default `motion`; see test-pattern-graphs.ts). */
  kind?: TestPatternKind;
  /** Default: the kind's own (`TEST_PATTERN_DEFAULTS`). */
  width?: number;
  height?: number;
  fps?: number;
}

/**
 * A built-in test pattern in real time, as a live publisher would send it:
 * what `frc serve --test-pattern` shows, so a fresh machine has a live
 * stream to watch with nothing else running. The `realtime` filter paces it
 * to the wall clock; it never ends by itself.
 */
class TestPatternSource implements LiveSource {
  readonly audio = undefined;
  /** Made here, not received: nothing to limit. */
  readonly mediaBytes = 0;
  private closed = false;

  private constructor(
    private readonly file: FileSource,
    readonly frameRate: Rational,
    /** Which pattern, as logs and stats name it. */
    readonly videoCodec: string,
  ) {}

  static async open(options: TestPatternOptions): Promise<TestPatternSource> {
    const kind = options.kind ?? 'motion';
    const size = { ...TEST_PATTERN_DEFAULTS[kind], ...definedOnly(options) };
    const file = await FileSource.open(`${testPatternGraph(kind, size)},realtime`, { format: 'lavfi', name: `the built-in ${TEST_PATTERN_LABELS[kind]}` });
    return new TestPatternSource(file, { num: size.fps, den: 1 }, TEST_PATTERN_LABELS[kind]);
  }

  get video() {
    return this.file.video;
  }

  get decodeErrors(): number {
    return this.file.decodeErrors;
  }

  async *read(): AsyncGenerator<SourceItem> {
    for await (const item of this.file.read()) {
      if (this.closed) {
        if (item.kind === 'video') item.frame.free();
        else item.packet.free();
        break;
      }
      yield item;
    }
  }

  close(): void {
    this.closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closed = true;
    await this.file[Symbol.asyncDispose]();
  }
}

/** The size and rate asked for, without the keys left undefined (which would hide the kind's defaults). */
function definedOnly({ width, height, fps }: TestPatternOptions): Partial<Record<'width' | 'height' | 'fps', number>> {
  return { ...(width !== undefined ? { width } : {}), ...(height !== undefined ? { height } : {}), ...(fps !== undefined ? { fps } : {}) };
}

export function testPatternInput(options: TestPatternOptions = {}): LiveInput {
  let source: TestPatternSource | undefined;
  let aborted = false;
  return {
    protocol: 'test-pattern',
    open: async () => {
      source = await TestPatternSource.open(options);
      if (aborted) source.close();
      return source;
    },
    abort: () => {
      aborted = true;
      source?.close();
    },
  };
}
