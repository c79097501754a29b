import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FOOTAGE, REPO, tempDir } from '../helpers.js';

// train/ is Python (Debian's python3-torch, python3-numpy: train/setup.sh); these tests run it as the trainer does.
const PYTHON = '/usr/bin/python3';
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import numpy, torch'], { stdio: 'ignore' }).status === 0;

function python(script: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(PYTHON, ['-c', script], { cwd: join(REPO, 'train'), env: { ...process.env, OPENBLAS_NUM_THREADS: '1', ...env }, encoding: 'utf8' });
}

test('the validation clips never train: load_clips leaves them out of a frame cache, the sampler refuses them', (t) => {
  if (!hasTorch) return t.skip(`no ${PYTHON} with numpy and torch (train/setup.sh)`);
  const cache = tempDir(t);
  // A frame cache as prep_data.py writes it: one training clip and one held-out clip (splits.py), tiny frames.
  const out = python(
    `
import json, os
import numpy as np
from splits import VALIDATION
cache = os.environ['CACHE']
held = VALIDATION['game'][0]
for name in ('cockatoo_720p20_imageio', held):
    os.makedirs(os.path.join(cache, name))
    np.save(os.path.join(cache, name, 's432.npy'), np.zeros((40, 8, 8, 3), np.uint8))
    json.dump({'name': name, 'full': False, 'fps': 30, 'mad': [1.0] * 39}, open(os.path.join(cache, name, 'meta.json'), 'w'))
import data
print(json.dumps({
    'train': [c.name for c in data.load_clips(cache)],
    'held': held,
}))
try:
    data.TripletSampler([data.Clip(os.path.join(cache, name)) for name in sorted(os.listdir(cache))])
    print('sampler accepted')
except ValueError as err:
    print('sampler refused:', err)
`,
    { CACHE: cache },
  );
  const [first, verdict] = out.trim().split('\n');
  const clips = JSON.parse(first!) as { train: string[]; held: string };
  assert.deepEqual(clips.train, ['cockatoo_720p20_imageio'], `${clips.held} must not train`);
  assert.match(verdict!, /^sampler refused: validation clips must not train/);
});

test('every validation clip names a footage file, so that none is left in training by a misspelling', (t) => {
  if (!hasTorch) return t.skip(`no ${PYTHON} with numpy and torch (train/setup.sh)`);
  if (!existsSync(FOOTAGE)) return t.skip(`no footage at ${FOOTAGE}`);
  const held = JSON.parse(python('import json; from splits import VALIDATION; print(json.dumps(VALIDATION))')) as Record<string, string[]>;
  const footage = new Set(readdirSync(FOOTAGE).map((file) => file.replace(/\.[^.]+$/, '')));
  // One set per content type that #25 asks for, and at least one clip in each.
  assert.deepEqual(Object.keys(held).sort(), ['animation', 'camera', 'game', 'objects', 'screen']);
  for (const [set, clips] of Object.entries(held)) {
    assert.ok(clips.length > 0, set);
    for (const clip of clips) assert.ok(footage.has(clip), `${set}: ${clip} is not in ${FOOTAGE}`);
  }
});

test('the development split names footage files, none held out and none that trained the shipped weights', (t) => {
  if (!hasTorch) return t.skip(`no ${PYTHON} with numpy and torch (train/setup.sh)`);
  if (!existsSync(FOOTAGE)) return t.skip(`no footage at ${FOOTAGE}`);
  const { development, held } = JSON.parse(
    python('import json; from splits import DEVELOPMENT, HELD_OUT; print(json.dumps({"development": DEVELOPMENT, "held": sorted(HELD_OUT)}))'),
  ) as { development: Record<string, string[]>; held: string[] };
  const footage = new Set(readdirSync(FOOTAGE).map((file) => file.replace(/\.[^.]+$/, '')));
  // What trained the shipped weights: the data their card lists.
  const card = JSON.parse(readFileSync(join(REPO, 'models', 'fast.json'), 'utf8')) as { licence_of_data: { file: string }[] };
  const trained = card.licence_of_data.map((d) => d.file.replace(/^footage\//, '').replace(/\.[^.]+$/, ''));
  assert.ok(trained.length > 0);
  const clips = Object.values(development).flat();
  assert.ok(clips.length > 0);
  for (const clip of clips) {
    assert.ok(footage.has(clip), `${clip} is not in ${FOOTAGE}`);
    assert.ok(!held.includes(clip), `${clip} is held out for validation`);
    assert.ok(!trained.includes(clip), `${clip} trained the shipped weights`);
  }
});
