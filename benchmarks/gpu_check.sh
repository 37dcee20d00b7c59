#!/usr/bin/env bash
# The GPU check, for a bare GPU machine that has torch, pybind11, cmake and pytest but no
# package registry. Builds the package, runs the test suite (CUDA tests included), checks the CUDA
# op against the float64 reference on fresh random inputs, and prints the timing table and the
# MK-MMD's share of a DAN training step (ResNet-50 where torchvision imports, with and without --amp).
# The suite's CPU tests (fault injection, streaming memory, training) take a few minutes; budget
# about 10 minutes on an H100/H200. Results go to $OUT (default
# /tmp/dan_gpu_check). SKIP_TIMING=1 stops before the timing table.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/dan_gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
status=0

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
echo "== build (sm_${DAN_EXT_CUDA_ARCHS:-90})"
start=$(date +%s)
DAN_EXT_CUDA=1 DAN_EXT_CUDA_ARCHS=${DAN_EXT_CUDA_ARCHS:-90} \
  python3 -m pip install --no-build-isolation --no-deps . >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build took $(( $(date +%s) - start )) s"
python3 -P -c "import dan_ext, torch; assert dan_ext.cuda_kernels_available(); print('torch', torch.__version__, 'CUDA kernels built')" || exit 1

echo "== tests (CUDA tests included; -P keeps the source tree, which has no compiled module, off sys.path)"
timeout 420 python3 -P -m pytest -q -p no:cacheprovider tests 2>&1 | tail -12 | tee "$OUT/tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== DAN training on the GPU (printed -> digits, 5 epochs: runs end to end, not a result)"
timeout 150 python3 -P -m dan train --device cuda --epochs 5 --out "$OUT/dan_cuda" --overwrite --cache-dir /tmp/dan_cache --quiet 2>&1 | tail -2
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== fresh random inputs against the float64 reference"
timeout 120 python3 -m benchmarks.fresh_check --device cuda --cases 48 2>&1 | tee "$OUT/fresh_check.log" | tail -6
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

if [ -n "${SKIP_TIMING:-}" ]; then exit $status; fi
echo "== timing"
timeout 240 python3 -m benchmarks.report --device cuda --reps 30 --out "$OUT/RESULTS_gpu.md" >"$OUT/report.log" 2>&1 || status=1
cat "$OUT/RESULTS_gpu.md" 2>/dev/null || tail -20 "$OUT/report.log"

echo "== the estimators (dan_ext.mkmmd) against the reference and the materialised peers"
timeout 150 python3 -m benchmarks.estimator_table --device cuda --reps 5 --max-seconds 10 \
  --out "$OUT/ESTIMATORS_gpu.md" >"$OUT/estimator_table.log" 2>&1 || status=1
grep -v skipped "$OUT/ESTIMATORS_gpu.md" 2>/dev/null || tail -20 "$OUT/estimator_table.log"

echo "== the MK-MMD's share of a DAN step, batch 32 per domain, 224 px, random weights"
backbone=resnet50
python3 -P -c "import torchvision" 2>/dev/null || backbone=efficientnet_lite0  # no torchvision here
for amp in "" "--amp"; do
  timeout 150 python3 -m benchmarks.step_share --device cuda --backbone $backbone --steps 20 --rounds 3 $amp \
    --json "$OUT/step_share_${backbone}${amp:+_amp}.json" 2>&1 | tail -22 || status=1
done
exit $status
