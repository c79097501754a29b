#!/usr/bin/env python3
"""Decode the training footage once into a uint8 numpy cache outside the repo.

For each clip in <data>/footage we write, under <cache>/<clip>/:
  s432.npy   [N,H,W,3] uint8 RGB, downscaled so the short side is 432 (or native if smaller)
  full.npy   [N,H,W,3] uint8 RGB at native resolution (only when native short side > 432)
  meta.json  fps, shapes, per-transition mean-abs-difference and detected scene cuts
Usage: python3 train/prep_data.py [--data /work/shared/data] [--cache ~/.cache/frc/frames]
"""
import argparse, json, os, subprocess, glob
import numpy as np


def probe(path):
    out = subprocess.check_output([
        'ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
        'stream=width,height,r_frame_rate', '-of', 'json', path])
    s = json.loads(out)['streams'][0]
    num, den = s['r_frame_rate'].split('/')
    return int(s['width']), int(s['height']), float(num) / float(den)


def decode(path, w, h):
    cmd = ['ffmpeg', '-v', 'error', '-nostdin', '-i', path, '-an', '-vsync', 'passthrough',
           '-vf', f'scale={w}:{h}:flags=area', '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-']
    raw = subprocess.check_output(cmd)
    n = len(raw) // (w * h * 3)
    return np.frombuffer(raw[:n * w * h * 3], np.uint8).reshape(n, h, w, 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=os.environ.get('FRC_DATA', '/work/shared/data'))
    ap.add_argument('--cache', default=os.path.expanduser('~/.cache/frc/frames'))
    ap.add_argument('--short', type=int, default=432)
    args = ap.parse_args()
    clips = sorted(glob.glob(os.path.join(args.data, 'footage', '*')))
    for path in clips:
        name = os.path.splitext(os.path.basename(path))[0]
        out = os.path.join(args.cache, name)
        if os.path.exists(os.path.join(out, 'meta.json')):
            print('skip', name); continue
        os.makedirs(out, exist_ok=True)
        W, H, fps = probe(path)
        s = min(1.0, args.short / min(W, H))
        w, h = int(round(W * s / 2)) * 2, int(round(H * s / 2)) * 2
        small = decode(path, w, h)
        np.save(os.path.join(out, 's432.npy'), small)
        has_full = min(W, H) > args.short
        if has_full:
            np.save(os.path.join(out, 'full.npy'), decode(path, W, H))
        g = small[:, ::4, ::4].astype(np.float32).mean(-1)
        mad = np.abs(g[1:] - g[:-1]).mean((1, 2))
        med = float(np.median(mad)) if len(mad) else 0.0
        cuts = [int(i) for i in np.nonzero((mad > max(25.0, 6 * med)))[0]]  # cut between i and i+1
        meta = dict(name=name, source=os.path.basename(path), fps=fps, native=[W, H],
                    small=[w, h], frames=int(small.shape[0]), full=has_full,
                    mad=[round(float(x), 3) for x in mad], cuts=cuts)
        json.dump(meta, open(os.path.join(out, 'meta.json'), 'w'))
        print(name, small.shape, 'full' if has_full else '', 'fps', fps, 'median mad', round(med, 2), 'cuts', cuts)


if __name__ == '__main__':
    main()
