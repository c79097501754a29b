"""On-the-fly triplet sampling from the decoded footage cache (see prep_data.py).

A triplet is frames (i, j, k) of one clip with i < j < k, no scene cut in [i, k], and timestep
t = (j - i) / (k - i). Mostly k - i = 2 (t = 0.5); some larger gaps give other timesteps and larger
motion. Whole clips are held out for validation (splits.py): load_clips leaves them out and the sampler
refuses them. The last ~10% of every training clip (plus a guard gap) is held out too, for train.py's quick
validation.
Augmentations: random crop, horizontal / vertical flips, 90-degree rotations, temporal reversal
(swap img0/img1, t -> 1 - t) and RGB channel-order shuffles; optionally a synthetic camera pan and
pasted moving "sprites" (see paste_sprites).
"""
import glob, json, os
import numpy as np
import torch

from splits import is_held_out

try:  # Debian python3-opencv: DIS optical flow for the pseudo-label flows (train/README.md)
    import cv2
    cv2.setNumThreads(1)
except ImportError:  # pragma: no cover
    cv2 = None

CACHE = os.path.expanduser(os.environ.get('FRC_FRAMES', '~/.cache/frc/frames'))


def find_cuts(mad, abs_thr=12.0, rel=3.0):
    """Transition i (between frames i and i+1) is a cut when its mean-abs-difference is large both
    absolutely and relative to the median of its neighbours."""
    mad = np.asarray(mad, np.float32)
    cuts = set()
    for i in range(len(mad)):
        nb = np.concatenate([mad[max(0, i - 4):i], mad[i + 1:i + 5]])
        ref = float(np.median(nb)) if len(nb) else 0.0
        if mad[i] > abs_thr and mad[i] > rel * max(ref, 1.0):
            cuts.add(i)
    return cuts


class Clip:
    def __init__(self, d):
        self.meta = json.load(open(os.path.join(d, 'meta.json')))
        self.name = self.meta['name']
        self.small = np.load(os.path.join(d, 's432.npy'), mmap_mode='r')
        self.full = np.load(os.path.join(d, 'full.npy'), mmap_mode='r') if self.meta['full'] else None
        self.n = self.small.shape[0]
        self.mad = np.asarray(self.meta['mad'], np.float32)
        self.cuts = find_cuts(self.mad)
        cut_arr = np.zeros(max(self.n - 1, 1), np.int32)
        for c in self.cuts:
            cut_arr[c] = 1
        self.cum_cuts = np.concatenate([[0], np.cumsum(cut_arr)])
        nval = max(4, int(round(self.n * 0.1)))
        self.val_start = self.n - nval           # frames >= val_start are validation only
        self.train_end = self.val_start - 3      # training triplets use frames < train_end

    def has_cut(self, i, k):
        return self.cum_cuts[k] - self.cum_cuts[i] > 0

    def motion(self, i, k):
        return float(self.mad[i:k].sum())


def load_clips(cache=CACHE, held_out=False):
    """The cached clips that train; with held_out=True also the validation clips (splits.py), which nothing
    may train on."""
    dirs = [d for d in sorted(glob.glob(os.path.join(cache, '*'))) if os.path.exists(os.path.join(d, 'meta.json'))]
    return [c for c in map(Clip, dirs) if held_out or not is_held_out(c.name)]


def pan_offsets(vy, vx, t):
    """Crop-window offsets (dy, dx) of frames 0 and 1 for a synthetic camera pan of (vy, vx) px over
    the gap, the middle frame's window at (0, 0): frame 0's window is ahead by v*t, frame 1's behind
    by v*(1-t), so the content moves linearly by v (integer offsets: no resampling)."""
    return (round(vy * t), round(vx * t)), (-round(vy * (1 - t)), -round(vx * (1 - t)))


def blob_mask(rng, h, w):
    """A random blob filling most of an h x w box: the union of 1-3 random rotated ellipses."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    m = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        ry, rx = rng.uniform(0.2, 0.5) * h, rng.uniform(0.2, 0.5) * w
        a = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u, v = dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)
        m |= (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
    return m


def paste_sprites(x3, t, rng, patch, n, max_motion):
    """Pastes `n` opaque sprites, each a blob-shaped patch (patch(h, w) -> [h,w,3] uint8) moving
    linearly by up to `max_motion` px per axis over the gap, into a triplet x3 [3,h,w,3] (frames 0,
    t, 1): integer positions, so the pixels are copied, not resampled, and the sprite keeps its sharp
    texture and edges. What this shows the network that the footage rarely does: independent large
    motion in front of a background, and the occlusions it makes (background covered on one side,
    uncovered on the other). Returns a new array."""
    x3 = np.array(x3)
    H, W = x3.shape[1:3]
    for _ in range(n):
        sh, sw = int(rng.integers(H // 8, H // 2 + 1)), int(rng.integers(W // 8, W // 2 + 1))
        pix, m = patch(sh, sw), blob_mask(rng, sh, sw)
        vy, vx = int(rng.integers(-max_motion, max_motion + 1)), int(rng.integers(-max_motion, max_motion + 1))
        cy, cx = int(rng.integers(-sh // 4, H - 3 * sh // 4)), int(rng.integers(-sw // 4, W - 3 * sw // 4))
        for f, s in enumerate((-t, 0.0, 1.0 - t)):  # the sprite's offset from its middle-frame position
            y0, x0 = cy + round(vy * s), cx + round(vx * s)
            ya, yb, xa, xb = max(0, y0), min(H, y0 + sh), max(0, x0), min(W, x0 + sw)
            if ya >= yb or xa >= xb:
                continue
            mm = m[ya - y0:yb - y0, xa - x0:xb - x0]
            x3[f, ya:yb, xa:xb][mm] = pix[ya - y0:yb - y0, xa - x0:xb - x0][mm]
    return x3


class TripletSampler:
    def __init__(self, clips, crop=256, p_full=0.25, p_gap=0.3, max_gap=6, min_mad=0.0, seed=0,
                 flow_labels=False, p_pan=0.0, max_pan=32, p_sprite=0.0, max_sprite=48, label_preset='fast'):
        held = [c.name for c in clips if is_held_out(c.name)]
        if held:
            raise ValueError(f'validation clips must not train (splits.py): {held}')
        self.clips = clips
        self.flow_labels = flow_labels
        if flow_labels:
            if cv2 is None:
                raise RuntimeError('flow labels need OpenCV: apt-get install python3-opencv')
            self.dis = cv2.DISOpticalFlow_create(getattr(cv2, 'DISOPTICAL_FLOW_PRESET_' + label_preset.upper()))
        self.min_mad = min_mad
        self.crop = crop
        self.p_full = p_full
        self.p_gap = p_gap
        self.max_gap = max_gap
        self.p_pan = p_pan
        self.max_pan = max_pan
        self.p_sprite = p_sprite
        self.max_sprite = max_sprite
        self.rng = np.random.default_rng(seed)
        w = np.array([np.sqrt(c.train_end) for c in clips], np.float64)
        self.w = w / w.sum()

    def _pick(self):
        rng = self.rng
        for _ in range(100):
            c = self.clips[rng.choice(len(self.clips), p=self.w)]
            fps = c.meta['fps']
            gmax = self.max_gap if fps >= 20 else 3
            g = 2 if rng.random() > self.p_gap else int(rng.integers(3, gmax + 1))
            if c.train_end - g <= 0:
                continue
            i = int(rng.integers(0, c.train_end - g))
            k = i + g
            if c.has_cut(i, k):
                continue
            if c.motion(i, k) < 0.3 * g and rng.random() < 0.8:  # mostly skip static triplets
                continue
            if c.motion(i, k) < self.min_mad * g:
                continue
            j = int(rng.integers(i + 1, k))
            return c, i, j, k
        raise RuntimeError('could not sample a triplet')

    def sample(self, crop=None):
        rng, cs = self.rng, crop or self.crop
        c, i, j, k = self._pick()
        src = c.full if (c.full is not None and rng.random() < self.p_full) else c.small
        H, W = src.shape[1:3]
        t = (j - i) / (k - i)
        # Synthetic camera pan (p_pan of the triplets), on top of the content's own motion. The footage
        # moves little (median 0 px), the eval sets' worst cases are large motions; this is how the
        # sampler shows the network large ones.
        vy = vx = 0
        if self.p_pan > 0 and rng.random() < self.p_pan:
            py, px = min(self.max_pan, (H - cs) // 2), min(self.max_pan, (W - cs) // 2)
            vy, vx = int(rng.integers(-py, py + 1)), int(rng.integers(-px, px + 1))
        (oy0, ox0), (oy1, ox1) = pan_offsets(vy, vx, t)
        lo_y, hi_y = max(0, -oy0, -oy1), H - cs - max(0, oy0, oy1)
        lo_x, hi_x = max(0, -ox0, -ox1), W - cs - max(0, ox0, ox1)
        y = int(rng.integers(lo_y, hi_y + 1))
        x = int(rng.integers(lo_x, hi_x + 1))
        a = np.asarray(src[i, y + oy0:y + oy0 + cs, x + ox0:x + ox0 + cs])
        b = np.asarray(src[j, y:y + cs, x:x + cs])
        d = np.asarray(src[k, y + oy1:y + oy1 + cs, x + ox1:x + ox1 + cs])
        x3 = np.stack([a, b, d])  # [3,h,w,3]
        if self.p_sprite > 0 and rng.random() < self.p_sprite:
            x3 = paste_sprites(x3, t, rng, self._patch, int(rng.integers(1, 3)), self.max_sprite)
        if rng.random() < 0.5:
            x3 = x3[:, :, ::-1]
        if rng.random() < 0.5:
            x3 = x3[:, ::-1]
        r = int(rng.integers(0, 4))
        if r:
            x3 = np.rot90(x3, r, axes=(1, 2))
        if rng.random() < 0.5:
            x3 = x3[::-1]
            t = 1.0 - t
        if rng.random() < 0.5:
            x3 = x3[..., rng.permutation(3)]
        return np.ascontiguousarray(x3), t

    def _patch(self, h, w):
        """Sprite pixels: an h x w patch of a random training frame of a random clip."""
        rng = self.rng
        c = self.clips[rng.choice(len(self.clips), p=self.w)]
        src = c.full if (c.full is not None and rng.random() < self.p_full) else c.small
        H, W = src.shape[1:3]
        y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        return np.asarray(src[int(rng.integers(0, c.train_end)), y:y + h, x:x + w])

    def pseudo_flow(self, x3):
        """DIS optical flow from the true middle frame to each end frame: exactly the intermediate
        flows F_t->0, F_t->1 the network must predict (backward-warp convention, pixels),
        [4,h,w]. Used as a decaying auxiliary target so the flows leave the blend solution."""
        g = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in x3]
        f0 = self.dis.calc(g[1], g[0], None)
        f1 = self.dis.calc(g[1], g[2], None)
        return np.concatenate([f0, f1], 2).transpose(2, 0, 1)

    def batch(self, bs, crop=None):
        """img0, gt, img1 [B,3,h,w] float 0..1, t [B,1,1,1], and (flow_labels) flows [B,4,h,w]."""
        xs, ts = zip(*[self.sample(crop) for _ in range(bs)])
        x = torch.from_numpy(np.stack(xs)).permute(0, 1, 4, 2, 3).float().div_(255.0)  # [B,3,C,h,w]
        t = torch.tensor(ts, dtype=torch.float32).view(bs, 1, 1, 1)
        if not self.flow_labels:
            return x[:, 0], x[:, 1], x[:, 2], t
        fl = torch.from_numpy(np.stack([self.pseudo_flow(x3) for x3 in xs]))
        return x[:, 0], x[:, 1], x[:, 2], t, fl


def val_triplets(clips, per_clip=3, max_hw=(384, 640), pan=0, sprite=0):
    """Fixed held-out triplets from the tail of each clip (frames >= val_start), centre-cropped to
    a multiple of 32. Returns list of (name, img0, gt, img1, t) tensors [1,3,h,w]. `pan` > 0: the
    same triplets with a synthetic camera pan of (pan, pan/2) px (x, y) over the gap (pan_offsets),
    the large-motion check. `sprite` > 0: the same triplets with two sprites moving by up to
    `sprite` px per axis (paste_sprites), cut from the clip's own held-out frames, the same ones on
    every call (a fixed seed): the occlusion check."""
    out = []
    vrng = np.random.default_rng(1234)
    for c in clips:
        lo = c.val_start
        cands = []
        for i in range(lo, c.n - 2):
            for g in (2, 4):
                k = i + g
                if k < c.n and not c.has_cut(i, k):
                    cands.append((i, i + g // 2, k))
        if not cands:
            continue
        sel = [cands[int(round(q))] for q in np.linspace(0, len(cands) - 1, per_clip)]
        H, W = c.small.shape[1:3]
        m = 64 if pan else 32  # the pan set's crops shrink: keep them a multiple of 16 at down 4
        h, w = min((H - 2 * pan) // m * m, max_hw[0]), min((W - 2 * pan) // m * m, max_hw[1])
        y, x = (H - h) // 2, (W - w) // 2
        for (i, j, k) in dict.fromkeys(sel):
            t = (j - i) / (k - i)
            o0, o1 = pan_offsets(pan // 2, pan, t)
            offs = (o0, (0, 0), o1)
            x3 = np.stack([np.array(c.small[q, y + oy:y + oy + h, x + ox:x + ox + w]) for q, (oy, ox) in zip((i, j, k), offs)])
            if sprite:
                def patch(ph, pw, c=c):
                    py, px = int(vrng.integers(0, H - ph + 1)), int(vrng.integers(0, W - pw + 1))
                    return np.asarray(c.small[int(vrng.integers(c.val_start, c.n)), py:py + ph, px:px + pw])
                x3 = paste_sprites(x3, t, vrng, patch, 2, sprite)
            f = [torch.from_numpy(np.ascontiguousarray(fr)).permute(2, 0, 1)[None].float() / 255.0 for fr in x3]
            out.append((f'{c.name}:{i}-{j}-{k}', f[0], f[1], f[2], torch.full((1, 1, 1, 1), t)))
    return out


if __name__ == '__main__':
    clips = load_clips()
    for c in clips:
        print(c.name, c.n, 'cuts', sorted(c.cuts), 'train<', c.train_end, 'val>=', c.val_start)
    s = TripletSampler(clips)
    import time
    t0 = time.time()
    for _ in range(10):
        a, b, d, t = s.batch(8)
    print('batch', a.shape, t.view(-1).tolist(), '%.3f s/batch' % ((time.time() - t0) / 10))
    v = val_triplets(clips)
    print(len(v), 'val triplets', [x[0] for x in v])
