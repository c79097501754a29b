"""A training checkpoint rebuilt from a shipped model: the student's weights read back out of
`models/<name>.onnx` (exported through ifnet_infer.py), a freshly initialised teacher block and a
fresh optimizer, written as `<root>/ckpt/<variant>/latest.pt` so that train.py resumes from it.

Why: checkpoints live outside the repository (~/.cache/frc) and are lost when a session gets a
new machine; the committed ONNX file holds every student weight, so the shipped model is always a
starting point. Pair it with `train.py --restart-at <step>`: the warmup rebuilds AdamW's moments.

    /usr/bin/python3 train/import_onnx.py --onnx models/quality.onnx --val

How the names map (ifnet_infer.InferIFNet): `blocks.*` keep their names; each block's first
convolution is `first.<i>` widened with zero-weight input channels (cut back here); the PReLU slopes
are anonymous initializers, in graph order five per block (conv0's two, then the body's three);
each matcher's temperature is stored as inv_t<i> = exp(-log_t).
"""
import argparse, json, os, sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifnet  # noqa: E402


def student_state(onnx_path, model):
    graph = onnx.load(onnx_path).graph
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    # PReLU slopes in the order the graph uses them (initializer order is not guaranteed)
    slopes, seen = [], set()
    for node in graph.node:
        if node.op_type == 'PRelu' and node.input[1] in inits and node.input[1] not in seen:
            seen.add(node.input[1])
            slopes.append(inits[node.input[1]].reshape(-1))
    want = {k: v for k, v in model.state_dict().items() if not k.startswith('teacher')}
    out = {}
    n_blocks = len(model.blocks)
    assert len(slopes) == 5 * n_blocks, f'{len(slopes)} PReLU slopes in the graph, expected {5 * n_blocks}'
    for i in range(n_blocks):
        cin = want[f'blocks.{i}.conv0.0.0.weight'].shape[1]
        wide = inits[f'first.{i}.weight']
        assert not wide[:, cin:].abs().any(), 'the padding channels of first.%d are not zero' % i
        out[f'blocks.{i}.conv0.0.0.weight'] = wide[:, :cin]
        out[f'blocks.{i}.conv0.0.0.bias'] = inits[f'first.{i}.bias']
        names = [f'blocks.{i}.conv0.0.1.weight', f'blocks.{i}.conv0.1.1.weight'] + \
                [f'blocks.{i}.body.{k}.1.weight' for k in range(3)]
        for name, s in zip(names, slopes[5 * i:5 * i + 5]):
            out[name] = s
        # inv_t of matchers whose value equals another's may be deduplicated by the exporter
        inv_t = inits.get(f'inv_t{i}')
        if inv_t is None:
            raise SystemExit(f'inv_t{i} is not an initializer of {onnx_path}')
        out[f'match.{i}.log_t'] = -torch.log(inv_t.reshape(()))
    for k in want:
        if k not in out and k in inits:
            out[k] = inits[k]
    missing = [k for k in want if k not in out]
    if missing:
        raise SystemExit(f'not found in {onnx_path}: {missing}')
    for k, v in out.items():
        if tuple(v.shape) != tuple(want[k].shape):
            raise SystemExit(f'{k}: shape {tuple(v.shape)} in the graph, {tuple(want[k].shape)} in the network')
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--onnx', default='models/quality.onnx')
    ap.add_argument('--card', default=None, help='model card (default: the .json beside --onnx): step and train_time')
    ap.add_argument('--variant', default='live', choices=list(ifnet.VARIANTS))
    ap.add_argument('--root', default=os.path.expanduser('~/.cache/frc'))
    ap.add_argument('--val', action='store_true', help='run the footage validation on the imported network')
    ap.add_argument('--force', action='store_true', help='overwrite an existing latest.pt')
    args = ap.parse_args()

    card = json.load(open(args.card or os.path.splitext(args.onnx)[0] + '.json'))
    model = ifnet.build(args.variant, teacher=True)
    sd = model.state_dict()
    sd.update(student_state(args.onnx, model))
    model.load_state_dict(sd)
    step = int(card['training']['steps'])
    ckdir = os.path.join(args.root, 'ckpt', args.variant)
    os.makedirs(ckdir, exist_ok=True)
    latest = os.path.join(ckdir, 'latest.pt')
    if os.path.exists(latest) and not args.force:
        raise SystemExit(f'{latest} exists (a run to resume); --force replaces it')

    val = card['training'].get('val_footage_psnr')
    if args.val:
        from data import load_clips, val_triplets
        from train import run_val
        clips = load_clips()
        model.eval()
        for name, vals in (('static', val_triplets(clips)), ('pan24', val_triplets(clips, pan=24))):
            res = {d: run_val(model, vals, down=d)[0] for d in (2, 4)}
            print(f'{name}: mean {np.mean(list(res.values())):.3f} ' + ' '.join(f'@{d} {v:.3f}' for d, v in res.items()),
                  flush=True)
        model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=1e-4)  # train.py's weight decay: a resume keeps these groups
    ck = dict(model=model.state_dict(), opt=opt.state_dict(), step=step, best=(val or {}).get('psnr', -1.0),
              variant=args.variant, cfg=model.cfg, train_time=float(card['training'].get('time_s', 0.0)),
              args=dict(imported_from=args.onnx), val=val)
    torch.save(ck, latest)
    torch.save(ck, os.path.join(ckdir, f'step{step}.pt'))
    print(f'wrote {latest} (step {step}, teacher and optimizer fresh)')


if __name__ == '__main__':
    main()
