#!/usr/bin/env python3
"""Exports a Practical-RIFE (v4.x) checkpoint to the engine's frame contract, with its card.

  /usr/bin/python3 train/export_rife_pkl.py --rife ~/Practical-RIFE --out models/rife-v4.onnx
      [--pkl train_log/flownet.pkl] [--scales 8,4,2,1]

--rife is a Practical-RIFE checkout whose train_log/ holds IFNet_HDv3.py and the weights (flownet.pkl,
as its releases unpack); the script imports that IFNet, loads the weights (DataParallel's `module.`
prefixes dropped) and exports, at opset 16 (the first with grid_sample):

  inputs  img0, img1  float32 [1,3,H,W] RGB 0..1 (H, W multiples of the card's padMultiple)
          timestep    float32 [1,1,1,1]
  output  frame       float32 [1,3,H,W], the last of IFNet's merged frames, clamped to 0..1

and writes the card beside it (<out>.json: name, padMultiple = 8 x the coarsest scale, 64 for the default
[8, 4, 2, 1]). Then `frc convert in.mp4 out.mp4 --model models/rife-v4.onnx`. Files exported by vs-mlrt or
VSGAN-tensorrt need none of this: the engine loads them as they are (docs/models.md).
"""
import argparse, json, os, sys

import torch


class Contract(torch.nn.Module):
    """IFNet.forward(x, timestep, scale_list) -> (flow_list, mask, merged), behind the engine's names."""

    def __init__(self, net, scales):
        super().__init__()
        self.net, self.scales = net, scales

    def forward(self, img0, img1, timestep):
        _, _, merged = self.net(torch.cat([img0, img1], 1), timestep, self.scales)
        return merged[-1].clamp(0, 1)


def load_ifnet(rife, pkl):
    # Practical-RIFE's modules import each other as train_log.<name>: the checkout is the import root.
    sys.path.insert(0, os.path.abspath(rife))
    try:
        from train_log.IFNet_HDv3 import IFNet  # noqa: E402  (the user's checkout)
    except ImportError as err:
        sys.exit(f'{rife}: not a Practical-RIFE checkout (train_log/IFNet_HDv3.py): {err}')
    net = IFNet()
    try:
        state = torch.load(os.path.join(rife, pkl), map_location='cpu')
        net.load_state_dict({k.replace('module.', '', 1): v for k, v in state.items()})
    except (OSError, RuntimeError) as err:
        sys.exit(f'{os.path.join(rife, pkl)}: cannot load the weights into its IFNet: {err}')
    return net.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rife', required=True, help='a Practical-RIFE checkout (train_log/IFNet_HDv3.py and the weights)')
    ap.add_argument('--pkl', default=os.path.join('train_log', 'flownet.pkl'), help='the weights, relative to --rife')
    ap.add_argument('--out', required=True, help='the .onnx to write; its card goes beside it')
    ap.add_argument('--scales', default='8,4,2,1', help="IFNet's scale_list, coarsest first")
    args = ap.parse_args()
    scales = [int(s) for s in args.scales.split(',')]
    if not args.out.endswith('.onnx'):
        sys.exit('--out must name a .onnx file')
    pad = 8 * scales[0]  # IFNet pools the frames by 8x its coarsest scale
    model = Contract(load_ifnet(args.rife, args.pkl), scales)
    x = torch.rand(1, 3, 2 * pad, 3 * pad)
    t = torch.full((1, 1, 1, 1), 0.5)
    with torch.no_grad():
        torch.onnx.export(model, (x, x, t), args.out, opset_version=16, input_names=['img0', 'img1', 'timestep'],
                          output_names=['frame'],
                          dynamic_axes={'img0': {2: 'H', 3: 'W'}, 'img1': {2: 'H', 3: 'W'}, 'frame': {2: 'H', 3: 'W'}})
    name = os.path.splitext(os.path.basename(args.out))[0]
    with open(os.path.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump({'name': name, 'padMultiple': pad, 'source': f'Practical-RIFE checkout {os.path.abspath(args.rife)}, {args.pkl}',
                   'scales': scales}, f, indent=2)
    print(f'{args.out}: frame contract, padMultiple {pad}')


if __name__ == '__main__':
    main()
