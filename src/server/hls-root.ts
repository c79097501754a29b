import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/logger.js';

/**
 * The HLS root a server makes for itself when the operator names none: a
 * new `frc-live-*` directory under the system temp dir, holding the file
 * `owner.pid` with the server's process id. A server that was killed
 * (SIGKILL, OOM) cannot delete its root, so each server, as it starts,
 * deletes the roots whose owner is no longer running (issue #28).
 */
const PREFIX = 'frc-live-';
const OWNER_FILE = 'owner.pid';
/** A root without an owner file (from a version before it, or one being made right now) is deleted only once this old. */
const UNOWNED_AGE_MS = 24 * 3600 * 1000;

/** Makes this server's HLS root, marked as this process's. */
export function makeHlsRoot(dir = tmpdir()): string {
  const root = mkdtempSync(join(dir, PREFIX));
  writeFileSync(join(root, OWNER_FILE), String(process.pid));
  return root;
}

/** Deletes the HLS roots under `dir` whose owning process is gone; returns them. Never throws: cleaning up must not stop a start. */
export function removeStaleHlsRoots(logger: Logger, dir = tmpdir(), now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.startsWith(PREFIX));
  } catch {
    return removed;
  }
  for (const name of names) {
    const root = join(dir, name);
    try {
      if (!stale(root, now)) continue;
      rmSync(root, { recursive: true, force: true });
      removed.push(root);
    } catch (error) {
      logger.warn(`could not remove the stale HLS directory ${root}: ${errorMessage(error)}`);
    }
  }
  if (removed.length > 0) logger.info(`removed ${removed.length} HLS director${removed.length === 1 ? 'y' : 'ies'} left by servers no longer running: ${removed.join(', ')}`);
  return removed;
}

function stale(root: string, now: number): boolean {
  const stats = statSync(root);
  if (!stats.isDirectory()) return false;
  let pid: number;
  try {
    pid = Number(readFileSync(join(root, OWNER_FILE), 'utf8'));
  } catch {
    return now - stats.mtimeMs > UNOWNED_AGE_MS;
  }
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !running(pid);
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
