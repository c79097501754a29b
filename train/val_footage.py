#!/usr/bin/env python3
"""Per-triplet PSNR of a checkpoint vs blend on the held-out FOOTAGE validation triplets (never eval/).
  /usr/bin/python3 train/val_footage.py [--ckpt ~/.cache/frc/ckpt/fast/latest.pt]"""
import argparse, os, sys
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifnet  # noqa: E402
from data import load_clips, val_triplets  # noqa: E402
from losses import psnr  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--ckpt', default=os.path.expanduser('~/.cache/frc/ckpt/fast/latest.pt'))
args = ap.parse_args()
torch.set_num_threads(1)
net, ck = ifnet.load_student(args.ckpt)
rows = []
with torch.no_grad():
    for name, a, g, b, t in val_triplets(load_clips()):
        fr, _, _ = net(a, b, t)
        rows.append((name, psnr(fr, g), psnr(a * (1 - t) + b * t, g), psnr(a, g)))
print(f'checkpoint {args.ckpt} step {ck["step"]}')
print(f'{"triplet":48s} {"model":>7s} {"blend":>7s} {"dup":>7s}')
for r in rows:
    print(f'{r[0]:48s} {r[1]:7.2f} {r[2]:7.2f} {r[3]:7.2f}')
n = len(rows)
print(f'{"MEAN":48s} {sum(r[1] for r in rows)/n:7.2f} {sum(r[2] for r in rows)/n:7.2f} {sum(r[3] for r in rows)/n:7.2f}')
