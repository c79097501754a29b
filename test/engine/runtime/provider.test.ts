import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FlowModel } from '../../../src/engine/model/flow-model.js';
import { paddedSize, type RgbImage } from '../../../src/engine/model/interpolator.js';
import { loadModel } from '../../../src/engine/model/load-model.js';
import { DEFAULT_MODEL_PATH } from '../../../src/engine/model/model-choice.js';
import { chooseProvider } from '../../../src/engine/runtime/provider.js';
import { ffmpeg, runCli, tempDir } from '../../helpers.js';

/**
 * The WebGPU provider on Chromium's SwiftShader Vulkan driver, the GPU this
 * CPU-only machine has: it runs the real shaders on the CPU, seconds per
 * call, so the sizes here are tiny. The driver is set for this test process
 * (and the CLI it starts) only; the product never sets it, a user's machine
 * uses its own.
 */
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const runtimeDir = mkdtempSync(join(tmpdir(), 'frc-xdg-'));
chmodSync(runtimeDir, 0o700);
after(() => rmSync(runtimeDir, { recursive: true, force: true }));
const env = { VK_ICD_FILENAMES: SWIFTSHADER, XDG_RUNTIME_DIR: runtimeDir };
Object.assign(process.env, env);

/** Why WebGPU cannot run here at all, or undefined when it can. */
async function unavailable(): Promise<string | undefined> {
  if (!existsSync(SWIFTSHADER)) return `no SwiftShader Vulkan driver at ${SWIFTSHADER} (Debian's chromium package installs it)`;
  const choice = await chooseProvider('webgpu');
  return choice.provider === 'webgpu' ? undefined : choice.warnings.join('; ');
}

test('an explicit webgpu runs on the software adapter and names it; auto never takes a software adapter', async (t) => {
  const reason = await unavailable();
  if (reason) return t.skip(reason);
  const webgpu = await chooseProvider('webgpu');
  assert.deepEqual(webgpu, { provider: 'webgpu', adapter: 'SwiftShader Device (Subzero) (Vulkan)', software: true, warnings: [] });
  assert.deepEqual(await chooseProvider('auto'), { provider: 'cpu', warnings: [] });
});

/** A padded test image whose picture holds a moving ramp and whose padding is zero. */
function image(width: number, height: number, multiple: number, shift: number): RgbImage {
  const paddedWidth = paddedSize(width, multiple);
  const paddedHeight = paddedSize(height, multiple);
  const data = new Float32Array(3 * paddedWidth * paddedHeight);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[(c * paddedHeight + y) * paddedWidth + x] = (Math.sin((x + shift) / 5 + c) * Math.cos(y / 7) + 1) / 2;
  return { width, height, paddedWidth, paddedHeight, data };
}

test("the shipped fast model's network on webgpu matches the CPU provider", async (t) => {
  const reason = await unavailable();
  if (reason) return t.skip(reason);
  // The same single graph on both: on the CPU the engine would otherwise run its parts.
  const gpu = await loadModel(DEFAULT_MODEL_PATH, { provider: 'webgpu' });
  const cpu = await loadModel(DEFAULT_MODEL_PATH, { provider: 'cpu', parts: false });
  t.after(() => Promise.all([gpu[Symbol.asyncDispose](), cpu[Symbol.asyncDispose]()]));
  assert.ok(gpu instanceof FlowModel && cpu instanceof FlowModel);
  const a = image(64, 48, gpu.padMultiple, 0);
  const b = image(64, 48, gpu.padMultiple, 3);
  const [onGpu, onCpu] = [await gpu.flows(a, b, 0.5), await cpu.flows(a, b, 0.5)];
  const worst = (x: Float32Array, y: Float32Array) => x.reduce((w, v, i) => Math.max(w, Math.abs(v - y[i]!)), 0);
  assert.ok(worst(onCpu.flow, new Float32Array(onCpu.flow.length)) > 0.5, 'the pair moves: the flows are not trivially zero');
  assert.ok(worst(onGpu.flow, onCpu.flow) < 1e-3, `flow differs by ${worst(onGpu.flow, onCpu.flow)} px`);
  assert.ok(worst(onGpu.mask, onCpu.mask) < 1e-4, `mask differs by ${worst(onGpu.mask, onCpu.mask)}`);
});

test('frc eval --provider webgpu scores what the CPU scores; a provider that fails to start falls back to the CPU in one line', async (t) => {
  const reason = await unavailable();
  if (reason) return t.skip(reason);
  const sample = join(tempDir(t), 'tiny', 'moving');
  mkdirSync(sample, { recursive: true });
  ['frame0', 'gt', 'frame1'].forEach((name, i) =>
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10', '-vf', `select=eq(n\\,${i})`, '-frames:v', '1', join(sample, `${name}.png`)),
  );
  const dir = join(sample, '..');
  const score = (out: string) => JSON.parse(out) as { interp: string; provider: string; sets: Record<string, { psnr: number }> };
  const cpu = await runCli(['eval', dir, '--json']);
  const gpu = await runCli(['eval', dir, '--json', '--provider', 'webgpu']);
  assert.equal(gpu.code, 0, gpu.stderr);
  assert.match(gpu.stderr, /^frc: inference on webgpu on SwiftShader Device \(Subzero\) \(Vulkan\) \(a software adapter/m);
  assert.equal(score(gpu.stdout).provider, 'webgpu');
  assert.equal(score(cpu.stdout).provider, 'cpu');
  const [psnrGpu, psnrCpu] = [score(gpu.stdout).sets.tiny!.psnr, score(cpu.stdout).sets.tiny!.psnr];
  assert.ok(Math.abs(psnrGpu - psnrCpu) < 0.05, `PSNR ${psnrGpu} on webgpu, ${psnrCpu} on the CPU`);

  // No driver: WebGPU finds no adapter, says so in one warning line, and the CPU scores.
  const broken = await runCli(['eval', dir, '--json', '--provider', 'webgpu'], undefined, { VK_ICD_FILENAMES: '/nonexistent/icd.json' });
  assert.equal(broken.code, 0, broken.stderr);
  const warnings = broken.stderr.split('\n').filter((l) => l.startsWith('frc: warning:'));
  assert.deepEqual(warnings.length, 1, broken.stderr);
  assert.match(warnings[0]!, /provider webgpu failed to start \(.*adapter.*\); running on the CPU$/);
  assert.equal(score(broken.stdout).provider, 'cpu');
  assert.equal(score(broken.stdout).sets.tiny!.psnr, psnrCpu);
});
