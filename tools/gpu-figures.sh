#!/usr/bin/env bash
# The GPU figures of the device issue in one run of about 8 minutes, on a lent device machine
# (python3 with torch there, no network). Not run yet: no session so far had a device.
#
#   bench perf gcc / ngcc / kws on the GPU, then 200 training steps each of the paper-size
#   NGCC-PHAT (batch 32), KWT-1 (512) and wav2pos (256): fp32 with the 2-thread CPU rate of
#   the same models measured in the same run, then bf16 autocast.
#
# Packages the device image lacks travel as wheels in .whl (see the device tool's README):
#   soundfile, cffi, pycparser (python 3.12, manylinux x86_64).
# Usage there, from the repository root:  bash tools/gpu-figures.sh "$OUT"
set -u
out=${1:-gpu-figures}
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
mkdir -p /tmp/pp && ln -sfn "$PWD" /tmp/pp/perloc
export PYTHONPATH=/tmp/pp${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
perf() { local limit=$1; shift; timeout "$limit" python3 -m perloc.bench.cli.main perf "$@" --device cuda; }
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  perf 60 gcc
  perf 60 ngcc --no-stacked
  perf 90 kws
  perf 170 steps --steps 200 --cpu-steps 2 --cpu-batch 8
  perf 100 steps --steps 200 --amp bf16 --cpu-steps 0
} 2>&1 | tee "$out/gpu-figures.log"
