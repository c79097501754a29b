"""Losses: Laplacian-pyramid L1 reconstruction loss and privileged flow distillation."""
import torch
import torch.nn.functional as F

_G = torch.tensor([1., 4., 6., 4., 1.])
_G = (_G[:, None] * _G[None, :]) / 256.0


def _blur(x):
    c = x.shape[1]
    k = _G.to(x).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode='reflect'), k, groups=c)


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
    """Sum over pyramid levels of the mean L1 difference of the Laplacian bands."""
    return sum((a - b).abs().mean() for a, b in zip(lap_pyramid(pred, levels), lap_pyramid(gt, levels)))


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


def psnr(a, b):
    mse = (a.clamp(0, 1) - b).pow(2).mean().item()
    return 10.0 * torch.log10(torch.tensor(1.0 / max(mse, 1e-10))).item()
