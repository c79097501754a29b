#!/usr/bin/env python3
"""Export a shipped flow-only IFNet as one ONNX graph per IFBlock, for the engine's staged runner.

  /usr/bin/python3 train/export_stages.py --name fast --ckpt ~/.cache/frc/ckpt/live/step7000.pt

Why: the two warps between the blocks are ONNX Runtime's GridSample, ~40 ns per sample on this CPU
and about a quarter of the network's time at 720p (160x96 input). Cut the graph at the warps and the
engine does them natively between stage runs (src/engine/native/warp-pair.c, a few ns per sample);
everything else is the same function with the same weights (ifnet_infer.InferIFNet).

The stages' contract (src/engine/staged-session.ts runs it):
  stage 0      inputs  img0, img1, timestep
  stage i > 0  inputs  img0, img1, timestep, flow_mask, pair_flow, warped_pair
  stage i < last outputs next_flow_mask, next_pair, next_pair_flow
  last stage   outputs flow, mask (as the single graph)
where flow_mask is the 5-channel running flow + mask logit at the working resolution, next_pair the
two frames pooled to the next block's scale, next_pair_flow the running flow + mask pooled to it, and
the engine feeds warped_pair = each frame of next_pair backward-warped by its flow in next_pair_flow
(channels 0-1 frame 0, 2-3 frame 1; bilinear, align_corners=False, border), i.e.
InferIFNet.warp_pair. The card (<name>.json, which must exist) gets "stages": the files, in order.

A network with Lucas-Kanade steps (ifnet.lk_refine) has them done natively as well
(src/engine/native/lk-refine.c): a stage after which they run also outputs
  lk_pair      the grey frame pair at its block's scale [1,2,h,w]
  lk_flow      the running flows pooled to that scale [1,4,h,w]
and the engine refines lk_flow, adds the change (upsampled to the working resolution) to
next_flow_mask (or to the last stage's flow), pools next_pair_flow from it again and only then warps.
The card gets "lk": the steps after each stage.

A network whose first block takes its flows from a Lucas-Kanade pyramid (ifnet.lk_pyramid_flow) has
that done natively too: inside the graph its dozen steps on tiny images were ~40 % of the first
stage's time (GridSample and a few hundred small nodes). Stage 0 then also outputs
  pyramid_pair the grey frame pair at the first block's scale [1,2,h,w]
and the engine replaces the flows of its next_flow_mask with the pyramid's (from zero flow, `steps`
steps at pyramid_pair average-pooled by each of `pools` in turn, doubled bilinearly between them,
upsampled to the working resolution at the end), keeping the mask logit, then pools all of
next_pair_flow (flows and mask) again from it. So that stage 0 leaves out the block's own flows:
next_flow_mask carries zero flows and the block's mask logit, next_pair_flow zeros
(ifnet_infer.InferIFNet.mask_only; the matcher and the flow channels were a large share of its time:
bench/RESULTS.md, "Leaner part graphs and faster kernels"), and the engine refuses a stage 0 with pyramid_pair unless the card has the pyramid.
The card gets "lkPyramid": {"pools": [...], "steps": n}.
"""
import argparse, json, os, sys
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ifnet  # noqa: E402
import ifnet_infer  # noqa: E402
from export_onnx import apply_lk, load_frames  # noqa: E402


class Stage(torch.nn.Module):
    """InferIFNet.block i, from its inputs up to (not including) the next block's warp."""

    def __init__(self, inf, i):
        super().__init__()
        self.inf, self.i = inf, i

    def forward(self, img0, img1, t, *rest):
        inf, i = self.inf, self.i
        ab = torch.cat([img0, img1], 1)
        s = inf.scales[i]
        p = ifnet.pool(ab, s)
        fm = inf.block(i, p, t, inf.coefficients(t), *rest, lk=False, pyramid=False)
        lk = ()
        if inf.lk_steps[i]:  # what the engine's Lucas-Kanade steps need
            lk = (inf.grey(p), inf.pooled_flow(fm, s)[:, :4])
        if i == 0 and inf.lk_pyramid:  # what the engine's pyramid needs
            lk = lk + (inf.grey(p),)
        if i == len(inf.blocks) - 1:
            return (fm[:, :4], torch.sigmoid(fm[:, 4:5])) + lk
        sn = inf.scales[i + 1]
        pn = ifnet.pool(ab, sn)
        # after the pyramid the engine pools all of next_pair_flow again (flows and mask): zeros will do
        fsn = torch.zeros_like(pn[:, :5]) if i == 0 and inf.lk_pyramid else inf.pooled_flow(fm, sn)
        return (fm, pn, fsn) + lk


def engine_pyramid(inf, out, t):
    """What the engine does after stage 0 when the first block's flows come from the Lucas-Kanade pyramid:
    the running flows replaced by the pyramid's, the next block's pooled flows taken again."""
    if not inf.lk_pyramid:
        return out
    *main, pair = out
    scales, steps = inf.lk_pyramid
    s0 = inf.scales[0]
    f = None
    for k, s in enumerate(scales):
        gs = ifnet.pool(pair, s // s0)
        f = torch.zeros_like(gs.repeat(1, 2, 1, 1)) if f is None else ifnet.up(f, scales[k - 1] // s) * float(scales[k - 1] // s)
        f = ifnet.lk_refine(gs[:, :1], gs[:, 1:], f, t, steps)
    f = ifnet.up(f, scales[-1]) * float(scales[-1])
    fm = torch.cat([f, main[0][:, 4:5]], 1)
    return (fm, main[1], inf.pooled_flow(fm, inf.scales[1])) + tuple(main[3:])


def engine_lk(inf, i, out, t):
    """What the engine does after stage i when the network has Lucas-Kanade steps there: the stage's
    outputs with the steps applied (ifnet.lk_refine on lk_flow, the change upsampled into the running
    flows, the next block's pooled flows taken again)."""
    if not inf.lk_steps[i]:
        return out
    *main, grey, f = out
    s = inf.scales[i]
    delta = ifnet.lk_refine(grey[:, :1], grey[:, 1:], f, t, inf.lk_steps[i]) - f
    delta = ifnet.up(delta, s) * float(s) if s > 1 else delta
    if i == len(inf.blocks) - 1:
        return (main[0] + delta, main[1])
    fm = torch.cat([main[0][:, :4] + delta, main[0][:, 4:5]], 1)
    return (fm, main[1], inf.pooled_flow(fm, inf.scales[i + 1]))


def run_chain(inf, a, b, t):
    """The stages in order with PyTorch's grid_sample as the warp (and ifnet.lk_refine as the engine's
    Lucas-Kanade steps): must equal inf(a, b, t)."""
    out = engine_lk(inf, 0, engine_pyramid(inf, Stage(inf, 0)(a, b, t), t), t)
    for i in range(1, len(inf.blocks)):
        fm, pn, fsn = out
        out = engine_lk(inf, i, Stage(inf, i)(a, b, t, fm, fsn, inf.warp_pair(pn, fsn)), t)
    return out


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
    n = len(inf.blocks)
    m = 4 * max(net.scales)
    with torch.no_grad():
        for (h, w) in ((6 * m, 10 * m), (4 * m, 5 * m)):
            a, b = load_frames(h, w)
            t = torch.full((1, 1, 1, 1), 0.3)
            ref, got = inf(a, b, t), run_chain(inf, a, b, t)
            err = max((ref[0] - got[0]).abs().max().item(), (ref[1] - got[1]).abs().max().item())
            if err > 1e-4:
                sys.exit(f'the stages differ from the network by {err} at {h}x{w}')
            print(f'stages = network at {h}x{w} (max abs diff {err:.1e})')

        a, b = load_frames(6 * m, 10 * m)
        t = torch.full((1, 1, 1, 1), 0.5)
        hw = {2: 'h', 3: 'w'}
        files, feeds = [], (a, b, t)
        for i in range(n):
            ins = ['img0', 'img1', 'timestep'] + (['flow_mask', 'pair_flow', 'warped_pair'] if i else [])
            last = i == n - 1
            outs = (['flow', 'mask'] if last else ['next_flow_mask', 'next_pair', 'next_pair_flow']) \
                + (['lk_pair', 'lk_flow'] if inf.lk_steps[i] else []) + (['pyramid_pair'] if i == 0 and inf.lk_pyramid else [])
            # every tensor's own dynamic sizes: the levels differ in resolution
            dyn = {k: {2: f'{k}_h', 3: f'{k}_w'} for k in ins[3:] + outs}
            dyn.update({'img0': hw, 'img1': hw})
            if last:
                dyn.update({'flow': hw, 'mask': hw})
            files.append(f'{args.name}.s{i}.onnx')
            torch.onnx.export(Stage(inf, i), feeds, os.path.join(args.out_dir, files[-1]), opset_version=16,
                              input_names=ins, output_names=outs, dynamic_axes=dyn, do_constant_folding=True)
            if not last:
                out = Stage(inf, i)(*feeds)
                fm, pn, fsn = engine_lk(inf, i, engine_pyramid(inf, out, t) if i == 0 else out, t)
                feeds = (a, b, t, fm, fsn, inf.warp_pair(pn, fsn))
    card['stages'] = files
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
    sizes = ', '.join(f'{x} {os.path.getsize(os.path.join(args.out_dir, x)) / 1e6:.2f} MB' for x in files)
    print(f'wrote {sizes}; {card_path} lists them')


if __name__ == '__main__':
    main()
