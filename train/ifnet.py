"""IFNet: a RIFE-style intermediate-flow network (Huang et al., "Real-Time Intermediate Flow
Estimation for Video Frame Interpolation", ECCV 2022), written from the paper's description.

Overview
--------
Given img0, img1 (RGB, 0..1, [B,3,H,W]) and a timestep t in (0,1), the network directly
estimates the two *intermediate* flows F_t->0 and F_t->1 (4 channels, pixel units, channel order
(dx0, dy0, dx1, dy1)) and a fusion-mask logit M. The output frame is

    m     = sigmoid(M)
    frame = m * warp(img0, F_t->0) + (1 - m) * warp(img1, F_t->1)

where warp() is *backward* warping with bilinear grid_sample (align_corners=False,
padding_mode='border'): warp(img, F)(x) = img(x + F(x)).

Flows are estimated coarse to fine by a stack of IFBlocks. Every block sees the inputs at
1/scale of the "working resolution" (scales e.g. 4, 2, 1), downsamples them by 4 more with two
stride-2 convolutions, runs a residual stack of 3x3 convs and predicts a *residual* update of the
flows and the mask logit, which is upsampled back to the working resolution and added. Blocks
after the first also see the images warped by the current flows, the current flows and mask.
The timestep is fed as a constant plane.

The working resolution is the input resolution divided by `down` (2 for the `fast` variant):
the flows and mask are computed at H/down x W/down and bilinearly upsampled (flow values scaled
by `down`) before the final full-resolution warp and fusion, so the output keeps the full input
sharpness. H and W must be divisible by 4*down*max(scales) (= 32 for the variants defined here;
the TypeScript engine pads to a multiple of 32).

During training a teacher IFBlock additionally sees the ground-truth middle frame and refines
the student's final flow; the student's flows are distilled towards the teacher's flow where the
teacher reconstructs better (privileged distillation, see losses.py). The teacher is not
exported.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = {
    # One compact network, trained at two working resolutions (H/2 and H/4 of the training crop)
    # so that it can be run at either: the shipped `fast` model runs it at H/4 and `quality` at
    # H/2 (4x the MACs). Sized for a 720p in-between frame within ~10 ms of network time on
    # 2 cores at H/4 (~3.1k MACs per working-resolution pixel).
    # Matcher block sizes (smooth) 7, 5, 3 since step ~10000 (ninth session): 3 everywhere before.
    'live': dict(channels=(64, 40, 24), depth=3, scales=(4, 2, 1), down=2, teacher_c=32, cost=(4, 1), smooth=(7, 5, 3)),
    # the first, larger design (0.5M params, H/2 only): ~100 ms of network time at 720p.
    'wide': dict(channels=(72, 48, 32), depth=6, scales=(4, 2, 1), down=2, teacher_c=48),
}


def conv(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2), nn.PReLU(cout))


def pixel_grid(x):
    """Pixel-centre coordinates (x, y) of a [B,C,H,W] tensor, [B,1,H,W] each, built only from
    shape-agnostic ops so the ONNX graph keeps H and W dynamic."""
    ones = torch.ones_like(x[:, :1])
    gx = torch.cumsum(ones, 3) - 1.0
    gy = torch.cumsum(ones, 2) - 1.0
    w = ones.sum(3, keepdim=True)  # [B,1,H,1] = W
    h = ones.sum(2, keepdim=True)  # [B,1,1,W] = H
    return gx, gy, w, h


def warp(img, flow, mode='bilinear'):
    """Backward warp: out(x) = img(x + flow(x)), bilinear (or `mode`), border padding, align_corners=False.
    flow: [B,2,H,W] in pixels (dx, dy) at img's resolution."""
    gx, gy, w, h = pixel_grid(img)
    nx = (2.0 * (gx + flow[:, 0:1]) + 1.0) / w - 1.0
    ny = (2.0 * (gy + flow[:, 1:2]) + 1.0) / h - 1.0
    grid = torch.cat([nx, ny], 1).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid, mode=mode, padding_mode='border', align_corners=False)


def down_flow(flow, s):
    if s == 1:
        return flow
    return F.avg_pool2d(flow, s) * (1.0 / s)


def up_flow(flow, s):
    if s == 1:
        return flow
    return F.interpolate(flow, scale_factor=float(s), mode='bilinear', align_corners=False) * float(s)


def up(x, s):
    if s == 1:
        return x
    return F.interpolate(x, scale_factor=float(s), mode='bilinear', align_corners=False)


def pool(x, s):
    return x if s == 1 else F.avg_pool2d(x, s)


def symmetric_cost(a, b, r):
    """Local matching cost around every pixel x for displacements d in [-r, r]^2, symmetric about
    x as the in-between frame sees it: cost_d(x) = |a(x - d) - b(x + d)| on the grey images
    (mean of RGB: a third of the work of a per-channel cost). [B,(2r+1)^2,H,W].
    Plain convolutions learn to compare two frames only slowly (trained from scratch on a CPU,
    the flows collapsed to zero: train/README.md); with the cost as input the blocks only have to
    read off and refine where it is low (as PWC-Net-style cost volumes do). Built from constant
    pads and slices with negative ends, so H and W stay dynamic in the ONNX graph."""
    pa = F.pad(a.mean(1, keepdim=True), (r, r, r, r), mode='replicate')
    pb = F.pad(b.mean(1, keepdim=True), (r, r, r, r), mode='replicate')
    n = 2 * r

    def crop(p, oy, ox):  # the H x W window starting at (oy, ox) of the padded tensor
        return p[:, :, oy:(oy - n if oy < n else None), ox:(ox - n if ox < n else None)]

    costs = []
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            costs.append((crop(pa, r - dy, r - dx) - crop(pb, r + dy, r + dx)).abs())
    return torch.cat(costs, 1)


class SoftArgmin(nn.Module):
    """Expected displacement under softmax(-cost / T) of a symmetric_cost volume (cost summed over
    a `smooth` x `smooth` window first: the matcher's block size), i.e. a differentiable block
    matcher: [B,2,H,W] (dx, dy) in the volume's pixels. The temperature T is learned. Gives the
    flow blocks a usable estimate from the first step; the learned layers only correct it
    (occlusions, flat areas, the fusion mask).

    `window` > 0: the expectation only over displacements within `window` of the best match (a
    local soft-argmin). Over the whole volume the expectation is pulled towards d = 0, the centre of
    the search range: on the footage with a 24-px pan the first block's matcher delivered 5.5 of the
    12 px (train/README.md, twelfth session), and the learned layers had to make up the rest."""

    def __init__(self, r, smooth=3, window=0):
        super().__init__()
        self.smooth = smooth
        self.window = window
        d = [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
        self.register_buffer('d', torch.tensor(d, dtype=torch.float32).t().reshape(2, -1, 1, 1), persistent=False)
        self.log_t = nn.Parameter(torch.tensor(-2.3))  # T = 0.1 on the normalised cost

    def forward(self, cost):
        cost = F.avg_pool2d(cost, self.smooth, 1, self.smooth // 2, count_include_pad=False)
        # Contrast-normalise per pixel (best match 0, average 1) so the softmax is as sharp in dim
        # as in bright texture; the +0.02 keeps flat areas (all costs alike) near d = 0.
        lo = cost.min(1, keepdim=True)[0]
        cost = (cost - lo) / (cost.mean(1, keepdim=True) - lo + 0.02)
        # softmax over the displacements, written out: the minimum is 0, so exp() cannot overflow,
        # and ONNX Runtime's CPU Softmax over the channel axis is ~10x slower than these ops.
        p = torch.exp(-cost / self.log_t.exp())
        if self.window:
            p = p * local_window(cost, self.d, self.window)
        p = p / p.sum(1, keepdim=True)
        return torch.cat([(p * self.d[0:1]).sum(1, keepdim=True), (p * self.d[1:2]).sum(1, keepdim=True)], 1)


def local_window(cost, d, w):
    """1 for the displacements within w (per axis) of the best match of a normalised cost (its
    minimum is exactly 0; ties share the best match as their mean), else 0: [B,D,H,W]."""
    best = (cost <= 0).float()
    best = best / best.sum(1, keepdim=True)
    bx, by = (best * d[0:1]).sum(1, keepdim=True), (best * d[1:2]).sum(1, keepdim=True)
    return ((d[0:1] - bx).abs() <= w + 0.01).float() * ((d[1:2] - by).abs() <= w + 0.01).float()


def symmetric_flows(d, t):
    """Intermediate flows from a symmetric displacement d (frame 0 at x - d, frame 1 at x + d for
    t = 0.5), for linear motion at timestep t: F_t->0 = -2t d, F_t->1 = 2(1-t) d."""
    return torch.cat([-2.0 * t * d, 2.0 * (1.0 - t) * d], 1)


_DIFF = torch.tensor([-0.5, 0.0, 0.5])


def lk_refine(a, b, flow, t, iters, win=5, smooth=7, lam=1e-4):
    """`iters` steps of symmetric Lucas-Kanade on the running intermediate flows [B,4,h,w] (pixels of
    a, b's size): each step warps both frames by them, then solves, per pixel and over a win x win
    window, the least-squares symmetric displacement d that makes the two warped frames agree to first
    order (frame 0 at x - d, frame 1 at x + d, as symmetric_flows), weighs d by its conditioning and
    averages it over a smooth x smooth window (ill-posed flat areas take their neighbours'), clamps it
    to one pixel and adds it as linear-motion flows.
    Why: measured on the footage validation (train/README.md, fourteenth session) the learned blocks
    leave errors of 1-2 px on a plain 24-px pan, which this classical step removes: from zero flow,
    LK alone at five scales beat the trained network's flows on pan and sprite validation. No
    parameters; the update is detached, so the blocks learn as if it were not there and it never
    feeds them unstable gradients (a 2x2 inverse near singular)."""
    c = a.shape[1]
    kx = _DIFF.to(a).view(1, 1, 1, 3).repeat(c, 1, 1, 1)
    ky = _DIFF.to(a).view(1, 1, 3, 1).repeat(c, 1, 1, 1)

    def box(x, k):
        return F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)

    with torch.no_grad():
        f = flow.detach()
        for _ in range(iters):
            wa, wb = warp(a, f[:, :2]), warp(b, f[:, 2:4])
            g = 2.0 * t * wa + 2.0 * (1.0 - t) * wb   # the gradients of this blend are the system's
            gx = F.conv2d(F.pad(g, (1, 1, 0, 0), mode='replicate'), kx, groups=c)
            gy = F.conv2d(F.pad(g, (0, 0, 1, 1), mode='replicate'), ky, groups=c)
            e = wa - wb
            sxx = box((gx * gx).sum(1, keepdim=True), win) + lam
            syy = box((gy * gy).sum(1, keepdim=True), win) + lam
            sxy = box((gx * gy).sum(1, keepdim=True), win)
            sxe = box((gx * e).sum(1, keepdim=True), win)
            sye = box((gy * e).sum(1, keepdim=True), win)
            det = sxx * syy - sxy * sxy
            d = torch.cat([syy * sxe - sxy * sye, sxx * sye - sxy * sxe], 1) / det
            d = d.clamp(-1.0, 1.0)
            if smooth > 1:
                conf = det / (sxx + syy)
                d = box(d * conf, smooth) / box(conf, smooth)
            f = f + symmetric_flows(d, t)
    return flow + (f - flow.detach())


def lk_pyramid_flow(g0, g1, t, scales, steps):
    """Intermediate flows [B,4,H,W] of the grey pair g0, g1 (working resolution) by Lucas-Kanade alone: zero flow
    at the first (coarsest) of `scales`, `steps` lk_refine steps at each, bilinearly doubled between them (each
    scale half the one before), upsampled to the working resolution at the end.
    Why (train/README.md, fourteenth session): the first block's soft-argmin flows were a worse start for the
    Lucas-Kanade steps than no flow at all (24-px pan val 28.7 against 31.6 from zero)."""
    f = None
    for k, s in enumerate(scales):
        a, b = pool(g0, s), pool(g1, s)
        f = torch.zeros_like(torch.cat([a, a, b, b], 1)) if f is None else up_flow(f, scales[k - 1] // s)
        f = lk_refine(a, b, f, t, steps)
    return up_flow(f, scales[-1])


class IFBlock(nn.Module):
    """Input at 1/scale of the working resolution -> conv stride 2 x2 (1/4 of that) -> residual
    conv stack -> transposed conv (x2) -> bilinear x2 back to the block-input resolution.
    Returns 4 flow channels (pixel units of the block input) and 1 mask-logit channel."""

    def __init__(self, cin, c, depth):
        super().__init__()
        self.conv0 = nn.Sequential(conv(cin, c // 2, 3, 2), conv(c // 2, c, 3, 2))
        self.body = nn.Sequential(*[conv(c, c) for _ in range(depth)])
        self.last = nn.ConvTranspose2d(c, 5, 4, 2, 1)
        # Start as "no correction": with a matcher in front, random initial residuals only add noise.
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    def forward(self, x):
        f = self.conv0(x)
        f = self.body(f) + f
        o = up(self.last(f), 2)
        return o[:, :4], o[:, 4:5]


class IFNet(nn.Module):
    def __init__(self, channels=(72, 48, 32), depth=6, scales=(4, 2, 1), down=2, teacher_c=48,
                 teacher=True, cost=(0, 0), smooth=None, local=None, lk=None, lk_pyramid=None):
        super().__init__()
        # smooth: the matchers' block size per IFBlock (3 for every block until the ninth session)
        smooth = tuple(smooth) if smooth else (3,) * len(channels)
        # local: each matcher's local soft-argmin window (0: over the whole volume, as until the twelfth session)
        local = tuple(local) if local else (0,) * len(channels)
        self.cfg = dict(channels=tuple(channels), depth=depth, scales=tuple(scales), down=down,
                        teacher_c=teacher_c, cost=tuple(cost), smooth=smooth)
        if any(local):  # only then: old checkpoints and cards keep their configuration
            self.cfg['local'] = local
        # lk: Lucas-Kanade steps after each block, at its scale (lk_refine; none until the fourteenth session)
        self.lk = tuple(lk) if lk else (0,) * len(channels)
        if any(self.lk):
            self.cfg['lk'] = self.lk
        # lk_pyramid (scales, steps): the first block's flows are not its own but Lucas-Kanade's from zero flow,
        # coarse to fine over these scales of the working resolution (lk_pyramid_flow); it keeps its mask.
        self.lk_pyramid = (tuple(lk_pyramid[0]), int(lk_pyramid[1])) if lk_pyramid else None
        if self.lk_pyramid:
            self.cfg['lk_pyramid'] = [list(self.lk_pyramid[0]), self.lk_pyramid[1]]
        self.scales = tuple(scales)
        self.down = down
        # cost radii: (first block, on the frames; later blocks, on the frames warped so far)
        self.r0, self.r1 = cost
        c0, c1 = (2 * self.r0 + 1) ** 2 if self.r0 else 0, (2 * self.r1 + 1) ** 2 if self.r1 else 0
        # first block: img0, img1, t (+ cost) -> 7 ch; later: + warped0, warped1, mask, flow(4) -> 18 ch
        blocks = [IFBlock(7 + c0, channels[0], depth)]
        for c in channels[1:]:
            blocks.append(IFBlock(18 + c1, c, depth))
        self.blocks = nn.ModuleList(blocks)
        self.match = nn.ModuleList([SoftArgmin(self.r0 if i == 0 else self.r1, smooth[i], local[i]) for i in range(len(blocks))]
                                   if self.r0 and self.r1 else [])
        self.teacher = IFBlock(21 + c1, teacher_c, depth) if teacher else None
        # The full-resolution warp of synth(): trained with bilinear; 'bicubic' is an inference-time
        # choice (export_onnx.py --warp), sharper on fine texture.
        self.final_warp = 'bilinear'

    def block_input(self, i0, i1, t, flow, mask, s):
        """The block's input at 1/s of the working resolution, and its matching cost (or None)."""
        a, b = pool(i0, s), pool(i1, s)
        tp = torch.ones_like(a[:, :1]) * t
        if flow is None:
            cost = symmetric_cost(a, b, self.r0) if self.r0 else None
            return torch.cat([a, b, tp] + ([cost] if self.r0 else []), 1), cost
        fs = down_flow(flow, s)
        ms = pool(mask, s)
        wa, wb = warp(a, fs[:, :2]), warp(b, fs[:, 2:4])
        cost = symmetric_cost(wa, wb, self.r1) if self.r1 else None
        return torch.cat([a, b, wa, wb, ms, tp, fs] + ([cost] if self.r1 else []), 1), cost

    def estimate(self, img0, img1, t, gt=None, down=None):
        """Returns list of (flow, mask_logit) at the working resolution (input / down, default
        self.down) after each block, and the teacher's (flow, mask_logit) if gt is given.
        t: [B,1,1,1]."""
        down = self.down if down is None else down
        i0, i1 = pool(img0, down), pool(img1, down)
        flow, mask, out = None, None, []
        for i, (blk, s) in enumerate(zip(self.blocks, self.scales)):
            x, cost = self.block_input(i0, i1, t, flow, mask, s)
            df, dm = blk(x)
            if self.match:  # matched displacement (a correction after the first block) + learned residual
                df = df + symmetric_flows(self.match[i](cost), t)
            df, dm = up_flow(df, s), up(dm, s)
            if i == 0 and self.lk_pyramid:
                df = lk_pyramid_flow(i0.mean(1, keepdim=True), i1.mean(1, keepdim=True), t, *self.lk_pyramid)
            flow = df if flow is None else flow + df
            mask = dm if mask is None else mask + dm
            if self.lk[i]:
                fs = down_flow(flow, s)
                flow = flow + up_flow(lk_refine(pool(i0, s).mean(1, keepdim=True), pool(i1, s).mean(1, keepdim=True),
                                                fs, t, self.lk[i]) - fs, s)
            out.append((flow, mask))
        tea = None
        if gt is not None and self.teacher is not None:
            x = torch.cat([self.block_input(i0, i1, t, flow, mask, 1)[0], pool(gt, down)], 1)
            df, dm = self.teacher(x)
            tea = (flow + df, mask + dm)
        return out, tea

    def synth(self, img0, img1, flow, mask, down=None):
        """Full-resolution warp & fuse from working-resolution flow/mask."""
        down = self.down if down is None else down
        ff, mm = up_flow(flow, down), up(mask, down)
        m = torch.sigmoid(mm)
        w0, w1 = warp(img0, ff[:, :2], self.final_warp), warp(img1, ff[:, 2:4], self.final_warp)
        return m * w0 + (1 - m) * w1, m, w0, w1

    def forward(self, img0, img1, t):
        """Inference: returns frame (clamped), final flow and sigmoid mask at the working
        resolution (H/down, W/down)."""
        out, _ = self.estimate(img0, img1, t)
        flow, mask = out[-1]
        frame, _, _, _ = self.synth(img0, img1, flow, mask)
        return frame.clamp(0, 1), flow, torch.sigmoid(mask)


def load_student(path):
    """The student network of a train.py checkpoint (teacher dropped), in eval mode, and the checkpoint."""
    ck = torch.load(path, map_location='cpu')
    net = IFNet(**ck['cfg'], teacher=False)
    net.load_state_dict({k: v for k, v in ck['model'].items() if not k.startswith('teacher.')})
    return net.eval(), ck


def build(variant, teacher=True):
    return IFNet(**VARIANTS[variant], teacher=teacher)


def count_params(m, student_only=True):
    return sum(p.numel() for n, p in m.named_parameters() if not (student_only and n.startswith('teacher')))
