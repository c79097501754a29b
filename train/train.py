#!/usr/bin/env python3
"""Train an IFNet variant on footage triplets (CPU).

  nice -n 19 env OPENBLAS_NUM_THREADS=1 /usr/bin/python3 train/train.py --variant fast --steps 60000

Checkpoints: ~/.cache/frc/ckpt/<variant>/{latest,best}.pt (resumes from latest automatically).
Log: ~/.cache/frc/logs/<variant>.log
"""
import argparse, math, os, sys, time, json
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifnet  # noqa: E402
from data import load_clips, TripletSampler, val_triplets  # noqa: E402
from losses import lap_loss, distill_loss, flow_label_loss, psnr  # noqa: E402


def lr_at(step, args):
    # --restart-at S: a warm restart, i.e. warmup and cosine begin again at step S of a resumed run
    s = step - args.restart_at
    if s < args.warmup:
        return args.lr * (s + 1) / args.warmup
    p = min(1.0, (s - args.warmup) / max(1, args.steps - args.restart_at - args.warmup))
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * p))


class ThreadGovernor:
    """Use 2 intra-op threads only while the rest of the machine is idle. This process runs at
    nice 19 on a shared 2-core box; when another (non-niced) process keeps one core busy, a 2-thread
    step stalls on the starved thread (measured 6 s/step instead of 0.8), so fall back to 1 thread.
    Other processes' load = delta(user + system of /proc/stat) - own system time, in cores."""

    def __init__(self, max_threads, every=10):
        self.max = max_threads
        self.every = every
        self.n = 0
        self.cur = max_threads
        self.hz = os.sysconf('SC_CLK_TCK')
        self.prev = self._read()

    def _read(self):
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
        with open('/proc/self/stat') as f:
            own_sys = int(f.read().rsplit(')', 1)[1].split()[12])
        return v[0] + v[2] - own_sys, sum(v[:8]), time.time()

    def tick(self):
        self.n += 1
        if self.max <= 1 or self.n % self.every:
            return self.cur
        busy, total, _ = self._read()
        pb, pt, _ = self.prev
        self.prev = (busy, total, 0)
        ncpu = os.cpu_count() or 1
        others = (busy - pb) / max(1, total - pt) * ncpu
        want = 1 if others > 0.35 else self.max
        if want != self.cur:
            torch.set_num_threads(want)
            self.cur = want
        return self.cur


def run_val(model, vals, fixed_mask=False, down=None):
    """Mean PSNR of the model and of blend on the validation triplets, and the model's mean
    |flow| in full-resolution pixels (near 0 means it is only blending)."""
    model.eval()
    down = down or model.down
    pm, pb, mag = [], [], []
    with torch.no_grad():
        for name, a, g, b, t in vals:
            outs, _ = model.estimate(a, b, t, down=down)
            flow, mask = outs[-1]
            if fixed_mask:
                mask = torch.zeros_like(mask)
            frame = model.synth(a, b, flow, mask, down=down)[0].clamp(0, 1)
            pm.append(psnr(frame, g))
            pb.append(psnr(a * (1 - t) + b * t, g))
            mag.append(flow.abs().mean().item() * down)
    model.train()
    return sum(pm) / len(pm), sum(pb) / len(pb), pm, pb, sum(mag) / len(mag)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--variant', default='live', choices=list(ifnet.VARIANTS))
    ap.add_argument('--downs', default='2,4',
                    help='working-resolution divisors, one per step in turn (the net is run at each)')
    ap.add_argument('--crop4', type=int, default=384, help='crop size for steps at down >= 4')
    ap.add_argument('--flow-label', type=float, default=0.01,
                    help='weight of the pseudo-label flow loss (DIS flow gt->ends); decays to 1/10 '
                         'over the first half of training; 0 = off')
    ap.add_argument('--flow-label-floor', type=float, default=0.1,
                    help='what the pseudo-label weight decays to, as a fraction of --flow-label (1: constant)')
    ap.add_argument('--label-preset', default='fast', choices=['ultrafast', 'fast', 'medium'],
                    help="OpenCV DIS preset of the pseudo-label flows ('fast' until the fourteenth session)")
    ap.add_argument('--steps', type=int, default=60000)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--crop', type=int, default=256)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--min_lr', type=float, default=1e-5)
    ap.add_argument('--wd', type=float, default=1e-4)
    ap.add_argument('--warmup', type=int, default=500)
    ap.add_argument('--restart-at', type=int, default=0,
                    help='warm restart: the warmup and the cosine to --steps start at this step (of a resumed run)')
    ap.add_argument('--distill', type=float, default=0.01)
    ap.add_argument('--ckpt_every', type=int, default=250)
    ap.add_argument('--val_every', type=int, default=500)
    ap.add_argument('--log_every', type=int, default=25)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--root', default=os.path.expanduser('~/.cache/frc'))
    ap.add_argument('--max_steps_this_run', type=int, default=0, help='stop after N steps (smoke test)')
    ap.add_argument('--p-full', type=float, default=0.25, help='share of crops taken from native-resolution frames')
    ap.add_argument('--p-gap', type=float, default=0.3, help='share of triplets with gaps of 3..6 frames instead of 2')
    ap.add_argument('--min-mad', type=float, default=0.0,
                    help='skip triplets whose mean abs frame difference per step is below this (more motion)')
    ap.add_argument('--p-pan', type=float, default=0.0,
                    help='share of triplets given a synthetic camera pan (large linear motion, see data.TripletSampler)')
    ap.add_argument('--max-pan', type=int, default=32, help='largest pan over a triplet gap, px of the sampled frames')
    ap.add_argument('--p-sprite', type=float, default=0.0,
                    help='share of triplets given 1-2 pasted sprites moving on their own (occlusions, see data.paste_sprites)')
    ap.add_argument('--max-sprite', type=int, default=48, help='largest sprite motion per axis over a triplet gap, px')
    ap.add_argument('--val-sprite', type=int, default=0,
                    help='sprite motion (px) of a third validation set: the held-out triplets with two sprites (0: none)')
    ap.add_argument('--val-pan', type=int, default=24,
                    help='pan (px) of the second validation set: the held-out triplets with a synthetic pan (0: none)')
    ap.add_argument('--local-match', default='',
                    help='local soft-argmin window per matcher, e.g. 1,0,0 (ifnet.SoftArgmin); a resumed run keeps '
                         'its checkpoint\'s unless given')
    ap.add_argument('--lk', default='',
                    help='Lucas-Kanade steps after each block, e.g. 2,2,2 (ifnet.lk_refine); a resumed run keeps '
                         'its checkpoint\'s unless given')
    ap.add_argument('--lk-pyramid', default='',
                    help='the first block\'s flows from Lucas-Kanade alone, e.g. 16,8,4:4 (scales:steps, '
                         'ifnet.lk_pyramid_flow); a resumed run keeps its checkpoint\'s unless given')
    ap.add_argument('--fixed-mask', action='store_true',
                    help='experiment: fuse with a fixed 0.5 mask, so lowering the loss needs flow '
                         '(tests whether the learned mask holding the model at "blend" is what stops the flows)')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ckdir = os.path.join(args.root, 'ckpt', args.variant)
    os.makedirs(ckdir, exist_ok=True)
    os.makedirs(os.path.join(args.root, 'logs'), exist_ok=True)
    logf = open(os.path.join(args.root, 'logs', f'{args.variant}.log'), 'a')

    def log(msg):
        line = time.strftime('%Y-%m-%d %H:%M:%S ') + msg
        print(line, flush=True)
        logf.write(line + '\n')
        logf.flush()

    latest = os.path.join(ckdir, 'latest.pt')
    ck = torch.load(latest, map_location='cpu') if os.path.exists(latest) else None
    local = [int(x) for x in args.local_match.split(',')] if args.local_match else (ck or {}).get('cfg', {}).get('local')
    lk = [int(x) for x in args.lk.split(',')] if args.lk else (ck or {}).get('cfg', {}).get('lk')
    pyr = args.lk_pyramid.split(':') if args.lk_pyramid else None
    pyr = ([int(x) for x in pyr[0].split(',')], int(pyr[1])) if pyr else (ck or {}).get('cfg', {}).get('lk_pyramid')
    model = ifnet.IFNet(**{**ifnet.VARIANTS[args.variant], 'local': local, 'lk': lk, 'lk_pyramid': pyr}, teacher=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    step, best, train_time = 0, -1.0, 0.0
    if ck:
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        step, best, train_time = ck['step'], ck.get('best', -1.0), ck.get('train_time', 0.0)
        log(f'resumed from {latest} at step {step} (best val {best:.3f})')
    else:
        log(f'new run {vars(args)} student params {ifnet.count_params(model)} '
            f'teacher params {ifnet.count_params(model, False) - ifnet.count_params(model)}')

    clips = load_clips()
    sampler = TripletSampler(clips, crop=args.crop, p_full=args.p_full, p_gap=args.p_gap,
                             min_mad=args.min_mad, seed=args.seed + step,
                             flow_labels=args.flow_label > 0, p_pan=args.p_pan, max_pan=args.max_pan,
                             p_sprite=args.p_sprite, max_sprite=args.max_sprite, label_preset=args.label_preset)
    downs = [int(x) for x in args.downs.split(',')]
    vals = val_triplets(clips)
    pan_vals = val_triplets(clips, pan=args.val_pan) if args.val_pan > 0 else []
    sprite_vals = val_triplets(clips, sprite=args.val_sprite) if args.val_sprite > 0 else []
    log(f'{len(clips)} clips, {len(vals)} val triplets' + (f' (and with a {args.val_pan}-px pan)' if pan_vals else '')
        + (f' (and with {args.val_sprite}-px sprites)' if sprite_vals else ''))

    def save(path, val=None):
        tmp = path + '.tmp'
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), step=step, best=best,
                        variant=args.variant, cfg=model.cfg, train_time=train_time,
                        args=vars(args), val=val), tmp)
        os.replace(tmp, path)

    gov = ThreadGovernor(args.threads)
    model.train()
    acc = dict(loss=0.0, rec=0.0, tea=0.0, dis=0.0, flo=0.0, n=0)
    t_last = time.time()
    run_steps = 0
    while step < args.steps:
        t0 = time.time()
        gov.tick()
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g['lr'] = lr
        down = downs[step % len(downs)]
        batch = sampler.batch(args.batch, args.crop4 if down >= 4 else args.crop)
        img0, gt, img1, t = batch[:4]
        outs, tea = model.estimate(img0, img1, t, gt, down=down)
        if args.fixed_mask:  # mask logit 0 = weight 0.5 for both warped frames
            outs = [(f, torch.zeros_like(m)) for f, m in outs]
            tea = (tea[0], torch.zeros_like(tea[1]))
        frame, _, _, _ = model.synth(img0, img1, *outs[-1], down=down)
        tframe, _, _, _ = model.synth(img0, img1, *tea, down=down)
        rec = lap_loss(frame, gt)
        rtea = lap_loss(tframe, gt)
        dis = distill_loss([f for f, _ in outs], tea[0], frame, tframe, gt, down=down)
        loss = rec + rtea + args.distill * dis
        flo = torch.zeros(())
        if args.flow_label > 0:
            wf = args.flow_label * max(args.flow_label_floor, 1.0 - step / (0.5 * args.steps))
            flo = flow_label_loss([f for f, _ in outs] + [tea[0]], batch[4], img0, img1, gt, down)
            loss = loss + wf * flo
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        run_steps += 1
        train_time += time.time() - t0
        for k, v in (('loss', loss), ('rec', rec), ('tea', rtea), ('dis', dis), ('flo', flo)):
            acc[k] += float(v)
        acc['n'] += 1
        if step % args.log_every == 0:
            n = acc['n']
            now = time.time()
            log(f'step {step} loss {acc["loss"]/n:.4f} rec {acc["rec"]/n:.4f} tea {acc["tea"]/n:.4f} '
                f'dis {acc["dis"]/n:.4f} flo {acc["flo"]/n:.3f}px lr {lr:.2e} s/step {(now - t_last)/n:.3f} thr {gov.cur}')
            acc = dict(loss=0.0, rec=0.0, tea=0.0, dis=0.0, flo=0.0, n=0)
            t_last = now
        if step % args.val_every == 0 or step == args.steps:
            res = {d: run_val(model, vals, args.fixed_mask, down=d) for d in downs}
            pm = sum(r[0] for r in res.values()) / len(res)  # selection: mean over working resolutions
            pb = next(iter(res.values()))[1]
            improved = pm > best
            if improved:
                best = pm
            per = ' '.join(f'@{d} {r[0]:.3f} |flow| {r[4]:.2f}px' for d, r in res.items())
            log(f'val step {step} psnr {pm:.3f} blend {pb:.3f} gain {pm - pb:+.3f} best {best:.3f} {per}')
            val = dict(psnr=pm, blend=pb, per_down={str(d): r[0] for d, r in res.items()})
            # the same over the extra validation sets (large motion, occlusion), logged per set
            for key, label, extra in (('pan', f'val-pan{args.val_pan}', pan_vals), ('sprite', f'val-sprite{args.val_sprite}', sprite_vals)):
                if not extra:
                    continue
                xres = {d: run_val(model, extra, args.fixed_mask, down=d) for d in downs}
                xpm = sum(r[0] for r in xres.values()) / len(xres)
                xper = ' '.join(f'@{d} {r[0]:.3f}' for d, r in xres.items())
                log(f'{label} step {step} psnr {xpm:.3f} blend {next(iter(xres.values()))[1]:.3f} {xper}')
                val[key] = dict(psnr=xpm, per_down={str(d): r[0] for d, r in xres.items()})
            save(latest, val)
            save(os.path.join(ckdir, f'step{step}.pt'), val)  # every validated step: exports choose among them
            if improved:
                save(os.path.join(ckdir, 'best.pt'), val)
            t_last = time.time()
        elif step % args.ckpt_every == 0:
            save(latest)
        if args.max_steps_this_run and run_steps >= args.max_steps_this_run:
            break
    save(latest)
    log(f'stopped at step {step}, train_time {train_time:.0f}s')


if __name__ == '__main__':
    main()
