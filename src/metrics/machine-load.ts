import { cpus } from 'node:os';

/** The machine's CPU time so far, summed over its cores (ms). */
export interface CpuTimes {
  idle: number;
  total: number;
}

export function cpuTimes(): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const { times } of cpus()) {
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

/** The shortest window whose idle share means something (ms of every core). */
const MIN_WINDOW_MS = 500;

/** Cores' worth of idle time between two readings (0 when no time passed). */
export function idleCoresBetween(before: CpuTimes, after: CpuTimes, cores: number): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  return (cores * (after.idle - before.idle)) / total;
}

/**
 * How many cores of the machine were idle over the last few seconds: what a
 * new stream's encoder may be sized to (encoder-sizing.ts). Everything else
 * on the machine counts, the publisher's own encoder included when it runs
 * here, which is why it reads the whole machine and not this process.
 */
export class MachineLoad implements Disposable {
  private readonly cores = cpus().length;
  private readonly readings: CpuTimes[] = [cpuTimes()];
  private readonly timer: NodeJS.Timeout;

  constructor(
    everyMs = 1000,
    private readonly keep = 5,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  /**
   * Idle cores over the readings kept (up to `keep` × `everyMs`). Until half
   * a second has passed there is no telling: all of them.
   */
  idleCores(): number {
    const now = cpuTimes();
    const first = this.readings[0]!;
    return (now.total - first.total) / this.cores >= MIN_WINDOW_MS ? idleCoresBetween(first, now, this.cores) : this.cores;
  }

  private sample(): void {
    this.readings.push(cpuTimes());
    if (this.readings.length > this.keep) this.readings.shift();
  }

  [Symbol.dispose](): void {
    clearInterval(this.timer);
  }

  /** The same as disposing it. */
  close(): void {
    this[Symbol.dispose]();
  }
}
