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
    # ~0.5M params; flows computed at 1/2 of the input resolution (finest block at 1/8).
    'fast': dict(channels=(72, 48, 32), depth=6, scales=(4, 2, 1), down=2, teacher_c=48),
    # wider and deeper blocks, same working resolution (compute <= ~4x fast, see README).
    'quality': dict(channels=(96, 64, 48), depth=8, scales=(4, 2, 1), down=2, teacher_c=64),
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


def warp(img, flow):
    """Backward warp: out(x) = img(x + flow(x)), bilinear, border padding, align_corners=False.
    flow: [B,2,H,W] in pixels (dx, dy) at img's resolution."""
    gx, gy, w, h = pixel_grid(img)
    nx = (2.0 * (gx + flow[:, 0:1]) + 1.0) / w - 1.0
    ny = (2.0 * (gy + flow[:, 1:2]) + 1.0) / h - 1.0
    grid = torch.cat([nx, ny], 1).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid, mode='bilinear', padding_mode='border', align_corners=False)


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


class IFBlock(nn.Module):
    """Input at 1/scale of the working resolution -> conv stride 2 x2 (1/4 of that) -> residual
    conv stack -> transposed conv (x2) -> bilinear x2 back to the block-input resolution.
    Returns 4 flow channels (pixel units of the block input) and 1 mask-logit channel."""

    def __init__(self, cin, c, depth):
        super().__init__()
        self.conv0 = nn.Sequential(conv(cin, c // 2, 3, 2), conv(c // 2, c, 3, 2))
        self.body = nn.Sequential(*[conv(c, c) for _ in range(depth)])
        self.last = nn.ConvTranspose2d(c, 5, 4, 2, 1)

    def forward(self, x):
        f = self.conv0(x)
        f = self.body(f) + f
        o = up(self.last(f), 2)
        return o[:, :4], o[:, 4:5]


class IFNet(nn.Module):
    def __init__(self, channels=(72, 48, 32), depth=6, scales=(4, 2, 1), down=2, teacher_c=48,
                 teacher=True):
        super().__init__()
        self.cfg = dict(channels=tuple(channels), depth=depth, scales=tuple(scales), down=down,
                        teacher_c=teacher_c)
        self.scales = tuple(scales)
        self.down = down
        # first block: img0, img1, t -> 7 ch; later: + warped0, warped1, mask, flow(4) -> 18 ch
        blocks = [IFBlock(7, channels[0], depth)]
        for c in channels[1:]:
            blocks.append(IFBlock(18, c, depth))
        self.blocks = nn.ModuleList(blocks)
        self.teacher = IFBlock(21, teacher_c, depth) if teacher else None

    @staticmethod
    def block_input(i0, i1, t, flow, mask, s):
        a, b = pool(i0, s), pool(i1, s)
        tp = torch.ones_like(a[:, :1]) * t
        if flow is None:
            return torch.cat([a, b, tp], 1)
        fs = down_flow(flow, s)
        ms = pool(mask, s)
        wa, wb = warp(a, fs[:, :2]), warp(b, fs[:, 2:4])
        return torch.cat([a, b, wa, wb, ms, tp, fs], 1)

    def estimate(self, img0, img1, t, gt=None):
        """Returns list of (flow, mask_logit) at the working resolution after each block, and the
        teacher's (flow, mask_logit) if gt is given. t: [B,1,1,1]."""
        i0, i1 = pool(img0, self.down), pool(img1, self.down)
        flow, mask, out = None, None, []
        for blk, s in zip(self.blocks, self.scales):
            df, dm = blk(self.block_input(i0, i1, t, flow, mask, s))
            df, dm = up_flow(df, s), up(dm, s)
            flow = df if flow is None else flow + df
            mask = dm if mask is None else mask + dm
            out.append((flow, mask))
        tea = None
        if gt is not None and self.teacher is not None:
            x = torch.cat([self.block_input(i0, i1, t, flow, mask, 1), pool(gt, self.down)], 1)
            df, dm = self.teacher(x)
            tea = (flow + df, mask + dm)
        return out, tea

    def synth(self, img0, img1, flow, mask):
        """Full-resolution warp & fuse from working-resolution flow/mask."""
        ff, mm = up_flow(flow, self.down), up(mask, self.down)
        m = torch.sigmoid(mm)
        w0, w1 = warp(img0, ff[:, :2]), warp(img1, ff[:, 2:4])
        return m * w0 + (1 - m) * w1, m, w0, w1

    def forward(self, img0, img1, t):
        """Inference: returns frame (clamped), final flow and sigmoid mask at the working
        resolution (H/down, W/down)."""
        out, _ = self.estimate(img0, img1, t)
        flow, mask = out[-1]
        frame, _, _, _ = self.synth(img0, img1, flow, mask)
        return frame.clamp(0, 1), flow, torch.sigmoid(mask)


def build(variant, teacher=True):
    return IFNet(**VARIANTS[variant], teacher=teacher)


def count_params(m, student_only=True):
    return sum(p.numel() for n, p in m.named_parameters() if not (student_only and n.startswith('teacher')))
