#!/usr/bin/env python3
"""The flow-correction head: the "frozen foundation model as a prior" pattern. The interpolator
(IFNet, train.py) and the semantic encoder (DINO ViT, dino.py) are frozen; a small head takes the
interpolator's flows and fusion mask, the two frames at the working resolution and both frames'
patch features, and outputs corrected flows and mask. Only the head trains, on footage triplets
with the Laplacian-pyramid L1 loss of the full-resolution frame it leads to.

Head: each frame's patch features (D = 192, an 8x8 grid for a 64-px input) are reduced to 8
channels by a 1x1 conv and upsampled bilinearly to the working resolution; with the flows (scaled
to ~1), the mask logit, both frames and their difference they go through 3 3x3 conv+PReLU layers
(32 channels) and a zero-initialised 3x3 conv giving the flow and mask-logit corrections, so the
untrained head changes nothing.

  nice -n 5 env OPENBLAS_NUM_THREADS=1 /usr/bin/python3 train/flow_head.py --steps 800 --down 2
  /usr/bin/python3 train/flow_head.py --export      # models/flow-head.onnx + card
"""
import argparse, json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ifnet  # noqa: E402
from data import load_clips, TripletSampler, val_triplets  # noqa: E402
from dino import ViT, MEAN, STD  # noqa: E402
from losses import lap_loss, psnr  # noqa: E402


def logit(p):
    """log(p / (1 - p)), written out: torch.logit does not export at opset 16."""
    p = p.clamp(1e-4, 1 - 1e-4)
    return torch.log(p) - torch.log1p(-p)


class FlowHead(nn.Module):
    def __init__(self, dim=192, grid=8, feat=8, width=32):
        super().__init__()
        self.dim, self.grid = dim, grid
        self.reduce = nn.Conv2d(dim, feat, 1)
        cin = 4 + 1 + 3 + 3 + 3 + 2 * feat
        self.body = nn.Sequential(nn.Conv2d(cin, width, 3, 1, 1), nn.PReLU(width), nn.Conv2d(width, width, 3, 1, 1), nn.PReLU(width),
                                  nn.Conv2d(width, width, 3, 1, 1), nn.PReLU(width))
        self.out = nn.Conv2d(width, 5, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, flow, mask, img0, img1, patches0, patches1):
        """flow [B,4,h,w] (pixels of h,w), mask [B,1,h,w] (sigmoid, weight of img0), img0/img1 [B,3,h,w]
        in 0..1, patches [B,N,D] with N a square grid. Returns corrected flow and mask (sigmoid)."""
        h, w = flow.shape[-2:]

        def feats(p):
            grid = p.transpose(1, 2).reshape(-1, self.dim, self.grid, self.grid)
            return F.interpolate(self.reduce(grid), size=(h, w), mode='bilinear', align_corners=False)

        m = logit(mask)
        x = torch.cat([flow / 8.0, m, img0, img1, img1 - img0, feats(patches0), feats(patches1)], 1)
        o = self.out(self.body(x))
        return flow + 8.0 * o[:, :4], torch.sigmoid(m + o[:, 4:5])


def load_frozen(ifnet_ckpt, dino_ckpt):
    ck = torch.load(ifnet_ckpt, map_location='cpu')
    net = ifnet.IFNet(**ck['cfg'], teacher=False)
    net.load_state_dict({k: v for k, v in ck['model'].items() if not k.startswith('teacher')})
    dk = torch.load(dino_ckpt, map_location='cpu')
    vit = ViT(**dk['vit'])
    vit.load_state_dict({k[len('vit.'):]: v for k, v in dk['teacher'].items() if k.startswith('vit.')})
    for m in (net, vit):
        m.eval()
        for p in m.parameters():
            p.requires_grad = False
    return net, vit, ck['step'], dk['step'], dk['vit']


def patches(vit, img, size):
    """The encoder's patch tokens of whole frames resized to size x size, as the engine feeds it."""
    x = F.interpolate(img, size=(size, size), mode='area')
    return vit((x - MEAN) / STD)[:, 1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ifnet', default=os.path.expanduser('~/.cache/frc/ckpt/live/best.pt'))
    ap.add_argument('--dino', default=os.path.expanduser('~/.cache/frc/ckpt/dino/latest.pt'))
    ap.add_argument('--down', type=int, default=2, help='working resolution of the interpolator it corrects')
    ap.add_argument('--interpolator', default='frc-ifnet-quality', help='card name of the interpolator it corrects (the engine attaches the head to that model)')
    ap.add_argument('--steps', type=int, default=800)
    ap.add_argument('--batch', type=int, default=6)
    ap.add_argument('--crop', type=int, default=256)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--root', default=os.path.expanduser('~/.cache/frc'))
    ap.add_argument('--export', action='store_true')
    ap.add_argument('--out', default=os.path.join(ROOT, 'models', 'flow-head.onnx'))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ckdir = os.path.join(args.root, 'ckpt', 'flow-head')
    os.makedirs(ckdir, exist_ok=True)
    latest = os.path.join(ckdir, 'latest.pt')
    net, vit, ifnet_step, dino_step, vit_cfg = load_frozen(args.ifnet, args.dino)
    size = vit_cfg['grid'] * vit_cfg['patch']
    head = FlowHead(dim=vit_cfg['dim'], grid=vit_cfg['grid'])
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-4)
    step, train_time = 0, 0.0
    if os.path.exists(latest):
        ck = torch.load(latest, map_location='cpu')
        head.load_state_dict(ck['head'])
        opt.load_state_dict(ck['opt'])
        step, train_time = ck['step'], ck['train_time']
    if args.export:
        return export(head, args, ifnet_step, dino_step, step, train_time, size)

    def log(msg):
        line = time.strftime('%Y-%m-%d %H:%M:%S ') + msg
        print(line, flush=True)

    clips = load_clips()
    sampler = TripletSampler(clips, crop=args.crop, seed=7 + step)
    vals = val_triplets(clips)
    log(f'head {sum(p.numel() for p in head.parameters())} parameters; interpolator step {ifnet_step}, encoder step {dino_step}, down {args.down}')

    def evaluate():
        head.eval()
        base, corr = 0.0, 0.0
        with torch.no_grad():
            for _, a, gt, b, t in vals:
                out, _ = net.estimate(a, b, t, down=args.down)
                flow, mlogit = out[-1]
                frame0, _, _, _ = net.synth(a, b, flow, mlogit, down=args.down)
                a2, b2 = ifnet.pool(a, args.down), ifnet.pool(b, args.down)
                f2, m2 = head(flow, torch.sigmoid(mlogit), a2, b2, patches(vit, a, size), patches(vit, b, size))
                frame1, _, _, _ = net.synth(a, b, f2, logit(m2), down=args.down)
                base += float(psnr(frame0.clamp(0, 1), gt))
                corr += float(psnr(frame1.clamp(0, 1), gt))
        head.train()
        return base / len(vals), corr / len(vals)

    if step == 0:
        b0, c0 = evaluate()
        log(f'val step 0: interpolator {b0:.3f} dB, with head {c0:.3f} dB')
    while step < args.steps:
        t0 = time.time()
        lr = args.lr * 0.5 * (1 + torch.cos(torch.tensor(3.14159265 * step / args.steps)).item())
        for g in opt.param_groups:
            g['lr'] = lr
        img0, gt, img1, t = sampler.batch(args.batch)
        with torch.no_grad():
            out, _ = net.estimate(img0, img1, t, down=args.down)
            flow, mlogit = out[-1]
            p0, p1 = patches(vit, img0, size), patches(vit, img1, size)
        a2, b2 = ifnet.pool(img0, args.down), ifnet.pool(img1, args.down)
        f2, m2 = head(flow, torch.sigmoid(mlogit), a2, b2, p0, p1)
        frame, _, _, _ = net.synth(img0, img1, f2, logit(m2), down=args.down)
        loss = lap_loss(frame, gt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        opt.step()
        step += 1
        train_time += time.time() - t0
        if step % 25 == 0:
            log(f'step {step} loss {float(loss):.4f} lr {lr:.2e} s/step {time.time() - t0:.2f}')
        if step % 100 == 0 or step == args.steps:
            tmp = latest + '.tmp'
            torch.save({'head': head.state_dict(), 'opt': opt.state_dict(), 'step': step, 'train_time': train_time}, tmp)
            os.replace(tmp, latest)
        if step % 200 == 0 or step == args.steps:
            b0, c0 = evaluate()
            log(f'val step {step}: interpolator {b0:.3f} dB, with head {c0:.3f} dB ({c0 - b0:+.3f})')


class Exported(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, flow, mask, img0, img1, patches0, patches1):
        return self.head(flow, mask, img0, img1, patches0, patches1)


def export_graph(head, size, out):
    """The graph every flow-head.onnx is written with (import_onnx.py reads weights back through it);
    returns the number of patch tokens per frame."""
    head.eval()
    h, w, n = 32, 48, (size // 8) ** 2
    dummy = (torch.zeros(1, 4, h, w), torch.full((1, 1, h, w), 0.5), torch.rand(1, 3, h, w), torch.rand(1, 3, h, w), torch.randn(1, n, 192), torch.randn(1, n, 192))
    torch.onnx.export(Exported(head), dummy, out, opset_version=16,
                      input_names=['flow', 'mask', 'img0', 'img1', 'patches0', 'patches1'], output_names=['flow_out', 'mask_out'],
                      dynamic_axes={k: {2: 'h', 3: 'w'} for k in ('flow', 'mask', 'img0', 'img1', 'flow_out', 'mask_out')})
    return n


def export(head, args, ifnet_step, dino_step, step, train_time, size):
    n = export_graph(head, size, args.out)
    card = {
        'name': 'frc-flow-head',
        'architecture': 'flow-correction head: patch features (1x1 conv to 8 ch each, bilinear to the working resolution) + flows + mask logit + both frames and their difference -> 3 conv3x3+PReLU (32 ch) -> zero-initialised conv3x3 -> flow and mask-logit corrections',
        'params': sum(p.numel() for p in head.parameters()),
        'opset': 16,
        'down': args.down,
        'interpolator': args.interpolator,
        'inputs': {'flow': 'float32 [1,4,h,w] the interpolator\'s F_t->0, F_t->1 (pixels of h,w)', 'mask': 'float32 [1,1,h,w] its sigmoid mask',
                   'img0': 'float32 [1,3,h,w] RGB 0..1 at the flow\'s resolution', 'img1': 'float32 [1,3,h,w]',
                   'patches0': f'float32 [1,{n},192] the semantic encoder\'s patch tokens of frame 0 (models/semantic.onnx at {size}x{size})', 'patches1': 'float32, frame 1'},
        'outputs': {'flow_out': 'float32 [1,4,h,w] corrected flows', 'mask_out': 'float32 [1,1,h,w] corrected mask'},
        'training': {'frozen': {'interpolator': f'models/quality.onnx weights (IFNet live, step {ifnet_step}) at down {args.down}', 'encoder': f'models/semantic.onnx (DINO ViT, step {dino_step})'},
                     'data': 'footage triplets as for the interpolator (train/data.py, training part only)', 'steps': step, 'batch': args.batch, 'crop': args.crop, 'time_s': round(float(train_time)),
                     'loss': 'Laplacian-pyramid L1 of the full-resolution frame'},
        'licence': "model: same as frc; training data: the footage clips' own open licences",
    }
    with open(os.path.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(card, f, indent=2)
    print(f'wrote {args.out} from step {step}')


if __name__ == '__main__':
    main()
