import { heapTrimAddon } from './native.js';

let running: Promise<boolean> = Promise.resolve(false);
let waiting: Promise<boolean> | undefined;

/**
 * Gives the C heap's free pages back to the system (glibc's malloc_trim),
 * for after a large teardown such as a live stream's: without it the
 * process keeps most of what each stream freed (see heap-trim.c, and
 * bench/churn.ts for the figures).
 *
 * At most one trim runs and one waits: teardowns that finish while a trim
 * runs share the next one. Resolves true when memory was given back; false
 * also where there is nothing to call (not glibc, or no addon).
 */
export function releaseFreedHeap(): Promise<boolean> {
  waiting ??= running.then(() => {
    waiting = undefined;
    running = (heapTrimAddon()?.trim() ?? Promise.resolve(false)).catch(() => false);
    return running;
  });
  return waiting;
}
