"""A small vision transformer trained with the DINO recipe (Caron et al., "Emerging Properties in
Self-Supervised Vision Transformers", ICCV 2021), written from the paper's description, on frames
of ../shared/data/footage (decoded once by prep_data.py). No labels.

  * student and teacher: the same ViT + projection head; the teacher is an exponential moving
    average of the student (momentum 0.996 -> 1, cosine) and gets no gradients;
  * multi-crop: 2 global crops (64 px, 40-100 % of the frame) for the teacher and the student, 4
    local crops (32 px, 5-40 %) for the student only; flips, colour jitter, grey, blur;
  * loss: cross-entropy between the teacher's sharpened (temperature 0.04), centred output on one
    global crop and the student's (temperature 0.1) on every other crop;
  * centring: the teacher's mean output (EMA, 0.9) is subtracted before its softmax, which with the
    sharpening keeps the outputs from collapsing.

The exported encoder (export_dino.py) keeps the ViT only: `pixel_values` (ImageNet-normalised RGB,
any size a multiple of the patch) -> `last_hidden_state` (the CLS token and one token per patch),
the contract of the official DINOv2 ONNX exports, so either plugs into the engine.

  nice -n 19 /usr/bin/python3 train/dino.py --steps 3000      # resumes from ~/.cache/frc/ckpt/dino/
"""
import argparse, math, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from data import load_clips

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp=4):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp * dim), nn.GELU(), nn.Linear(mlp * dim, dim))
        self.heads = heads

    def forward(self, x):
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.n1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        # Written out (not scaled_dot_product_attention) so it exports at opset 16 as plain MatMul/Softmax.
        att = (q @ k.transpose(-2, -1)) * (d // h) ** -0.5
        x = x + self.proj((att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.n2(x))


class ViT(nn.Module):
    """Patch embedding, CLS token, learned position embedding (interpolated to other grid sizes), blocks."""

    def __init__(self, patch=8, dim=192, depth=6, heads=3, grid=12):
        super().__init__()
        self.patch, self.dim, self.grid = patch, dim, grid
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + grid * grid, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def pos_for(self, gh, gw):
        # The shortcut is a Python branch, which ONNX tracing would freeze: exports always interpolate.
        if gh == self.grid and gw == self.grid and not torch.onnx.is_in_onnx_export():
            return self.pos
        grid = self.pos[:, 1:].reshape(1, self.grid, self.grid, self.dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode='bicubic', align_corners=False)
        return torch.cat([self.pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, self.dim)], 1)

    def forward(self, x):
        x = self.embed(x)
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos_for(gh, gw)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class Head(nn.Module):
    """DINO's projection head: 3-layer MLP, L2-normalised bottleneck, weight-normalised prototypes."""

    def __init__(self, dim, out=1024, hidden=512, bottleneck=128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, bottleneck))
        self.last = nn.utils.weight_norm(nn.Linear(bottleneck, out, bias=False))
        self.last.weight_g.data.fill_(1)
        self.last.weight_g.requires_grad = False

    def forward(self, x):
        return self.last(F.normalize(self.mlp(x), dim=-1))


class Dino(nn.Module):
    def __init__(self, **vit):
        super().__init__()
        self.vit = ViT(**vit)
        self.head = Head(self.vit.dim)

    def forward(self, x):
        return self.head(self.vit(x)[:, 0])


# ---- data ---------------------------------------------------------------------------------------

class Frames:
    """Random training frames from every clip's training part (the last 10 % is held out)."""

    def __init__(self, rng):
        self.clips = load_clips()
        self.rng = rng

    def batch(self, n):
        out = []
        for _ in range(n):
            c = self.clips[self.rng.integers(len(self.clips))]
            img = torch.from_numpy(np.array(c.small[self.rng.integers(c.train_end)])).permute(2, 0, 1).float()[None] / 255
            # At a third of the cached size (144 px high): the crops are 64 and 32 px, and cropping is cheaper.
            out.append(F.avg_pool2d(img, 3))
        return out  # 1,3,H,W each, in 0..1 (clips differ in aspect)


def random_resized_crops(imgs, size, scale, rng):
    """One random crop per image (area share in `scale`, aspect 3/4..4/3), resized to size x size."""
    out = []
    for img in imgs:
        h, w = img.shape[-2:]
        area = h * w * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        ch = int(min(h, round(math.sqrt(area / aspect))))
        cw = int(min(w, round(math.sqrt(area * aspect))))
        y, x = rng.integers(h - ch + 1), rng.integers(w - cw + 1)
        out.append(F.interpolate(img[:, :, y:y + ch, x:x + cw], size=(size, size), mode='bilinear', align_corners=False, antialias=True))
    return torch.cat(out)


def photometric(x, rng, blur_p):
    """Flip, colour jitter (brightness, contrast, saturation), 20 % grey, blur: per image."""
    b = x.shape[0]
    flip = torch.from_numpy(rng.random(b) < 0.5)
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
    jitter = torch.from_numpy(rng.random(b) < 0.8).view(b, 1, 1, 1)
    br = torch.from_numpy(rng.uniform(0.6, 1.4, b)).float().view(b, 1, 1, 1)
    co = torch.from_numpy(rng.uniform(0.6, 1.4, b)).float().view(b, 1, 1, 1)
    sa = torch.from_numpy(rng.uniform(0.6, 1.4, b)).float().view(b, 1, 1, 1)
    grey = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]).expand_as(x)
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    y = x * br
    y = (y - mean) * co + mean
    y = (y - grey) * sa + grey
    x = torch.where(jitter, y, x).clamp(0, 1)
    to_grey = torch.from_numpy(rng.random(b) < 0.2).view(b, 1, 1, 1)
    x = torch.where(to_grey, (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]).expand_as(x), x)
    blur = torch.from_numpy(rng.random(b) < blur_p).view(b, 1, 1, 1)
    x = torch.where(blur, F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), 3, 1), x)
    return (x - MEAN) / STD


def multi_crop(imgs, rng, args):
    g = [photometric(random_resized_crops(imgs, args.global_size, (0.4, 1.0), rng), rng, p) for p in (1.0, 0.1)]
    l = [photometric(random_resized_crops(imgs, args.local_size, (0.05, 0.4), rng), rng, 0.5) for _ in range(args.locals)]
    return g, l


# ---- training -----------------------------------------------------------------------------------

def cosine(step, total, start, end):
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=5e-4)
    ap.add_argument('--warmup', type=int, default=200)
    ap.add_argument('--global-size', dest='global_size', type=int, default=64)
    ap.add_argument('--local-size', dest='local_size', type=int, default=32)
    ap.add_argument('--locals', type=int, default=4)
    ap.add_argument('--depth', type=int, default=4)
    ap.add_argument('--dim', type=int, default=192)
    ap.add_argument('--root', default=os.path.expanduser('~/.cache/frc'))
    ap.add_argument('--ckpt_every', type=int, default=100)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ckdir = os.path.join(args.root, 'ckpt', 'dino')
    os.makedirs(ckdir, exist_ok=True)
    logf = open(os.path.join(args.root, 'dino.log'), 'a')

    def log(msg):
        line = time.strftime('%Y-%m-%d %H:%M:%S ') + msg
        print(line, flush=True)
        logf.write(line + '\n')
        logf.flush()

    vit = dict(patch=8, dim=args.dim, depth=args.depth, heads=3, grid=args.global_size // 8)
    student, teacher = Dino(**vit), Dino(**vit)
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad = False
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.04)
    center = torch.zeros(1, 1024)
    step = 0
    latest = os.path.join(ckdir, 'latest.pt')
    if os.path.exists(latest):
        ck = torch.load(latest)
        student.load_state_dict(ck['student']); teacher.load_state_dict(ck['teacher'])
        opt.load_state_dict(ck['opt']); center = ck['center']; step = ck['step']
        log(f'resumed from {latest} at step {step}')
    rng = np.random.default_rng(1000 + step)
    frames = Frames(rng)
    log(f'{sum(p.numel() for p in student.vit.parameters())} encoder parameters, {len(frames.clips)} clips')

    t0 = time.time()
    while step < args.steps:
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * cosine(step, args.steps, 1.0, 0.01)
        for g in opt.param_groups:
            g['lr'] = lr
        momentum = cosine(step, args.steps, 0.996, 1.0)
        teacher_temp = 0.04
        imgs = frames.batch(args.batch)
        globals_, locals_ = multi_crop(imgs, rng, args)
        with torch.no_grad():
            t_out = [teacher(g) for g in globals_]
            t_prob = [F.softmax((o - center) / teacher_temp, dim=-1) for o in t_out]
        s_out = [student(g) for g in globals_] + [student(torch.cat(locals_))]
        s_logp = [F.log_softmax(o / 0.1, dim=-1) for o in s_out[:2]] + list(F.log_softmax(s_out[2] / 0.1, dim=-1).chunk(args.locals))
        loss, terms = 0.0, 0
        for ti, tp in enumerate(t_prob):
            for si, sl in enumerate(s_logp):
                if si == ti:
                    continue
                loss = loss + (-tp * sl).sum(-1).mean()
                terms += 1
        loss = loss / terms
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 3.0)
        opt.step()
        with torch.no_grad():
            for ps, pt in zip(student.parameters(), teacher.parameters()):
                pt.mul_(momentum).add_(ps.detach(), alpha=1 - momentum)
            center = 0.9 * center + 0.1 * torch.cat(t_out).mean(0, keepdim=True)
        step += 1
        if step % 10 == 0:
            # Entropy of the teacher's mean output: near log(1024) = 6.93 is uniform collapse, near 0 one-prototype collapse.
            mean_p = torch.cat(t_prob).mean(0)
            ent = float(-(mean_p * (mean_p + 1e-12).log()).sum())
            log(f'step {step} loss {float(loss):.4f} lr {lr:.2e} m {momentum:.4f} teacher-mean-entropy {ent:.2f} s/step {(time.time() - t0) / 10:.2f}')
            t0 = time.time()
        if step % args.ckpt_every == 0 or step == args.steps:
            tmp = latest + '.tmp'
            torch.save({'student': student.state_dict(), 'teacher': teacher.state_dict(), 'opt': opt.state_dict(), 'center': center, 'step': step, 'vit': vit}, tmp)
            os.replace(tmp, latest)


if __name__ == '__main__':
    main()
