#!/usr/bin/env python3
"""Cuts the validation triplets from the held-out clips (splits.py) into the layout `frc eval` reads:

  <out>/<set>/<clip>-<i>/frame0.png gt.png frame1.png     frames i, i+1, i+2 of the decoded clip
  <out>/MANIFEST.tsv                                       set, clip, fps, size, i, motion of each triplet

Frames i and i+2 are the input, frame i+1 (a real frame) the truth. At 50/60 fps i is even: the input is the
clip at half its rate (25/30 fps, the live case of doubling 30 fps), as if every other frame were dropped.
At <= 30 fps the input is the clip at half its rate too (10-15 fps). Positions: K evenly spaced over the
clip (splits.py gives K); at each, the nearest i (forward first) whose triplet has no scene cut (data.find_cuts
on the per-transition mean abs difference) and whose two input frames differ (grey mean abs difference >=
0.5 levels: a still screen scores the same for every method). Frames at the clip's own size, or 720 lines
high (area filter) when larger. Deterministic: the same clips give the same triplets.

  /usr/bin/python3 train/cut_validation.py [--data ../shared/data] [--out ~/.cache/frc/val]
  /usr/bin/python3 train/cut_validation.py --split development --out ~/.cache/frc/val-dev

Writes outside the repository; never commit the frames. Never reads ../shared/data/eval.
"""
import argparse, json, os, shutil, subprocess, sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import find_cuts  # noqa: E402
from splits import DEVELOPMENT, TRIPLETS_PER_CLIP, TRIPLETS_SINGLE_CLIP_SET, VALIDATION  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 720
MIN_MOTION = 0.5  # grey levels, mean abs difference of the two input frames


def probe(path):
    s = json.loads(subprocess.check_output(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
                                            'stream=width,height,r_frame_rate', '-of', 'json', path]))['streams'][0]
    num, den = s['r_frame_rate'].split('/')
    return int(s['width']), int(s['height']), float(num) / float(den)


def decode(path, w, h, pix_fmt, select=None):
    """Every decoded frame (or the selected indices) as uint8 [N,h,w,C]; -vsync passthrough: frame n is the
    clip's n-th decoded frame."""
    vf = f'scale={w}:{h}:flags=area'
    if select is not None:
        vf = 'select=' + '+'.join(f'eq(n\\,{n})' for n in select) + ',' + vf
    raw = subprocess.check_output(['ffmpeg', '-v', 'error', '-nostdin', '-i', path, '-an', '-vsync', 'passthrough',
                                   '-vf', vf, '-pix_fmt', pix_fmt, '-f', 'rawvideo', '-'])
    c = 3 if pix_fmt == 'rgb24' else 1
    n = len(raw) // (w * h * c)
    return np.frombuffer(raw[:n * w * h * c], np.uint8).reshape(n, h, w, c)


def choose(grey, fps, k):
    """k triplet starts i, spread evenly over the clip (see the module's docstring)."""
    n = grey.shape[0]
    g = grey.astype(np.float32)
    mad = np.abs(g[1:] - g[:-1]).mean((1, 2, 3))
    cuts = find_cuts(mad)
    step = 2 if fps > 40 else 1
    starts = [i for i in range(0, n - 2, step)
              if i not in cuts and i + 1 not in cuts and np.abs(g[i + 2] - g[i]).mean() >= MIN_MOTION]
    if len(starts) < k:
        raise RuntimeError(f'only {len(starts)} usable triplets')
    chosen = []
    for p in np.linspace(0, n - 3, k):
        free = [i for i in starts if i not in chosen]
        chosen.append(min(free, key=lambda i: (abs(i - p), i < p)))
    return sorted(chosen), mad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=os.environ.get('FRC_DATA', os.path.join(REPO, '..', 'shared', 'data')))
    ap.add_argument('--out', default=os.path.expanduser(os.environ.get('FRC_VAL', '~/.cache/frc/val')))
    ap.add_argument('--split', choices=('validation', 'development'), default='validation',
                    help='development: the clips of splits.DEVELOPMENT (e.g. --out ~/.cache/frc/val-dev)')
    args = ap.parse_args()
    split = DEVELOPMENT if args.split == 'development' else VALIDATION
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    rows = ['set\tclip\tfps\tsize\ti\tgrey_mad_0_2']
    for vset, clips in split.items():
        k = TRIPLETS_SINGLE_CLIP_SET if len(clips) == 1 else TRIPLETS_PER_CLIP
        for clip in clips:
            path = next(os.path.join(args.data, 'footage', f) for f in sorted(os.listdir(os.path.join(args.data, 'footage')))
                        if os.path.splitext(f)[0] == clip)
            W, H, fps = probe(path)
            s = min(1.0, MAX_LINES / H)
            w, h = int(round(W * s / 2)) * 2, int(round(H * s / 2)) * 2
            grey = decode(path, w // 4, h // 4, 'gray')  # cuts and motion: a quarter size is enough
            chosen, _ = choose(grey, fps, k)
            need = sorted({i + d for i in chosen for d in (0, 1, 2)})
            rgb = decode(path, w, h, 'rgb24', select=need)
            if len(rgb) != len(need):
                raise RuntimeError(f'{clip}: asked for {len(need)} frames, decoded {len(rgb)}')
            frames = dict(zip(need, rgb))
            for i in chosen:
                d = os.path.join(args.out, vset, f'{clip}-{i:05d}')
                os.makedirs(d)
                for name, q in (('frame0', i), ('gt', i + 1), ('frame1', i + 2)):
                    cv2.imwrite(os.path.join(d, name + '.png'), frames[q][:, :, ::-1])
                motion = np.abs(frames[i + 2].astype(np.float32).mean(2) - frames[i].astype(np.float32).mean(2)).mean()
                rows.append(f'{vset}\t{clip}\t{fps:g}\t{w}x{h}\t{i}\t{motion:.2f}')
            print(f'{vset:10s} {clip:45s} {fps:5.1f} fps {w}x{h} {len(grey)} frames: {chosen}')
    with open(os.path.join(args.out, 'MANIFEST.tsv'), 'w') as f:
        f.write('\n'.join(rows) + '\n')
    print(f'{len(rows) - 1} triplets in {args.out}')


if __name__ == '__main__':
    main()
