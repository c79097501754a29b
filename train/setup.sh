#!/bin/sh
# Debian packages needed for training / export (CPU). Python is Debian's /usr/bin/python3.
# ffmpeg is used by prep_data.py to decode the footage; node + onnxruntime-node (npm ci in the
# repo root) by export_onnx.py --verify.
set -e
apt-get update
apt-get install -y python3-torch libopenblas0-pthread python3-numpy python3-opencv ffmpeg
