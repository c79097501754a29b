#!/usr/bin/env python3
"""Footage validation of a checkpoint run as the engine runs a card: each frame reduced to --input-scale and
at most --cap pixels (area filter, multiples of 16, padded by replication), the network on that, optional
Lucas-Kanade steps above its resolution on the frames' luma (the card's lkFine), flows and mask upsampled to
the frame, bicubic warps and the mask blend of the full frames. Mean PSNR over the held-out triplets as they
are, with a 24-px pan and with 24-px sprites (train.py's validation sets).

  /usr/bin/python3 train/engine_val.py --ckpt CK --cap 100000 --lk 0,1,1 --lk-pyramid 16,8,4:3   # quality
  /usr/bin/python3 train/engine_val.py --ckpt CK --cap 14400 --fine 2:1                          # fast

Why (train/README.md, fifteenth session): train.py validates the network at half and a quarter of the frame,
which is not where the engine runs it (quality at 1.5-2x under the frame, fast at about 4x); the inference-only
choices (Lucas-Kanade settings, lkFine) were made with this instead. Never run on the eval sets.
"""
import argparse, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ifnet import load_student, lk_refine, warp  # noqa: E402
from data import load_clips, val_triplets  # noqa: E402
from losses import psnr  # noqa: E402
from export_onnx import apply_lk  # noqa: E402

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)  # what swscale's GRAY8 takes from RGB


def input_size(h, w, scale, cap):
    s = min(scale, math.sqrt(cap / (h * w)))
    return max(16, round(h * s / 16) * 16), max(16, round(w * s / 16) * 16)


def resize_flow(f, h, w):
    """Flows [B,4,.,.] bilinearly to h x w, in pixels of the new size."""
    sy, sx = h / f.shape[2], w / f.shape[3]
    return F.interpolate(f, size=(h, w), mode='bilinear', align_corners=False) * torch.tensor([sx, sy] * 2).view(1, 4, 1, 1)


def synthesize(net, a, b, t, scale, cap, fine):
    H, W = a.shape[2:]
    h, w = input_size(H, W, scale, cap)
    ia, ib = F.interpolate(a, size=(h, w), mode='area'), F.interpolate(b, size=(h, w), mode='area')
    outs, _ = net.estimate(ia, ib, t, down=1)
    flow, mask = outs[-1]
    m = torch.sigmoid(mask)
    if fine and fine[1] and fine[0] * h <= H and fine[0] * w <= W:
        h2, w2 = fine[0] * h, fine[0] * w
        flow = resize_flow(flow, h2, w2)
        m = F.interpolate(m, size=(h2, w2), mode='bilinear', align_corners=False)
        luma = [F.interpolate((x * LUMA).sum(1, keepdim=True), size=(h2, w2), mode='area') for x in (a, b)]
        flow = lk_refine(luma[0], luma[1], flow, t, fine[1])
    ff = resize_flow(flow, H, W)
    m = F.interpolate(m, size=(H, W), mode='bilinear', align_corners=False)
    return (m * warp(a, ff[:, :2], 'bicubic') + (1 - m) * warp(b, ff[:, 2:4], 'bicubic')).clamp(0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--cap', type=int, required=True, help='the card\'s maxInputPixels (quality 100000, fast 14400)')
    ap.add_argument('--input-scale', type=float, default=0.8)
    ap.add_argument('--lk', default=None, help='Lucas-Kanade steps after each block instead of the checkpoint\'s, A,B,C')
    ap.add_argument('--lk-pyramid', default=None, help='the first block\'s pyramid instead of the checkpoint\'s, S1,S2,..:STEPS')
    ap.add_argument('--fine', default=None, metavar='SCALE:STEPS', help='the card\'s lkFine')
    args = ap.parse_args()
    torch.set_num_threads(1)
    net, ck = load_student(args.ckpt)
    apply_lk(net, ck, args.lk, args.lk_pyramid)
    fine = tuple(int(v) for v in args.fine.split(':')) if args.fine else None
    clips = load_clips()
    sets = [('static', val_triplets(clips)), ('pan24', val_triplets(clips, pan=24)), ('sprite24', val_triplets(clips, sprite=24))]
    res = []
    with torch.no_grad():
        for name, vals in sets:
            res.append(np.mean([psnr(synthesize(net, a, b, t, args.input_scale, args.cap, fine), g) for _, a, g, b, t in vals]))
    print(f'step {ck["step"]} lk {list(net.lk)} pyramid {net.lk_pyramid} cap {args.cap} fine {fine}: '
          + ' / '.join(f'{n} {v:.3f}' for (n, _), v in zip(sets, res)) + f'  mean {np.mean(res):.3f}')


if __name__ == '__main__':
    main()
