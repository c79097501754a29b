#!/bin/sh
# Re-ships both interpolator variants and both flow heads from one IFNet checkpoint, then scores
# the variants on the eval set into their cards:
#
#   sh train/reship.sh ~/.cache/frc/ckpt/live/step23000.pt
#
# The heads are not retrained from scratch: each continues 500 steps (lr 3e-4, cosine to 0) behind
# the new weights from the head that ships now (train/README.md, fourth session). Their checkpoints
# come from `train/import_onnx.py --semantic`, which also rebuilds the frozen encoder's; the
# continued heads replace them, so the next re-ship continues from what shipped.
# 4 minutes on the eleventh session's AMD EPYC, about 10 on the Intel Xeon (pause training meanwhile).
set -eu
cd "$(dirname "$0")/.."
ck=$1
root=${FRC_TRAIN_ROOT:-$HOME/.cache/frc}
tag=$(basename "$ck" .pt)
dino=$(ls "$root"/ckpt/dino/shipped-step*.pt | tail -n 1)
py() { env OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$@"; }

py train/export_onnx.py --ckpt "$ck" --name quality --down 2 --max-input-pixels 100000 --input-scale 0.8 --warp bicubic --lk 0,1,1 --lk-pyramid 16,8,4:3
py train/export_onnx.py --ckpt "$ck" --name fast --down 4 --max-input-pixels 14400 --input-scale 0.8 --intra-op-threads 1 --warp bicubic --lk-fine 2:1
py train/export_stages.py --ckpt "$ck" --name quality
py train/export_stages.py --ckpt "$ck" --name fast

# head: source root, then flow_head.py's flags for it
continue_head() {
  src=$1/ckpt/flow-head/latest.pt
  new=$root/head-$tag-$2
  shift 2
  mkdir -p "$new/ckpt/flow-head"
  py -c "import sys, torch; c = torch.load(sys.argv[1]); c['step'] = 0; torch.save(c, sys.argv[2])" "$src" "$new/ckpt/flow-head/latest.pt"
  py train/flow_head.py --ifnet "$ck" --dino "$dino" --steps 500 --lr 3e-4 --root "$new" "$@"
  py train/flow_head.py --ifnet "$ck" --dino "$dino" --steps 500 --lr 3e-4 --root "$new" "$@" --export
  cp "$new/ckpt/flow-head/latest.pt" "$src"
}
continue_head "$root" q --out models/flow-head.onnx
continue_head "$root/fast-head" f --down 4 --crop 256 --batch 8 --interpolator frc-ifnet-fast --out models/flow-head-fast.onnx

# The held-out clips' scores too (train/README.md, "Validation protocol"); the triplets are cut if missing.
val=$root/val
[ -f "$val/MANIFEST.tsv" ] || py train/cut_validation.py --out "$val"
for m in quality fast; do
  node dist/src/cli.js eval ../shared/data/eval --model "models/$m.onnx" --json > "/tmp/$m-eval.json"
  node dist/src/cli.js eval "$val" --model "models/$m.onnx" --json > "/tmp/$m-val.json"
  py train/card_eval.py "models/$m.json" "/tmp/$m-eval.json" --validation "/tmp/$m-val.json"
done
