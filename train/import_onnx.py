"""Training checkpoints rebuilt from the shipped models, so that training resumes from what is committed:

  * the interpolator: the student's weights read back out of `models/<name>.onnx` (exported through
    ifnet_infer.py), a freshly initialised teacher block and a fresh optimizer, written as
    `<root>/ckpt/<variant>/latest.pt` so that train.py resumes from it;
  * with `--semantic`: the DINO encoder (`models/semantic.onnx`) as the checkpoint flow_head.py takes
    with `--dino`, and the flow heads (`models/flow-head.onnx`, `flow-head-fast.onnx`) as the
    `latest.pt` flow_head.py resumes from.

Why: checkpoints live outside the repository (~/.cache/frc) and are lost when a session gets a
new machine; the committed ONNX files hold every weight, so the shipped models are always a
starting point. Pair the interpolator with `train.py --restart-at <step>`: the warmup rebuilds
AdamW's moments.

    /usr/bin/python3 train/import_onnx.py --onnx models/quality.onnx --val
    /usr/bin/python3 train/import_onnx.py --semantic

How the interpolator's names map (ifnet_infer.InferIFNet): `blocks.*` keep their names; each block's
first convolution is `first.<i>` widened with zero-weight input channels (cut back here); the PReLU
slopes are anonymous initializers, in graph order five per block (conv0's two, then the body's
three); each matcher's temperature is stored as inv_t<i> = exp(-log_t).

The encoder and the heads are read back by fingerprint: the same module, filled with distinct random
values, is exported with the very function that wrote the shipped file; every parameter is then found
among that graph's initializers by its values (the exporter may rename, transpose or reshape it), and
the shipped file's initializer of the same name gives the trained values.
"""
import argparse, json, os, sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifnet  # noqa: E402


def initializers(path):
    return {i.name: numpy_helper.to_array(i).copy() for i in onnx.load(path).graph.initializer}


def by_fingerprint(module, export, shipped_path):
    """module's state dict with the trained values of shipped_path (see the module docstring).
    export(module, path) must be the function that wrote shipped_path."""
    import tempfile
    # Every float of every tensor gets its own integer value (exact in float32 below 2^24, and far from
    # the small constants a graph holds), so each value in the probe graph names one parameter element.
    base, spans = 1_000_000, {}
    with torch.no_grad():
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                spans[k] = (base, base + v.numel())
                v.copy_(torch.arange(base, base + v.numel(), dtype=torch.float32).reshape(v.shape))
                base += v.numel()
    assert base < 2 ** 24
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'probe.onnx')
        export(module, path)
        probe = initializers(path)
    shipped = initializers(shipped_path)
    for name, a in probe.items():
        if name not in shipped or shipped[name].shape != a.shape:
            raise SystemExit(f'{shipped_path} was not written by this exporter: initializer {name} differs')
    out = {}
    for k, v in module.state_dict().items():
        if k not in spans:
            continue
        lo, hi = spans[k]
        flat, seen = np.zeros(hi - lo, np.float32), np.zeros(hi - lo, bool)
        for name, a in probe.items():  # the exporter may rename, transpose, reshape or slice a parameter
            if a.dtype == np.float32 and a.size and a.min() >= lo and a.max() < hi and np.all(a == np.round(a)):
                idx = a.ravel().astype(np.int64) - lo
                flat[idx] = shipped[name].ravel()
                seen[idx] = True
        if not seen.all():
            raise SystemExit(f'{k}: {int((~seen).sum())} of its {seen.size} values are in no initializer of the graph')
        out[k] = torch.from_numpy(flat.reshape(tuple(v.shape)))
    # the round trip: exported again, the imported module must give the shipped file's every initializer
    module.load_state_dict(out, strict=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'again.onnx')
        export(module, path)
        again = initializers(path)
    bad = [n for n, a in shipped.items() if n not in again or not np.array_equal(a, again[n])]
    if bad:
        raise SystemExit(f'exported again, the imported weights differ from {shipped_path} in {bad[:5]}')
    return out


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
        # an exporter that merged equal constants would have dropped it: say so rather than guess
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
    ap.add_argument('--semantic', action='store_true', help='import the encoder and the flow heads instead')
    args = ap.parse_args()
    if args.semantic:
        return import_semantic(args)

    card = json.load(open(args.card or os.path.splitext(args.onnx)[0] + '.json'))
    # the card's matcher windows (config.local, since the twelfth session) and Lucas-Kanade steps (config.lk and
    # config.lk_pyramid, since the fourteenth): no weights, so not found in the graph
    cfg = card.get('config', {})
    model = ifnet.IFNet(**{**ifnet.VARIANTS[args.variant], 'local': cfg.get('local'), 'lk': cfg.get('lk'),
                           'lk_pyramid': cfg.get('lk_pyramid')}, teacher=True)
    sd = model.state_dict()
    sd.update(student_state(args.onnx, model))
    model.load_state_dict(sd)
    # a card that runs other Lucas-Kanade settings than it was trained with keeps the trained ones under
    # training (export_onnx.py --lk, --lk-pyramid): training resumes with those
    from export_onnx import apply_lk
    trained = card['training']
    apply_lk(model, {'cfg': model.cfg}, trained.get('lk'), trained.get('lk_pyramid'))
    model.cfg.update({k: trained[k] for k in ('lk', 'lk_pyramid') if trained.get(k) is not None})
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


def import_semantic(args):
    import re
    from dino import ViT
    from export_dino import export_vit
    from flow_head import FlowHead, export_graph
    models = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models')
    card = json.load(open(os.path.join(models, 'semantic.json')))
    size, patch = card['input']['size'][0], card['input']['patch']
    arch = re.search(r'width (\d+), depth (\d+), (\d+) heads', card['architecture'])
    cfg = dict(patch=patch, dim=int(arch[1]), depth=int(arch[2]), heads=int(arch[3]), grid=size // patch)
    vit = ViT(**cfg)
    sd = by_fingerprint(vit, lambda m, p: export_vit(m, size, p), os.path.join(models, 'semantic.onnx'))
    step = int(card['training']['steps'])
    path = os.path.join(args.root, 'ckpt', 'dino', f'shipped-step{step}.pt')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({'teacher': {'vit.' + k: v for k, v in sd.items()}, 'vit': cfg, 'step': step}, path)
    print(f'wrote {path} (the encoder, for flow_head.py --dino)')
    # where each head's training resumes: flow_head.py --root (train/README.md's commands)
    for name, root in (('flow-head', args.root), ('flow-head-fast', os.path.join(args.root, 'fast-head'))):
        hcard = json.load(open(os.path.join(models, f'{name}.json')))
        head = FlowHead(dim=cfg['dim'], grid=cfg['grid'])
        sd = by_fingerprint(head, lambda m, p: export_graph(m, size, p), os.path.join(models, f'{name}.onnx'))
        head.load_state_dict(sd)
        opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)  # flow_head.py's
        path = os.path.join(root, 'ckpt', 'flow-head', 'latest.pt')
        if os.path.exists(path) and not args.force:
            raise SystemExit(f'{path} exists (a run to resume); --force replaces it')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save({'head': head.state_dict(), 'opt': opt.state_dict(), 'step': int(hcard['training']['steps']),
                    'train_time': float(hcard['training'].get('time_s', 0.0))}, path)
        print(f'wrote {path} ({name}, step {hcard["training"]["steps"]})')


if __name__ == '__main__':
    main()
