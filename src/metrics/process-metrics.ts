import { readdirSync } from 'node:fs';

export interface ProcessFigures {
  residentBytes: number;
  heapUsedBytes: number;
  /** Bytes held outside the JS heap by ArrayBuffers and native objects node knows of. */
  externalBytes: number;
  /** Open file descriptors (sockets included), where the OS lets us count them (Linux's /proc). */
  openFds?: number;
  startTimeSeconds: number;
}

const startTimeSeconds = Date.now() / 1000 - process.uptime();

/** The process's memory and open descriptors, now: what a leak of frames or sockets would show in. */
export function processFigures(): ProcessFigures {
  const memory = process.memoryUsage();
  let openFds: number | undefined;
  try {
    // One entry per descriptor; the listing itself opens one more, which is left out.
    openFds = readdirSync('/proc/self/fd').length - 1;
  } catch {
    openFds = undefined;
  }
  return { residentBytes: memory.rss, heapUsedBytes: memory.heapUsed, externalBytes: memory.external, openFds, startTimeSeconds };
}
