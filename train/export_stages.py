#!/usr/bin/env python3
"""Export a shipped flow-only IFNet as one ONNX graph per IFBlock, holding only the block's convolutions,
for the engine's parted session.

  /usr/bin/python3 train/export_stages.py --name fast --ckpt ~/.cache/frc/ckpt/live/step42000.pt

(train/import_onnx.py rebuilds that checkpoint from the shipped models/<name>.onnx where it is missing.)

Why: at the engine's working sizes ONNX Runtime spent about half of each block's time outside its
convolutions: the warp between blocks (GridSample), the matching cost, the soft-argmin matcher, the
pooled pair, the concatenations, the resizes and the Lucas-Kanade steps, a few hundred small nodes, each a
pass over memory and a kernel launch. The engine does all of that natively between the part runs
(src/engine/native/ifblock.c, lk-refine.c; bench/RESULTS.md, "Network alone"); a part is the block's
convolutions and nothing else.

The parts' contract (src/engine/runtime/parted-session.ts runs it):
  input   block_in   [1, C, h, w]   the block's input at its scale (h x w = the working size / scale)
  output  block_out  [1, 5, h/2, w/2]  its transposed convolution: flows and mask logit to add, before
                                    the upsampling; or [1, 1, h/2, w/2], the mask logit alone, for a first
                                    block whose flows the Lucas-Kanade pyramid replaces
block_in's channels, in order (ifnet_infer.InferIFNet.block):
  first block   the pair pooled to its scale (6), a plane of t, the matching cost of the grey pair
                ((2 r + 1)^2 planes)
  later blocks  the pair pooled (6), the pair warped by the running flows pooled to its scale (6), the
                pooled mask logit, a plane of t, the pooled flows (4, in pixels of that scale), the
                matching cost of the warped pair made grey
  then planes of t up to C (zero weights: C a multiple of 8 runs in ONNX Runtime's blocked layout).
After a part the engine adds up(block_out, 2) plus the matcher's displacement (a first block whose
flows the pyramid replaces has none), upsampled by the block's scale (flows times it), to the running
flows and mask logit at the working resolution, then takes the block's Lucas-Kanade steps; the first
block starts from zero, or from the pyramid's flows. The result, flows and sigmoid of the logit, is
the single graph's (checked here in PyTorch before anything is written, and by
test/engine/runtime/parted-session.test.ts on the files).

The card (<name>.json, which must exist) gets "stages": the files, in order; "blocks": per block
its scale, block_in's channels, the cost radius, and the matcher's window and inverse temperature;
"lk": the steps after each block; "lkPyramid": {"pools": [...], "steps": n}.
"""
import argparse, json, os, sys
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ifnet  # noqa: E402
import ifnet_infer  # noqa: E402
from export_onnx import apply_lk, load_frames  # noqa: E402


class Body(torch.nn.Module):
    """InferIFNet.block i's convolutions: block_in -> block_out."""

    def __init__(self, inf, i, mask_only):
        super().__init__()
        self.inf, self.i, self.mask_only = inf, i, mask_only

    def forward(self, x):
        blk = self.inf.blocks[self.i]
        f = blk.conv0[1](blk.conv0[0][1](self.inf.first[self.i](x)))
        f = blk.body(f) + f
        if self.mask_only:  # the mask channel of the last layer alone: the engine replaces the flows (the pyramid's)
            last = blk.last
            return F.conv_transpose2d(f, last.weight[:, 4:5], last.bias[4:5], last.stride, last.padding)
        return blk.last(f)


def mask_only(inf, i):
    return i == 0 and bool(inf.lk_pyramid)


def block_input(inf, i, p, t, fm):
    """What the engine feeds part i (block_in), and the matching cost inside it."""
    tp = torch.ones_like(p[:, :1]) * t
    if fm is None:
        cost = inf.cost(inf.grey(p), inf.r0, inf.k0)
        x = [p, tp, cost]
    else:
        fs = inf.pooled_flow(fm, inf.scales[i])
        wab = inf.warp_pair(p, fs)
        cost = inf.cost(inf.grey(wab), inf.r1, inf.k1)
        x = [p, wab, fs[:, 4:5], tp, fs[:, :4], cost]
    return torch.cat(x + [tp] * inf.extra[i], 1), cost


def block_output(inf, i, p, t, fm, out, cost):
    """The running flows and mask logit after part i, as the engine computes them from block_out."""
    s = inf.scales[i]
    if mask_only(inf, i):
        return torch.cat([inf.pyramid_flow(p, t), ifnet.up(ifnet.up(out, 2), s)], 1)
    o = ifnet.up(out, 2) + inf.match(i, cost, inf.coefficients(t))
    if s > 1:
        o = ifnet.up(o, s) * torch.tensor([float(s)] * 4 + [1.0]).reshape(1, 5, 1, 1)
    fm = o if fm is None else fm + o
    return inf.lk(i, p, fm, t) if inf.lk_steps[i] else fm


def run_chain(inf, a, b, t, record=None):
    """The parts in order with the engine's work between them written in PyTorch: must equal inf(a, b, t).
    record(i, block_in) sees each part's input."""
    ab = torch.cat([a, b], 1)
    fm = None
    for i, s in enumerate(inf.scales):
        p = ifnet.pool(ab, s)
        x, cost = block_input(inf, i, p, t, fm)
        if record:
            record(i, x)
        fm = block_output(inf, i, p, t, fm, Body(inf, i, mask_only(inf, i))(x), cost)
    return fm[:, :4], torch.sigmoid(fm[:, 4:5])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--name', default='fast', help='models/<name>.json must exist; writes models/<name>.s<i>.onnx')
    ap.add_argument('--ckpt', required=True, help='the checkpoint the shipped <name>.onnx came from')
    ap.add_argument('--out-dir', default=os.path.join(ROOT, 'models'))
    args = ap.parse_args()
    torch.set_num_threads(2)
    card_path = os.path.join(args.out_dir, f'{args.name}.json')
    card = json.load(open(card_path))
    net, ck = ifnet.load_student(args.ckpt)
    if card.get('training', {}).get('steps') not in (None, int(ck['step'])):
        sys.exit(f'{card_path} was trained {card["training"]["steps"]} steps, {args.ckpt} {ck["step"]}')
    # the Lucas-Kanade settings the card was exported with (export_onnx.py --lk, --lk-pyramid)
    apply_lk(net, ck, card.get('config', {}).get('lk'), card.get('config', {}).get('lk_pyramid'))
    inf = ifnet_infer.InferIFNet(net).eval()
    assert not (inf.lk_pyramid and inf.lk_steps[0]), "the engine runs the pyramid or steps after the first block, not both"
    assert not any(inf.window), 'the engine\'s matcher has no local window (ifnet.local_window)'
    n = len(inf.blocks)
    m = 4 * max(net.scales)
    with torch.no_grad():
        for (h, w) in ((6 * m, 10 * m), (4 * m, 5 * m)):
            a, b = load_frames(h, w)
            t = torch.full((1, 1, 1, 1), 0.3)
            ref, got = inf(a, b, t), run_chain(inf, a, b, t)
            err = max((ref[0] - got[0]).abs().max().item(), (ref[1] - got[1]).abs().max().item())
            if err > 1e-4:
                sys.exit(f'the parts differ from the network by {err} at {h}x{w}')
            print(f'parts = network at {h}x{w} (max abs diff {err:.1e})')

        a, b = load_frames(6 * m, 10 * m)
        inputs = {}
        run_chain(inf, a, b, torch.full((1, 1, 1, 1), 0.5), lambda i, x: inputs.setdefault(i, x))
        files, blocks = [], []
        for i in range(n):
            files.append(f'{args.name}.s{i}.onnx')
            torch.onnx.export(Body(inf, i, mask_only(inf, i)), (inputs[i],), os.path.join(args.out_dir, files[-1]),
                              opset_version=16, input_names=['block_in'], output_names=['block_out'],
                              dynamic_axes={'block_in': {2: 'h', 3: 'w'}, 'block_out': {2: 'h2', 3: 'w2'}},
                              do_constant_folding=True)
            blocks.append({'scale': inf.scales[i], 'channels': int(inputs[i].shape[1]), 'radius': inf.r0 if i == 0 else inf.r1,
                           'smooth': inf.smooth[i], 'invT': float(getattr(inf, f'inv_t{i}'))})
    card['stages'] = files
    card['blocks'] = blocks
    if any(inf.lk_steps):
        card['lk'] = list(inf.lk_steps)
    else:
        card.pop('lk', None)
    if inf.lk_pyramid:
        scales, steps = inf.lk_pyramid
        card['lkPyramid'] = {'pools': [s // inf.scales[0] for s in scales], 'steps': steps}
    else:
        card.pop('lkPyramid', None)
    if card != json.load(open(card_path)):  # left alone otherwise: a hand-edited card keeps its layout
        with open(card_path, 'w') as f:
            json.dump(card, f, indent=2)
            f.write('\n')
    sizes = ', '.join(f'{x} {os.path.getsize(os.path.join(args.out_dir, x)) / 1e6:.2f} MB' for x in files)
    print(f'wrote {sizes}; {card_path} lists them')


if __name__ == '__main__':
    main()
