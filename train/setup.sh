#!/bin/sh
# Debian packages needed for training / export (CPU). Python is Debian's /usr/bin/python3.
# ffmpeg is used by prep_data.py to decode the footage; node + onnxruntime-node (npm ci in the
# repo root) by export_onnx.py --verify; python3-onnx by import_onnx.py (checkpoints from the shipped models).
set -e
apt-get update
apt-get install -y python3-torch libopenblas0-pthread python3-numpy python3-opencv python3-onnx ffmpeg
