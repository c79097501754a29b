"""Losses: Laplacian-pyramid L1 reconstruction loss and privileged flow distillation."""
import torch
import torch.nn.functional as F


def _blur(x):
    """5x5 binomial blur, reflect padding. Written as shifted sums of the separable [1 4 6 4 1]
    taps: the same values as a grouped 5x5 convolution, which PyTorch's CPU backend runs slowly
    (with lap_loss's one pyramid below: loss + backward of an 8x3x384x384 pair 618 -> 301 ms)."""
    p = F.pad(x, (2, 2, 2, 2), mode='reflect')
    h, w = x.shape[2], x.shape[3]
    r = (p[..., 0:w] + p[..., 4:w + 4]) + 4 * (p[..., 1:w + 1] + p[..., 3:w + 3]) + 6 * p[..., 2:w + 2]
    return ((r[:, :, 0:h] + r[:, :, 4:h + 4]) + 4 * (r[:, :, 1:h + 1] + r[:, :, 3:h + 3]) + 6 * r[:, :, 2:h + 2]) / 256.0


def lap_pyramid(x, levels=5):
    out = []
    cur = x
    for _ in range(levels - 1):
        low = _blur(cur)
        down = low[:, :, ::2, ::2]
        upx = torch.zeros_like(cur)
        upx[:, :, ::2, ::2] = down * 4.0
        out.append(cur - _blur(upx))
        cur = down
    out.append(cur)
    return out


def lap_loss(pred, gt, levels=5):
    """Sum over pyramid levels of the mean L1 difference of the Laplacian bands. The pyramid is
    linear, so the bands' difference is the pyramid of the difference: one pyramid, not two."""
    return sum(band.abs().mean() for band in lap_pyramid(pred - gt, levels))


def distill_loss(student_flows, teacher_flow, student_frame, teacher_frame, gt, down=1, margin=0.01):
    """Privileged distillation (RIFE): pull every student block's flow towards the (detached)
    teacher flow, only at pixels where the teacher's reconstruction error is lower than the
    student's by `margin`. Flows are at the working resolution (frames downsampled by `down`).
    Per-pixel endpoint error of both flows (L2 norm over (dx,dy))."""
    es = (student_frame - gt).abs().mean(1, keepdim=True)
    et = (teacher_frame - gt).abs().mean(1, keepdim=True)
    m = (es > et + margin).float()
    if down > 1:
        m = F.avg_pool2d(m, down)
    m = m.detach()
    tf = teacher_flow.detach()
    loss = 0.0
    for f in student_flows:
        d = f - tf
        epe = (d[:, 0:2].pow(2).sum(1, keepdim=True) + 1e-6).sqrt() + (d[:, 2:4].pow(2).sum(1, keepdim=True) + 1e-6).sqrt()
        loss = loss + (epe * m).mean()
    return loss


def flow_label_loss(flows, label, img0, img1, gt, down, thr=0.05):
    """Auxiliary loss towards pseudo-label intermediate flows (DIS optical flow from the true middle
    frame to each end frame, see data.TripletSampler.pseudo_flow). Only where a label explains
    the middle frame (its warp error < thr), so wrong labels in occlusions and flat areas do not
    teach. Flows at the working resolution (input / down, working pixels); the error is measured
    in input pixels (robust endpoint error, summed over the two flows, averaged over blocks)."""
    from ifnet import warp  # local: losses.py stays importable without the model
    with torch.no_grad():
        w0 = ((warp(img0, label[:, 0:2]) - gt).abs().mean(1, keepdim=True) < thr).float()
        w1 = ((warp(img1, label[:, 2:4]) - gt).abs().mean(1, keepdim=True) < thr).float()
        if down > 1:
            label = F.avg_pool2d(label, down) / down
            w0, w1 = F.avg_pool2d(w0, down), F.avg_pool2d(w1, down)
    loss = 0.0
    for f in flows:
        d = (f - label) * down
        e0 = (d[:, 0:2].pow(2).sum(1, keepdim=True) + 1e-6).sqrt()
        e1 = (d[:, 2:4].pow(2).sum(1, keepdim=True) + 1e-6).sqrt()
        loss = loss + (e0 * w0 + e1 * w1).mean()
    return loss / len(flows)


def psnr(a, b):
    mse = (a.clamp(0, 1) - b).pow(2).mean().item()
    return 10.0 * torch.log10(torch.tensor(1.0 / max(mse, 1e-10))).item()
