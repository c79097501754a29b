// Verify an exported model with onnxruntime-node against PyTorch outputs written by
// export_onnx.py --verify, and time it (2 intra-op threads). Usage: node train/verify_onnx.cjs cases.json
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function load(dir, name, dims) {
  const buf = fs.readFileSync(path.join(dir, name));
  const arr = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return new ort.Tensor('float32', Float32Array.from(arr), dims);
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const threads = Number(process.env.ORT_THREADS || 2);
  const sess = await ort.InferenceSession.create(spec.model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  console.log('inputs', sess.inputNames, 'outputs', sess.outputNames);
  let ok = true;
  for (const c of spec.cases) {
    const feeds = {
      img0: load(spec.dir, `${c.name}_img0.bin`, [1, 3, c.h, c.w]),
      img1: load(spec.dir, `${c.name}_img1.bin`, [1, 3, c.h, c.w]),
      timestep: load(spec.dir, `${c.name}_timestep.bin`, [1, 1, 1, 1]),
    };
    const out = await sess.run(feeds);
    const ref = {
      frame: load(spec.dir, `${c.name}_frame.bin`, [1, 3, c.h, c.w]),
      flow: load(spec.dir, `${c.name}_flow.bin`, [1, 4, c.fh, c.fw]),
      mask: load(spec.dir, `${c.name}_mask.bin`, [1, 1, c.fh, c.fw]),
    };
    const res = {};
    for (const k of ['frame', 'flow', 'mask']) {
      const a = out[k].data, b = ref[k].data;
      if (a.length !== b.length) { ok = false; res[k] = `shape mismatch ${out[k].dims} vs ${ref[k].dims}`; continue; }
      let m = 0;
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
      res[k] = { dims: out[k].dims.join('x'), maxAbsDiff: Number(m.toExponential(3)) };
      if (!(m < 1e-3)) ok = false;
    }
    const times = [];
    const reps = c.h >= 700 ? 10 : 20;
    for (let r = 0; r < reps + 2; r++) {
      const t0 = process.hrtime.bigint();
      await sess.run(feeds);
      const dt = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r >= 2) times.push(dt);
    }
    times.sort((x, y) => x - y);
    const median = times[Math.floor(times.length / 2)];
    console.log(JSON.stringify({ case: c.name, threads, ...res, ortMedianMs: Number(median.toFixed(1)),
      ortMinMs: Number(times[0].toFixed(1)), torchMs: c.torch_ms }));
  }
  console.log(ok ? 'VERIFY OK (max abs diff < 1e-3)' : 'VERIFY FAILED');
  process.exit(ok ? 0 : 1);
}
main().catch((e) => { console.error(e); process.exit(2); });
