"""The trained IFNet rewritten for inference: the same function as IFNet.estimate(down=1) (final flow,
sigmoid mask), with the same weights, in 260 instead of 695 ONNX nodes.

Why: at the working resolutions the engine uses the network's convolutions are small, and much of
ONNX Runtime's time went to ~700 tiny nodes (81 Slice/Sub/Abs per cost volume, a CumSum pixel grid
per warp, per-channel softmax arithmetic), each paying a thread-pool round trip. What changed, each
exact up to float rounding (export_onnx.py checks the rewrite against IFNet on real frames before it
writes anything):

  * cost volume: |a(x-d) - b(x+d)| for all d is one convolution of the padded grey pair with
    +1/-1 one-hot kernels, then Abs; the warped RGB pair is made grey first too (one ReduceMean,
    grey()) rather than folding the grey mean into kernels over its six channels: the same linear
    map with a third of the multiply-adds (bench/RESULTS.md, "Leaner part graphs and faster
    kernels");
  * soft-argmin: exp of the normalised cost, then one 1x1 weight matrix gives the softmax
    denominator and both expected displacements at once;
  * warps: both frames in one GridSample (batch 2), the sampling grid built once per level from
    Range instead of CumSum, scaled while channels-first;
  * flows and mask travel as one 5-channel tensor (one Resize and one pool instead of two);
  * each block's first convolution takes zero-weight extra channels up to a multiple of 8 (NCHWc).
Measured in train/README.md (fourth session): ~15 % less network time at 224x128, none at 160x96.

export_stages.py cuts each block's convolutions out of this function (its parts) and writes the rest
out in PyTorch as the engine does it natively.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

import ifnet


def shift_kernel(r, grey_channels):
    """Weights [(2r+1)^2, 2*grey_channels, 2r+1, 2r+1] turning the pair (a, b), each padded by r,
    into a(x - d) - b(x + d) for every d in [-r, r]^2 (the order of ifnet.symmetric_cost), with the
    grey mean over `grey_channels` channels folded in."""
    n = 2 * r + 1
    w = torch.zeros(n * n, 2 * grey_channels, n, n)
    k = 0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            w[k, :grey_channels, r - dy, r - dx] = 1.0 / grey_channels
            w[k, grey_channels:, r + dy, r + dx] = -1.0 / grey_channels
            k += 1
    return w


class InferIFNet(nn.Module):
    def __init__(self, net: ifnet.IFNet):
        super().__init__()
        assert net.match, 'the rewrite covers the matching-cost IFNet (cost radii set)'
        self.blocks = net.blocks
        self.scales = net.scales
        self.r0, self.r1 = net.r0, net.r1
        self.smooth = [m.smooth for m in net.match]
        self.register_buffer('k0', shift_kernel(self.r0, 1))  # block 1: on the grey pair
        self.register_buffer('k1', shift_kernel(self.r1, 1))  # later blocks: on the warped pair made grey first
        # per matcher: 1x1 weights giving [sum p, sum p dx, sum p dy, sum p dx, sum p dy, 0]
        for i, m in enumerate(net.match):
            d = m.d.reshape(2, -1)
            w = torch.stack([torch.ones_like(d[0]), d[0], d[1], d[0], d[1], torch.zeros_like(d[0])])
            self.register_buffer(f'moments{i}', w[:, :, None, None].clone())
            self.register_buffer(f'inv_t{i}', (-m.log_t.detach()).exp().reshape(1, 1, 1, 1))
            if m.window:
                self.register_buffer(f'disp{i}', m.d.clone())  # (dx, dy) per volume channel, for ifnet.local_window
        self.window = [m.window for m in net.match]
        self.lk_steps = net.lk
        self.lk_pyramid = net.lk_pyramid
        assert not self.lk_pyramid or all(s % self.scales[0] == 0 for s in self.lk_pyramid[0]), \
            'the pyramid is built from the first block\'s pooled pair'
        self.register_buffer('diff_x', ifnet._DIFF.view(1, 1, 1, 3).clone())  # central differences, for lk()
        self.register_buffer('diff_y', ifnet._DIFF.view(1, 1, 3, 1).clone())
        # Each block's first convolution, its input widened with zero-weight channels to a multiple of 8:
        # ONNX Runtime runs such convolutions in its blocked (NCHWc) layout (1.44 -> 1.23 ms at 224x128).
        self.first = nn.ModuleList()
        self.extra = []
        for blk in net.blocks:
            c = blk.conv0[0][0]
            pad = -c.in_channels % 8
            wide = nn.Conv2d(c.in_channels + pad, c.out_channels, c.kernel_size, c.stride, c.padding)
            with torch.no_grad():
                wide.weight.zero_()
                wide.weight[:, :c.in_channels] = c.weight
                wide.bias.copy_(c.bias)
            self.first.append(wide)
            self.extra.append(pad)

    def cost(self, pair, r, kernel):
        return F.conv2d(F.pad(pair, (r, r, r, r), mode='replicate'), kernel).abs()

    def match(self, i, cost, coef):
        """Soft-argmin displacement of the cost as linear-motion intermediate flows, [B,5] with a
        zero mask channel: coef = (-2t, -2t, 2(1-t), 2(1-t), 0)."""
        s = self.smooth[i]
        c = F.avg_pool2d(cost, s, 1, s // 2, count_include_pad=False)
        lo = c.min(1, keepdim=True)[0]
        k = getattr(self, f'inv_t{i}') / (c.mean(1, keepdim=True) - lo + 0.02)
        e = torch.exp((lo - c) * k)
        if self.window[i]:  # only the displacements near the best match (c - lo: IFNet's normalised cost is 0 there too)
            e = e * ifnet.local_window(c - lo, getattr(self, f'disp{i}'), self.window[i])
        # the 1x1 moments convolution as a MatMul over the flattened pixels: ONNX Runtime ran the
        # convolution blocked (NCHWc), its 6 outputs padded to 16; the MatMul, layout reorder included,
        # costs less (bench/history, the fifth stop)
        w = getattr(self, f'moments{i}')
        m = torch.matmul(w[:, :, 0, 0], e.reshape(1, e.shape[1], -1)).reshape(1, w.shape[0], e.shape[2], e.shape[3])
        return m[:, 1:] / m[:, :1] * coef

    def warp_pair(self, ab, fm):
        """Both frames of the 6-channel pair backward-warped by their flows (channels 0-3 of fm),
        one GridSample for both; returns the warped pair as 6 channels. (Four Gathers instead of
        GridSample were measured too: no faster in ONNX Runtime.)"""
        _, _, h, w = ab.shape
        # sizes as tensors from Range, so that H and W stay dynamic in the ONNX graph
        ix, iy = torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32)
        wt, ht = ix[-1:] + 1.0, iy[-1:] + 1.0
        gx, gy = (ix * 2.0 + 1.0) / wt - 1.0, (iy * 2.0 + 1.0) / ht - 1.0
        base = torch.stack([gx[None, :].expand(h, w), gy[:, None].expand(h, w)], 0)[None]  # [1,2,h,w]
        scale = torch.cat([2.0 / wt, 2.0 / ht, 2.0 / wt, 2.0 / ht]).reshape(1, 4, 1, 1)
        # [2,2,h,w]: frame 0's (dx, dy), frame 1's; scaled and offset while channels-first (ONNX Runtime
        # broadcasts over a small trailing dimension slowly), then one transpose to GridSample's layout
        grid = ((fm[:, :4] * scale).reshape(2, 2, h, w) + base).permute(0, 2, 3, 1)
        out = F.grid_sample(ab.reshape(2, 3, h, w), grid, mode='bilinear', padding_mode='border', align_corners=False)
        return out.reshape(1, 6, h, w)

    def grid(self, h, w):
        """Base sampling grid [1,2,h,w] and the flow-to-grid scale [1,4,1,1], from Range so that H and W
        stay dynamic in the ONNX graph."""
        ix, iy = torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32)
        wt, ht = ix[-1:] + 1.0, iy[-1:] + 1.0
        gx, gy = (ix * 2.0 + 1.0) / wt - 1.0, (iy * 2.0 + 1.0) / ht - 1.0
        base = torch.stack([gx[None, :].expand(h, w), gy[:, None].expand(h, w)], 0)[None]
        return base, torch.cat([2.0 / wt, 2.0 / ht, 2.0 / wt, 2.0 / ht]).reshape(1, 4, 1, 1)

    def lk_at(self, grey, f, t, steps):
        """ifnet.lk_refine's steps on the flows f [1,4,h,w] of the grey pair [1,2,h,w] at one scale."""
        _, _, h, w = grey.shape
        base, scale = self.grid(h, w)
        c0, c1 = 2.0 * t, 2.0 - 2.0 * t
        coef = torch.cat([-c0, -c0, c1, c1], 1)
        for _ in range(steps):
            g = ((f * scale).reshape(2, 2, h, w) + base).permute(0, 2, 3, 1)
            wp = F.grid_sample(grey.reshape(2, 1, h, w), g, mode='bilinear', padding_mode='border', align_corners=False)
            wa, wb = wp[0:1], wp[1:2]
            blend = c0 * wa + c1 * wb
            gx = F.conv2d(F.pad(blend, (1, 1, 0, 0), mode='replicate'), self.diff_x)
            gy = F.conv2d(F.pad(blend, (0, 0, 1, 1), mode='replicate'), self.diff_y)
            e = wa - wb
            sums = F.avg_pool2d(torch.cat([gx * gx, gy * gy, gx * gy, gx * e, gy * e], 1), 5, 1, 2, count_include_pad=False)
            sxx, syy, sxy, sxe, sye = sums[:, 0:1] + 1e-4, sums[:, 1:2] + 1e-4, sums[:, 2:3], sums[:, 3:4], sums[:, 4:5]
            det = sxx * syy - sxy * sxy
            d = (torch.cat([syy * sxe - sxy * sye, sxx * sye - sxy * sxe], 1) / det).clamp(-1.0, 1.0)
            conf = det / (sxx + syy)
            sm = F.avg_pool2d(torch.cat([d * conf, conf], 1), 7, 1, 3, count_include_pad=False)
            d = sm[:, 0:2] / sm[:, 2:3]
            f = f + torch.cat([d, d], 1) * coef
        return f

    @staticmethod
    def grey(p):
        """The grey pair [1,2,h,w] of the RGB pair p [1,6,h,w].

        One ReduceMean over the colour axis of p seen as [1,2,3,h,w], not one per frame and a Concat:
        a fraction of the time in ONNX Runtime (bench/history, the fifth stop)."""
        return p.reshape(-1, 2, 3, p.shape[2], p.shape[3]).mean(2)

    def lk(self, i, p, fm, t):
        """ifnet.lk_refine's steps after block i, at its scale, on the grey pair of p: fm with the flows
        corrected (the update upsampled to the working resolution)."""
        s = self.scales[i]
        f0 = self.pooled_flow(fm, s)[:, :4]
        delta = self.lk_at(self.grey(p), f0, t, self.lk_steps[i]) - f0
        if s > 1:
            delta = ifnet.up(delta, s) * float(s)
        return torch.cat([fm[:, :4] + delta, fm[:, 4:5]], 1)

    def pyramid_flow(self, p, t):
        """ifnet.lk_pyramid_flow on the pair p (pooled to the first block's scale), at the working resolution."""
        scales, steps = self.lk_pyramid
        s0 = self.scales[0]
        g = self.grey(p)
        f = None
        for k, s in enumerate(scales):
            gs = ifnet.pool(g, s // s0)
            f = gs.repeat(1, 2, 1, 1) * 0.0 if f is None else ifnet.up(f, scales[k - 1] // s) * float(scales[k - 1] // s)
            f = self.lk_at(gs, f, t, steps)
        return ifnet.up(f, scales[-1]) * float(scales[-1])

    def pooled_flow(self, fm, s):
        """The running flows and mask at 1/s of the working resolution (flows in pixels of that size)."""
        return ifnet.pool(fm, s) * torch.tensor([1.0 / s] * 4 + [1.0]).reshape(1, 5, 1, 1) if s > 1 else fm

    def block(self, i, p, t, coef, fm=None, fs=None, wab=None):
        """IFBlock i on the frame pair p pooled to its scale: the running flows and mask after it.
        Block 0 starts from nothing; later ones take the running fm, its pooled fs and the pair
        warped by it (wab)."""
        blk, s = self.blocks[i], self.scales[i]
        tp = torch.ones_like(p[:, :1]) * t
        if fm is None:
            cost = self.cost(self.grey(p), self.r0, self.k0)
            x = torch.cat([p, tp, cost], 1)
        else:
            cost = self.cost(self.grey(wab), self.r1, self.k1)
            # IFNet's order: a, b, warped a, warped b, mask, t-plane, flows, cost
            x = torch.cat([p, wab, fs[:, 4:5], tp, fs[:, :4], cost], 1)
        if self.extra[i]:
            x = torch.cat([x] + [tp] * self.extra[i], 1)  # any channel will do: its weights are zero
        f = blk.conv0[1](blk.conv0[0][1](self.first[i](x)))
        f = blk.body(f) + f
        o = ifnet.up(blk.last(f), 2) + self.match(i, cost, coef)
        if s > 1:
            o = ifnet.up(o, s) * torch.tensor([float(s)] * 4 + [1.0]).reshape(1, 5, 1, 1)
        o = o if fm is None else fm + o
        if fm is None and self.lk_pyramid:  # the first block's flows are Lucas-Kanade's (ifnet.lk_pyramid_flow)
            o = torch.cat([self.pyramid_flow(p, t), o[:, 4:5]], 1)
        return self.lk(i, p, o, t) if self.lk_steps[i] else o

    @staticmethod
    def coefficients(t):
        """(-2t, -2t, 2(1-t), 2(1-t), 0) as [1,5,1,1]: soft-argmin displacements to intermediate flows."""
        return torch.cat([-2.0 * t, -2.0 * t, 2.0 - 2.0 * t, 2.0 - 2.0 * t, t * 0.0], 1)

    def forward(self, img0, img1, t):
        ab = torch.cat([img0, img1], 1)
        coef = self.coefficients(t)
        fm = None  # flows (4) and mask logit (1) so far, at the working resolution
        for i, s in enumerate(self.scales):
            p = ifnet.pool(ab, s)
            if fm is None:
                fm = self.block(i, p, t, coef)
            else:
                fs = self.pooled_flow(fm, s)
                fm = self.block(i, p, t, coef, fm, fs, self.warp_pair(p, fs))
        return fm[:, :4], torch.sigmoid(fm[:, 4:5])
