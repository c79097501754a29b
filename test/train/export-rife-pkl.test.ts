import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FrameModel } from '../../src/engine/model/frame-model.js';
import { loadModel } from '../../src/engine/model/load-model.js';
import { REPO, tempDir } from '../helpers.js';

const PYTHON = '/usr/bin/python3';
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

// A stand-in for a Practical-RIFE checkout: its module layout (train_log/IFNet_HDv3.py importing
// train_log.warplayer), IFNet's call signature and return value, and weights saved through DataParallel
// (`module.` prefixes). Its "network" is a blend plus one learned offset, so the exported graph's answer is known.
const IFNET = `
import torch
from train_log.warplayer import offset

class IFNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, timestep=0.5, scale_list=[8, 4, 2, 1], training=False):
        img0, img1 = x[:, :3], x[:, 3:6]
        timestep = timestep.repeat(1, 1, x.shape[2], x.shape[3]) if torch.is_tensor(timestep) else x[:, :1] * 0 + timestep
        merged = offset(img0 * (1 - timestep) + img1 * timestep, self.gain)
        return [None] * 4, None, [merged * 0, merged]
`;

test('a Practical-RIFE checkpoint exports to the frame contract with its card, and the engine runs it', async (t) => {
  if (!hasTorch) return t.skip(`no ${PYTHON} with torch (train/setup.sh)`);
  const dir = tempDir(t);
  const logDir = join(dir, 'rife', 'train_log');
  mkdirSync(logDir, { recursive: true });
  writeFileSync(join(logDir, 'IFNet_HDv3.py'), IFNET);
  writeFileSync(join(logDir, 'warplayer.py'), 'def offset(x, gain):\n    return x + gain\n');
  execFileSync(PYTHON, ['-c', `import torch; torch.save({'module.gain': torch.tensor([0.25])}, ${JSON.stringify(join(logDir, 'flownet.pkl'))})`]);
  const out = join(dir, 'rife-v4.onnx');
  execFileSync(PYTHON, [join(REPO, 'train', 'export_rife_pkl.py'), '--rife', join(dir, 'rife'), '--out', out], { env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, stdio: 'pipe' });
  const card = JSON.parse(readFileSync(join(dir, 'rife-v4.json'), 'utf8')) as { name: string; padMultiple: number };
  assert.deepEqual([card.name, card.padMultiple], ['rife-v4', 64]);

  const model = await loadModel(out);
  t.after(() => model[Symbol.asyncDispose]());
  assert.ok(model instanceof FrameModel, 'the contract of a model that makes the frame');
  const [w, h] = [128, 64];
  const plane = (value: number) => new Float32Array(3 * w * h).fill(value);
  const image = (data: Float32Array) => ({ width: w, height: h, paddedWidth: w, paddedHeight: h, data });
  const { frame } = await model.interpolate(image(plane(0.2)), image(plane(0.6)), 0.25);
  // 0.75 * 0.2 + 0.25 * 0.6 = 0.3, plus the loaded weight's 0.25 (zero had the weights not loaded).
  for (const v of [frame.data[0]!, frame.data[frame.data.length - 1]!]) assert.ok(Math.abs(v - 0.55) < 1e-5, `frame value ${v}`);
  // A bad checkout is one clear line, not an export.
  const bad = spawnSync(PYTHON, [join(REPO, 'train', 'export_rife_pkl.py'), '--rife', dir, '--out', join(dir, 'x.onnx')], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /^.*: not a Practical-RIFE checkout \(train_log\/IFNet_HDv3.py\)/);
  assert.doesNotMatch(bad.stderr, /Traceback/);
});
