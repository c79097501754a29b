#!/usr/bin/env python3
"""Write `frc eval --json` results into a model card: the eval sets into its "eval" field, and with
--validation the held-out clips (train/README.md, "Validation protocol") into its "validation" field.

  node dist/src/cli.js eval ../shared/data/eval --model models/fast.onnx --json > /tmp/fast-eval.json
  node dist/src/cli.js eval ~/.cache/frc/val --model models/fast.onnx --json > /tmp/fast-val.json
  /usr/bin/python3 train/card_eval.py models/fast.json /tmp/fast-eval.json [--validation /tmp/fast-val.json]
  /usr/bin/python3 train/card_eval.py models/fast.json --validation /tmp/fast-val.json      # "eval" kept as it is
"""
import argparse, json, time

ap = argparse.ArgumentParser()
ap.add_argument('card')
ap.add_argument('eval', nargs='?', help='frc eval --json on ../shared/data/eval')
ap.add_argument('--validation', help='frc eval --json on the validation triplets (~/.cache/frc/val)')
args = ap.parse_args()
card = json.load(open(args.card))
model = args.card.replace('.json', '.onnx')
metric = 'mean PSNR (dB) / SSIM on 8-bit RGB, full frame, t = 0.5'
if args.eval:
    card['eval'] = {
        'command': f'frc eval ../shared/data/eval --model {model} --json',
        'date': time.strftime('%Y-%m-%d'),
        'metric': metric,
        'sets': json.load(open(args.eval))['sets'],
    }
if args.validation:
    sets = json.load(open(args.validation))['sets']
    card['validation'] = {
        'protocol': 'train/README.md, "Validation protocol": whole footage clips held out of training (train/splits.py), '
                    'triplets cut by train/cut_validation.py',
        'command': f'frc eval ~/.cache/frc/val --model {model} --json',
        'date': time.strftime('%Y-%m-%d'),
        'metric': metric + '; mean_of_sets: the plain mean of the set means',
        'sets': sets,
        'mean_of_sets': round(sum(s['psnr'] for s in sets.values()) / len(sets), 3),
    }
with open(args.card, 'w') as f:
    json.dump(card, f, indent=2)
print(' and '.join(k for k, v in (('eval', args.eval), ('validation', args.validation)) if v) or 'nothing', 'written to', args.card)
