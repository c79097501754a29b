#!/usr/bin/env python3
"""A classical peer on the eval triplets: OpenCV's DIS optical flow (Kroeger et al., ECCV 2016) between the two
frames, made intermediate by the linear rule F_t->0 = -t(1-t) F_0->1 + t^2 F_1->0, F_t->1 = (1-t)^2 F_0->1 -
t(1-t) F_1->0, both frames backward-warped (bilinear, border) and blended (1-t, t). No learning, no occlusion
handling: what a good classical flow alone gives, for comparing frc's models with (bench/RESULTS.md).

  /usr/bin/python3 bench/dis_baseline.py [../shared/data/eval] [--preset medium] [--time F0.png F1.png]

Needs python3-opencv and python3-torch (train/setup.sh). Evaluation only: nothing here trains or tunes anything.
PSNR as `frc eval`: 8-bit RGB, full frame, capped at 100 dB (identical frames), mean over each set's samples.
One thread (OpenCV and torch). `--time`: the cost of both flows on a pair of frames (720p for the tables), see time_flows.
bench/validation.py calls score_sets and time_flows for its table.
"""
import argparse, glob, os, sys, time

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def warp(img, flow):
    """Backward warp [1,3,H,W] by flow [1,2,H,W] in pixels: out(x) = img(x + flow(x))."""
    _, _, h, w = img.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing='ij')
    nx = (2.0 * (gx + flow[:, 0]) + 1.0) / w - 1.0
    ny = (2.0 * (gy + flow[:, 1]) + 1.0) / h - 1.0
    return F.grid_sample(img, torch.stack([nx, ny], -1), mode='bilinear', padding_mode='border', align_corners=False)


PSNR_CAP = 100.0  # src/eval/metrics.ts


def create(preset):
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    return cv2.DISOpticalFlow_create(getattr(cv2, 'DISOPTICAL_FLOW_PRESET_' + preset.upper()))


def score_sets(root, preset):
    """Set name -> (samples, mean PSNR) over <root>/<set>/<sample>/{frame0,gt,frame1}.png."""
    dis = create(preset)
    tensor = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0
    result = {}
    for s in sorted(os.listdir(root)):
        scores = []
        for d in sorted(glob.glob(os.path.join(root, s, '*', ''))):
            a, g, b = (cv2.imread(os.path.join(d, f))[:, :, ::-1].copy() for f in ('frame0.png', 'gt.png', 'frame1.png'))
            ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
            f01 = torch.from_numpy(dis.calc(ga, gb, None).transpose(2, 0, 1))[None]
            f10 = torch.from_numpy(dis.calc(gb, ga, None).transpose(2, 0, 1))[None]
            t = 0.5
            ft0 = -(1 - t) * t * f01 + t * t * f10
            ft1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
            out = ((1 - t) * warp(tensor(a), ft0) + t * warp(tensor(b), ft1)).clamp(0, 1)
            mse = ((out * 255).round() - tensor(g) * 255).pow(2).mean().item()
            scores.append(min(PSNR_CAP, 10 * np.log10(255 ** 2 / mse)) if mse > 0 else PSNR_CAP)
        if scores:
            result[s] = (len(scores), float(np.mean(scores)))
    return result


def time_flows(frame0, frame1, preset, runs=10):
    """CPU ms (this process, one thread) of the two DIS calls on a pair of RGB frames, mean of `runs` after 2
    not timed: the flow only, not the grey conversion, warps or blend."""
    dis = create(preset)
    ga, gb = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (frame0, frame1))
    for _ in range(2):
        dis.calc(ga, gb, None), dis.calc(gb, ga, None)
    t0 = time.process_time()
    for _ in range(runs):
        dis.calc(ga, gb, None), dis.calc(gb, ga, None)
    return (time.process_time() - t0) / runs * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('root', nargs='?', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data', 'eval'))
    ap.add_argument('--preset', default='medium', choices=['ultrafast', 'fast', 'medium'])
    ap.add_argument('--time', metavar='PNG', nargs=2, help='also time both flows on this pair of frames (720p)')
    args = ap.parse_args()
    for s, (n, p) in score_sets(args.root, args.preset).items():
        print(f'{s}: n {n} psnr {p:.3f}')
    if args.time:
        a, b = (cv2.imread(f)[:, :, ::-1].copy() for f in args.time)
        print(f'flows, both directions, {a.shape[1]}x{a.shape[0]}: {time_flows(a, b, args.preset):.1f} ms CPU, one thread')
    return 0


if __name__ == '__main__':
    sys.exit(main())
