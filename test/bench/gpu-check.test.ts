import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers.js';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

test('bench/gpu-check.sh times fast, quality and the RIFE-v4.6-architecture graph on webgpu (SwiftShader, tiny size) and skips a provider that does not start', async (t) => {
  if (!existsSync(SWIFTSHADER)) return t.skip(`no SwiftShader Vulkan driver at ${SWIFTSHADER} (Debian's chromium package installs it)`);
  const runtimeDir = mkdtempSync(join(tmpdir(), 'frc-xdg-'));
  t.after(() => rmSync(runtimeDir, { recursive: true, force: true }));
  // The driver for the bench's process only, as on a CI machine without a GPU.
  const env = { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER, XDG_RUNTIME_DIR: runtimeDir };
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(join(REPO, 'bench/gpu-check.sh'), ['--provider', 'webgpu,cuda', '--sizes', '64x64', '--runs', '1', '--warmup', '0'], { env, timeout: 300_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  );
  assert.equal(code, 0, stderr);
  for (const model of ['fast', 'quality', 'rife46']) {
    const row = new RegExp(`^\\| webgpu \\| ${model} \\| 64x64 \\| (\\d+\\.\\d) \\| [\\d.]+ \\| frame to RGB [\\d.]+, network [\\d.]+, .* \\| [\\d.]+ \\|$`, 'm').exec(stdout);
    assert.ok(row && Number(row[1]) > 0, `${model}: ${stdout}`);
  }
  assert.match(stdout, /webgpu on SwiftShader Device \(Subzero\) \(Vulkan\)/);
  // No CUDA here: one line says why, and the table has no cuda rows.
  assert.match(stderr, /^cuda: skipped: provider cuda failed to start/m);
  assert.doesNotMatch(stdout, /^\| cuda \|/m);
});
