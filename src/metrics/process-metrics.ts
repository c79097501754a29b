import { readdirSync } from 'node:fs';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

export interface ProcessFigures {
  residentBytes: number;
  heapUsedBytes: number;
  /** Bytes held outside the JS heap by ArrayBuffers and native objects node knows of. */
  externalBytes: number;
  /** Open file descriptors (sockets included), where the OS lets us count them (Linux's /proc). */
  openFds?: number;
  startTimeSeconds: number;
  /** The event loop's delay over the last window (see EventLoopDelay), where the caller keeps one. */
  eventLoopDelay?: EventLoopDelayFigures;
}

const startTimeSeconds = Date.now() / 1000 - process.uptime();

/** The process's memory and open descriptors, now: what a leak of frames or sockets would show in. */
export function processFigures(eventLoop?: EventLoopDelay): ProcessFigures {
  const memory = process.memoryUsage();
  let openFds: number | undefined;
  try {
    // One entry per descriptor; the listing itself opens one more, which is left out.
    openFds = readdirSync('/proc/self/fd').length - 1;
  } catch {
    openFds = undefined;
  }
  const eventLoopDelay = eventLoop?.figures();
  return { residentBytes: memory.rss, heapUsedBytes: memory.heapUsed, externalBytes: memory.external, openFds, startTimeSeconds, ...(eventLoopDelay ? { eventLoopDelay } : {}) };
}

export interface EventLoopDelayFigures {
  p50Seconds: number;
  p99Seconds: number;
  maxSeconds: number;
}

/**
 * How late the event loop ran its timers, over fixed windows: the last
 * complete window is what a scrape sees, so every scraper gets the same
 * figures and a quiet minute is not diluted by a busy hour. Everything live
 * (sockets, decoder and encoder completions, WHEP sends) waits for the loop,
 * so a high p99 here is added latency for every stream.
 */
export class EventLoopDelay {
  private readonly histogram: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private last?: EventLoopDelayFigures;

  constructor(windowMs = 10_000) {
    this.histogram = monitorEventLoopDelay({ resolution: 2 });
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.last = this.current();
      this.histogram.reset();
    }, windowMs);
    this.timer.unref();
  }

  /** The last complete window's figures (before the first ends: the time so far; none before any sample). */
  figures(): EventLoopDelayFigures | undefined {
    return this.last ?? (this.histogram.count > 0 ? this.current() : undefined);
  }

  private current(): EventLoopDelayFigures {
    const h = this.histogram;
    return { p50Seconds: h.percentile(50) / 1e9, p99Seconds: h.percentile(99) / 1e9, maxSeconds: h.max / 1e9 };
  }

  [Symbol.dispose](): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  /** The same as disposing it. */
  close(): void {
    this[Symbol.dispose]();
  }
}
