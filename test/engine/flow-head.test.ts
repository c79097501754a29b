import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { evaluate } from '../../src/eval/evaluate.js';
import { DEFAULT_FLOW_HEAD, SemanticStage } from '../../src/engine/semantic-stage.js';
import { createSynthesizer } from '../../src/engine/create-interpolator.js';
import { FlowHead } from '../../src/engine/flow-head.js';
import { EVAL, REPO } from '../helpers.js';

test('the flow head corrects the quality model\'s flows from the semantic features: it runs in eval and changes the result', async () => {
  const set = join(EVAL, 'middlebury_other');
  const plain = await evaluate(set, { kind: 'model', modelPath: 'quality', semantic: true });
  const corrected = await evaluate(set, { kind: 'model', modelPath: 'quality', semantic: true, flowCorrection: true });
  const [p, c] = [plain.sets.middlebury_other!, corrected.sets.middlebury_other!];
  assert.equal(c.n, 12);
  assert.ok(Number.isFinite(c.psnr) && c.psnr > 20, `${c.psnr}`);
  // The head is trained (not the zero-initialised identity): the frames differ.
  assert.notEqual(c.psnr, p.psnr);
});

test('flow correction needs a flow model, and a head file that is one', async () => {
  const stage = await SemanticStage.create({ semantic: true, flowCorrection: true });
  const blend = await createSynthesizer({ kind: 'blend' });
  try {
    assert.throws(() => stage.attach(blend), /flow correction needs a flow model \(such as quality\); blend has no flows to correct/);
  } finally {
    await blend.close();
    await stage.close();
  }
  await assert.rejects(FlowHead.create(join(REPO, 'models/quality.onnx')), /not a flow-correction head: missing input\(s\) flow, mask, patches0, patches1/);
  await assert.rejects(FlowHead.create(DEFAULT_FLOW_HEAD.replace('flow-head', 'no-such-head')), /flow-correction head not found/);
});
