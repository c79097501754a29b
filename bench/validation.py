#!/usr/bin/env python3
"""Quality on the held-out clips (train/README.md, "Validation protocol"), with the cost per 720p frame beside
each method: blend, DIS ultrafast and medium (bench/dis_baseline.py), FFmpeg minterpolate, and the shipped
models `fast` and `quality` (`frc eval`). Prints the markdown table of bench/RESULTS.md.

  npx tsc -p . && /usr/bin/python3 bench/validation.py [~/.cache/frc/val] [--no-cost] [--by-clip]

The triplets are cut first if missing (train/cut_validation.py). Given ../shared/data/eval instead, the same
table on the eval sets: that is the final exam, read once at the end of a piece of work, never for choosing.

PSNR: as `frc eval` (8-bit RGB, full frame, capped at 100 dB), mean per set, then the mean of the set means.
--by-clip: the same scores with one column per clip instead of per set (no cost column).
Cost, CPU ms per in-between 720p frame, one thread where the method allows:
- blend, fast, quality: bench/synthesis.ts at 720p (the engine's whole call: conversion, network, warps; the
  process's CPU time over all its threads);
- DIS: the two OpenCV calc() calls (both directions) on a 720p pair, one thread (dis_baseline.time_flows);
  the warps and the blend are not counted;
- minterpolate: the ffmpeg CLI doubling 2 s of 720p at 30 fps (the Freedoom clip's even frames) to 60 fps,
  one thread, minus the same run without the filter, over the frames it adds (child CPU time, getrusage).
"""
import argparse, json, os, re, resource, subprocess, sys, tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import dis_baseline  # noqa: E402

# As bench/quality.ts: minterpolate needs context frames, so it is fed f0,f0,f1,f1 at 1 fps and read at t = 1.5 s.
MINTERPOLATE = 'minterpolate=fps=2:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1'
MI_COST_CLIP = 'doom_freedoom1_e2m3_720p60_freedoom.mp4'
MODELS = ('fast', 'quality')


def psnr(out, gt):
    mse = np.mean((out.astype(np.float64) - gt.astype(np.float64)) ** 2)
    return min(dis_baseline.PSNR_CAP, 10 * np.log10(255 ** 2 / mse)) if mse > 0 else dis_baseline.PSNR_CAP


def samples(root):
    for s in sorted(os.listdir(root)):
        if os.path.isdir(os.path.join(root, s)):
            ds = sorted(os.path.join(root, s, d) for d in os.listdir(os.path.join(root, s))
                        if os.path.exists(os.path.join(root, s, d, 'gt.png')))
            if ds:
                yield s, ds


def frc_eval(root, args):
    # One inference thread: the scores do not depend on it, and the machine is shared.
    out = subprocess.check_output(['node', os.path.join(REPO, 'dist/src/cli.js'), 'eval', root, '--json', '--threads', '1', *args], cwd=REPO)
    return {s: (v['n'], v['psnr']) for s, v in json.loads(out)['sets'].items()}


def minterpolate_sets(root):
    result = {}
    with tempfile.TemporaryDirectory(prefix='frc-mi-') as work:
        for s, ds in samples(root):
            scores = []
            for d in ds:
                for i, name in enumerate(('frame0', 'frame0', 'frame1', 'frame1')):
                    link = os.path.join(work, f'in{i + 1}.png')
                    if os.path.lexists(link):
                        os.remove(link)
                    os.symlink(os.path.join(d, name + '.png'), link)
                mid = os.path.join(work, 'mid.png')
                subprocess.check_call(['ffmpeg', '-v', 'error', '-y', '-threads', '1', '-filter_threads', '1', '-framerate', '1',
                                       '-i', os.path.join(work, 'in%d.png'), '-vf', f'{MINTERPOLATE},select=eq(n\\,3)',
                                       '-frames:v', '1', mid])
                scores.append(psnr(cv2.imread(mid), cv2.imread(os.path.join(d, 'gt.png'))))
            result[s] = (len(scores), float(np.mean(scores)))
    return result


def child_cpu(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.check_call(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def minterpolate_cost(data):
    clip = os.path.join(data, 'footage', MI_COST_CLIP)
    base = ['ffmpeg', '-v', 'error', '-threads', '1', '-filter_threads', '1', '-i', clip, '-t', '2', '-an']
    vf = "select='not(mod(n\\,2))',setpts=N/30/TB"
    plain = child_cpu(base + ['-vf', vf, '-f', 'null', '-'])
    mi = child_cpu(base + ['-vf', vf + ',' + MINTERPOLATE.replace('fps=2', 'fps=60'), '-f', 'null', '-'])
    return (mi - plain) / 60 * 1000  # 2 s at 30 fps -> 60 fps adds 60 frames


def synthesis_cost():
    """CPU ms per in-between 720p frame of blend, fast and quality, from one bench/synthesis.ts run."""
    out = subprocess.check_output(['node', os.path.join(REPO, 'dist/bench/synthesis.js'), '--interp', 'blend',
                                   *sum((['--model', f'models/{m}.onnx'] for m in MODELS), []), '--sizes', '720', '--runs', '31'],
                                  cwd=REPO, stderr=subprocess.DEVNULL, text=True)
    cost = {}
    for line in out.splitlines():
        m = re.match(r'\| 720p \| ([^|]+) \| [\d.]+ \| ([\d.]+) \|', line)
        if m:
            cost[os.path.splitext(os.path.basename(m.group(1).strip()))[0]] = float(m.group(2))
    return cost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('root', nargs='?', default=os.path.expanduser(os.environ.get('FRC_VAL', '~/.cache/frc/val')))
    ap.add_argument('--data', default=os.environ.get('FRC_DATA', os.path.join(REPO, '..', 'shared', 'data')))
    ap.add_argument('--no-cost', action='store_true', help='scores only')
    ap.add_argument('--by-clip', action='store_true', help='one column per clip (scores only)')
    args = ap.parse_args()
    os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
    if not os.path.exists(os.path.join(args.root, 'MANIFEST.tsv')) and 'eval' not in os.path.basename(os.path.normpath(args.root)):
        subprocess.check_call([sys.executable, os.path.join(REPO, 'train', 'cut_validation.py'), '--out', args.root])

    if args.by_clip:
        with tempfile.TemporaryDirectory(prefix='frc-val-clips-') as root:
            for s, ds in samples(args.root):
                for d in ds:
                    clip = os.path.basename(d).rsplit('-', 1)[0]
                    os.makedirs(os.path.join(root, clip), exist_ok=True)
                    os.symlink(d, os.path.join(root, clip, os.path.basename(d)))
            return table(root, None, 'mean of clips')
    return table(args.root, args.data if not args.no_cost else None)


def table(root, data, mean_label='mean of sets'):
    """Scores every method on <root>/<column>/<sample>/ and prints the table; with data (../shared/data) the cost
    column too."""
    rows = {}
    def run(name, fn):
        rows[name] = fn()
        print(name, {s: round(p, 3) for s, (_, p) in rows[name].items()}, file=sys.stderr, flush=True)
    run('blend', lambda: frc_eval(root, ['--interp', 'blend']))
    run('DIS ultrafast', lambda: dis_baseline.score_sets(root, 'ultrafast'))
    run('DIS medium', lambda: dis_baseline.score_sets(root, 'medium'))
    run('minterpolate', lambda: minterpolate_sets(root))
    for m in MODELS:
        run(m, lambda m=m: frc_eval(root, ['--model', f'models/{m}.onnx']))

    cost = {}
    if data:
        pair = next(d for _, ds in samples(root) for d in ds if cv2.imread(os.path.join(d, 'frame0.png')).shape[:2] == (720, 1280))
        a, b = (cv2.imread(os.path.join(pair, f))[:, :, ::-1].copy() for f in ('frame0.png', 'frame1.png'))
        cost['DIS ultrafast'] = dis_baseline.time_flows(a, b, 'ultrafast')
        cost['DIS medium'] = dis_baseline.time_flows(a, b, 'medium')
        cost['minterpolate'] = minterpolate_cost(data)
        cost.update(synthesis_cost())

    cols = list(rows['blend'])
    n = rows['blend']
    print(f'| method | {" | ".join(f"{c} ({n[c][0]})" for c in cols)} | {mean_label} |' + (' CPU ms per 720p frame |' if data else ''))
    print('|---|' + '---|' * (len(cols) + 1 + bool(data)))
    for name, r in rows.items():
        cells = [f'{r[c][1]:.2f}' if c in r else '—' for c in cols]
        mean = np.mean([r[c][1] for c in cols])
        print(f'| {name} | {" | ".join(cells)} | {mean:.2f} |' + (f' {f"{cost[name]:.1f}" if name in cost else "—"} |' if data else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
