import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/**
 * The repository root, where `models/`, `web/` and the native addons'
 * `build/Release/` live. This file runs from `dist/src/base/`, so the root is
 * three levels up; everything else asks here instead of counting `../`.
 */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A path under the repository root. */
export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}
