#!/usr/bin/env python3
"""PSNR of an IFNet checkpoint at the footage's native 720p (or, with --small, at short side 432) for several working scales, on held-out
FOOTAGE triplets (never eval/): what a model card's `maxInputPixels` (a smaller working resolution
for large frames) costs. The frames are reduced with area averaging to round(H/down) x round(W/down),
as the engine's swscale does, padded to 16, and the flow upsampled to full resolution for the warp.

  /usr/bin/python3 train/val_scale.py --ckpt ~/.cache/frc/ckpt/live/step4000.pt --downs 4 8
"""
import argparse, os, sys
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifnet  # noqa: E402
from data import load_clips  # noqa: E402
from losses import psnr  # noqa: E402


def synth(net, a, b, t, down):
    H, W = a.shape[2:]
    h, w = round(H / down), round(W / down)
    ra, rb = [F.interpolate(x, size=(h, w), mode='area') for x in (a, b)]
    ph, pw = -(-h // 16) * 16, -(-w // 16) * 16
    ra, rb = [F.pad(x, (0, pw - w, 0, ph - h), mode='replicate') for x in (ra, rb)]
    out, _ = net.estimate(ra, rb, t, down=1)
    flow, mask = out[-1]
    flow, mask = flow[:, :, :h, :w], mask[:, :, :h, :w]
    ff = F.interpolate(flow, size=(H, W), mode='bilinear', align_corners=False) * torch.tensor([W / w, H / h, W / w, H / h]).view(1, 4, 1, 1)
    m = torch.sigmoid(F.interpolate(mask, size=(H, W), mode='bilinear', align_corners=False))
    return (m * ifnet.warp(a, ff[:, :2]) + (1 - m) * ifnet.warp(b, ff[:, 2:])).clamp(0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.expanduser('~/.cache/frc/ckpt/live/step4000.pt'))
    ap.add_argument('--downs', type=float, nargs='+', default=[4, 8])
    ap.add_argument('--per-clip', type=int, default=4)
    ap.add_argument('--small', action='store_true', help='every clip at its cached short side 432 (frames the size of the eval sets), not only the 720p ones')
    args = ap.parse_args()
    torch.set_num_threads(2)
    net, ck = ifnet.load_student(args.ckpt)
    rows = []
    for c in load_clips():
        frames = c.small if args.small else c.full
        if not args.small and (c.full is None or c.full.shape[1] < 700):
            continue
        cands = [(i, i + 1, i + 2) for i in range(c.val_start, c.n - 2) if not c.has_cut(i, i + 2)]
        for (i, j, k) in dict.fromkeys(cands[int(round(q))] for q in np.linspace(0, len(cands) - 1, args.per_clip)):
            a, g, b = [torch.from_numpy(np.array(frames[q])).permute(2, 0, 1)[None].float() / 255 for q in (i, j, k)]
            t = torch.full((1, 1, 1, 1), 0.5)
            with torch.no_grad():
                rows.append((f'{c.name}:{i}-{j}-{k}', psnr(0.5 * a + 0.5 * b, g), *[psnr(synth(net, a, b, t, d), g) for d in args.downs]))
            print(f'{rows[-1][0]:48s}' + ''.join(f' {v:7.2f}' for v in rows[-1][1:]), flush=True)
    mean = np.array([r[1:] for r in rows]).mean(0)
    print(f'{"MEAN of %d (blend, then each down)" % len(rows):48s}' + ''.join(f' {v:7.2f}' for v in mean))
    print('downs:', args.downs, 'checkpoint step', ck['step'])


if __name__ == '__main__':
    main()
