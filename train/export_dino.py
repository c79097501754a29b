#!/usr/bin/env python3
"""Export the DINO teacher's ViT (train/dino.py) to ONNX (opset 16) with a model card.

  /usr/bin/python3 train/export_dino.py            # models/semantic.onnx + models/semantic.json

Contract (that of the official DINOv2 ONNX exports, so either plugs into the engine):
input `pixel_values` float32 [1,3,H,W], RGB normalised with ImageNet's mean and std, H and W
multiples of the patch size (8 here, 14 for DINOv2); output `last_hidden_state` [1, 1+N, D]: the
CLS token, then one token per patch in row order. The card's `input` says the size the model was
trained to see a whole frame at.
"""
import argparse, json, os, sys
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from dino import ViT  # noqa: E402


class Exported(torch.nn.Module):
    def __init__(self, vit):
        super().__init__()
        self.vit = vit

    def forward(self, pixel_values):
        return self.vit(pixel_values)


def export_vit(vit, size, out):
    """The graph every semantic.onnx is written with (import_onnx.py reads weights back through it)."""
    dummy = torch.randn(1, 3, size, size)
    torch.onnx.export(Exported(vit), (dummy,), out, opset_version=16, input_names=['pixel_values'], output_names=['last_hidden_state'],
                      dynamic_axes={'pixel_values': {2: 'height', 3: 'width'}, 'last_hidden_state': {1: 'tokens'}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.expanduser('~/.cache/frc/ckpt/dino/latest.pt'))
    ap.add_argument('--out', default=os.path.join(ROOT, 'models', 'semantic.onnx'))
    ap.add_argument('--time-s', dest='time_s', type=float, default=None, help='training time to put on the card')
    args = ap.parse_args()
    ck = torch.load(args.ckpt, map_location='cpu')
    vit = ViT(**ck['vit'])
    # The teacher's weights: in DINO the EMA teacher is the better encoder.
    vit.load_state_dict({k[len('vit.'):]: v for k, v in ck['teacher'].items() if k.startswith('vit.')})
    vit.eval()
    size = ck['vit']['grid'] * ck['vit']['patch']
    export_vit(vit, size, args.out)
    params = sum(p.numel() for p in vit.parameters())
    card = {
        'name': 'frc-dino-vit',
        'architecture': f"ViT (own implementation): patch {ck['vit']['patch']}, width {ck['vit']['dim']}, depth {ck['vit']['depth']}, "
                        f"{ck['vit']['heads']} heads, learned position embedding (bicubic-interpolated to other grids), CLS token; "
                        "the EMA teacher of DINO self-distillation (projection head not exported)",
        'params': params,
        'opset': 16,
        'input': {'name': 'pixel_values', 'size': [size, size], 'patch': ck['vit']['patch'], 'normalise': {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225]}},
        'output': {'name': 'last_hidden_state', 'layout': 'CLS token, then one token per patch in row order'},
        'training': {
            'recipe': 'DINO (Caron et al., ICCV 2021): student + EMA teacher (0.996 -> 1), multi-crop (2 global 64 px at 40-100 %, 4 local 32 px at 5-40 %), '
                      'teacher centring (0.9) and sharpening (0.04; student 0.1), 1024 prototypes, AdamW lr 5e-4 cosine, weight decay 0.04, no labels',
            'data': 'frames of the 7 frc footage clips (../shared/data/footage, training part: the last ~10 % of each clip held out), at 144 px high',
            'steps': ck['step'],
            'batch': 32,
            **({'time_s': args.time_s} if args.time_s else {}),
        },
        'licence': 'model: same as frc; training data: the footage clips\' own open licences (../shared/data/footage/MANIFEST.tsv)',
    }
    with open(os.path.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(card, f, indent=2)
    print(f'wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB, {params} parameters) from step {ck["step"]}')


if __name__ == '__main__':
    main()
