#!/usr/bin/env bash
# The GPU checks of issue 17, as run on a lent GPU machine (python3 there has torch; no faiss, no
# facenet-pytorch, no network). Two parts, because what each needs does not fit one 64 MiB transfer
# beside the repository:
#
#   bash docs/bench/device.sh evaluate   # needs .carry/shared/{data/lfw,weights}: real LFW + the CASIA MobileFaceNet
#   bash docs/bench/device.sh train      # needs .whl/faiss_cpu-*.whl (compare-face mining in C-Face's stage 1)
#
# evaluate: `lrfr bench evaluate` (LFW-BLUFR 8x end to end, bicubic and a learned front-end),
#           `lrfr bench protocols` (BLUFR on precomputed features) on CUDA, and `lrfr bench fast`.
# train:    `pytest -m cuda` (bf16/fp16 training, resume, GPU -> CPU resume, device-side evaluation),
#           `lrfr bench cface` (stage-1 step: fp32 vs bf16 vs bf16 + channels_last at batch 64 and 256),
#           `lrfr bench recognition` on CUDA.
# JSON and logs go to $OUT (or runs/device when unset).
#
# Fitting the transfer (64 MiB for the working tree and the carried folders together; the tracked
# files alone are ~42 MB, most of it results/ and the shipped weights): before the call, on the
# developer's machine, drop what the GPU part does not read from the index and ignore it, and put
# the index back afterwards (the files themselves are never touched):
#   git rm -r -q --cached results docs/training docs/synthfaces.png
#   printf '/results/\n/docs/training/\n/docs/synthfaces.png\n' > .git/info/exclude
#   (evaluate part: also every lrfr/weights/*_synth.pt but srresnet_synth.pt; LFW is 54 MB)
#   ... run ...;  git reset -q; rm .git/info/exclude
# The carried folders (both git-ignored), made from ../shared and PyPI:
#   mkdir -p .carry/shared/data/lfw .carry/shared/weights
#   cp -r ../shared/data/lfw/lfw-112x96 ../shared/data/lfw/blufr_lfw_config.mat .carry/shared/data/lfw/
#   cp ../shared/weights/mobilefacenet_casia_068.ckpt .carry/shared/weights/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .whl faiss-cpu
set -euo pipefail
part=${1:?usage: device.sh evaluate|train}
out=${OUT:-runs/device}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
case "$part" in
  evaluate)
    export LRFR_SHARED=$PWD/.carry/shared
    python3 -m lrfr bench evaluate --device cuda --out "$out" 2>&1 | tee "$out/evaluate.log" | grep -v '^  "' || true
    python3 -m lrfr bench protocols --device cuda --out "$out" 2>&1 | tee "$out/protocols.log" | tail -n 3 || true
    # bf16 vs fp32 embedding on the GPU (evaluate's default device there): speed and what it does to the figures
    python3 -m lrfr bench fast --out "$out" 2>&1 | tee "$out/fast.log" | grep -v '^  "' || true
    ;;
  train)
    python3 -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/pytest-cuda.log" | tail -n 15 || true
    python3 -m lrfr bench cface --device cuda --out "$out" 2>&1 | tee "$out/cface.log" | grep -v '^  "' || true
    python3 -m lrfr bench recognition --device cuda --out "$out" 2>&1 | tee "$out/recognition.log" | grep ' cuda ' || true
    ;;
  *) echo "unknown part $part (evaluate or train)" >&2; exit 2 ;;
esac
