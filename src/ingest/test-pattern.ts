import { type Rational } from '../base/rational.js';
import { FileSource } from './file-source.js';
import type { LiveInput, LiveSource } from './live-source.js';
import type { SourceItem } from './read-demuxed.js';

export interface TestPatternOptions {
  width?: number;
  height?: number;
  fps?: number;
}

/**
 * FFmpeg's `testsrc2` (moving pattern and a counter) in real time, as a live
 * publisher would send it: what `frc serve --test-pattern` shows, so a fresh
 * machine has a live stream to watch with nothing else running. The
 * `realtime` filter paces it to the wall clock; it never ends by itself.
 */
class TestPatternSource implements LiveSource {
  readonly videoCodec = 'testsrc2';
  readonly audio = undefined;
  /** Made here, not received: nothing to limit. */
  readonly mediaBytes = 0;
  private closed = false;

  private constructor(
    private readonly file: FileSource,
    readonly frameRate: Rational,
  ) {}

  static async open(options: TestPatternOptions): Promise<TestPatternSource> {
    const { width = 480, height = 270, fps = 30 } = options;
    const file = await FileSource.open(`testsrc2=size=${width}x${height}:rate=${fps},realtime`, { format: 'lavfi' });
    return new TestPatternSource(file, { num: fps, den: 1 });
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
