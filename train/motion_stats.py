#!/usr/bin/env python3
"""How far things move in the triplets the sampler produces: brute-force block matching
(textured 32x32 blocks, integer shifts up to 8 px) between frame 0 and frame 1 of sampled
training triplets. Reads only the footage cache, never eval/.
  /usr/bin/python3 train/motion_stats.py"""
import sys
import numpy as np
import os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_clips, TripletSampler
clips = load_clips()
s = TripletSampler(clips, crop=256, seed=123)
R, B = 8, 32
mags = []
for n in range(120):
    x3, t = s.sample()
    a = x3[0].mean(-1).astype(np.float32); b = x3[2].mean(-1).astype(np.float32)
    for by in range(R, 256 - B - R, 48):
        for bx in range(R, 256 - B - R, 48):
            blk = a[by:by+B, bx:bx+B]
            if blk.std() < 8: continue  # flat blocks say nothing about motion
            best, bd = None, 1e18
            for dy in range(-R, R+1):
                rows = b[by+dy:by+dy+B]
                for dx in range(-R, R+1):
                    d = np.abs(rows[:, bx+dx:bx+dx+B] - blk).mean()
                    if d < bd: bd, best = d, (dx, dy)
            mags.append(np.hypot(*best))
m = np.array(mags)
print(f'{len(m)} textured 32x32 blocks from 120 training triplets (crop 256), displacement frame0->frame1 (px, |d|<=8):')
print('median %.1f  p75 %.1f  p90 %.1f  share < 1 px %.0f%%  share >= 4 px %.0f%%' % (np.median(m), np.percentile(m, 75), np.percentile(m, 90), 100*(m < 1).mean(), 100*(m >= 4).mean()))
