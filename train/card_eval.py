#!/usr/bin/env python3
"""Write `frc eval --json` results into a model card's "eval" field.

  node dist/src/cli.js eval ../shared/data/eval --model models/fast.onnx --json > /tmp/fast-eval.json
  /usr/bin/python3 train/card_eval.py models/fast.json /tmp/fast-eval.json
"""
import json, sys, time

card_path, eval_path = sys.argv[1], sys.argv[2]
card = json.load(open(card_path))
report = json.load(open(eval_path))
card['eval'] = {
    'command': f'frc eval ../shared/data/eval --model {card_path.replace(".json", ".onnx")} --json',
    'date': time.strftime('%Y-%m-%d'),
    'metric': 'mean PSNR (dB) / SSIM on 8-bit RGB, full frame, t = 0.5',
    'sets': report['sets'],
}
with open(card_path, 'w') as f:
    json.dump(card, f, indent=2)
print('eval written to', card_path)
