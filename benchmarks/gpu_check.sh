#!/usr/bin/env bash
# The GPU check, for a bare GPU machine that has torch, pybind11, cmake and pytest but no
# package registry. Most important first, so a cut-short run still says the most: build, the CUDA
# tests (the linear op, the joint MMD, the all-pairs pass), the CUDA op against the float64
# reference on fresh random inputs, the timing table, the estimators' table, then dan.classic's torch
# eigensolver. The CPU suite is CI's job and is not rerun here. The timeouts add up to 6.7 minutes
# plus the build (under a minute on 16
# cores), so the whole check fits one device call of 8 minutes. Results go to $OUT (default
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

echo "== the CUDA tests (-P keeps the source tree, which has no compiled module, off sys.path)"
timeout 120 python3 -P -m pytest -q -p no:cacheprovider tests/ops/linear/test_op_cuda.py \
  tests/ops/joint/test_jmmd_cuda.py tests/ops/estimators/test_allpairs_cuda.py 2>&1 | tail -12 | tee "$OUT/tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== fresh random inputs against the float64 reference"
timeout 45 python3 -m benchmarks.fresh_check --device cuda --cases 48 2>&1 | tee "$OUT/fresh_check.log" | tail -6
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

if [ -n "${SKIP_TIMING:-}" ]; then exit $status; fi
echo "== timing"
timeout 110 python3 -m benchmarks.report --device cuda --reps 30 --out "$OUT/RESULTS_gpu.md" >"$OUT/report.log" 2>&1 || status=1
cat "$OUT/RESULTS_gpu.md" 2>/dev/null || tail -20 "$OUT/report.log"

echo "== the estimators (dan_ext.mkmmd) against the reference and the materialised peers"
timeout 85 python3 -m benchmarks.estimator_table --device cuda --reps 5 --max-seconds 5 \
  --out "$OUT/ESTIMATORS_gpu.md" >"$OUT/estimator_table.log" 2>&1 || status=1
grep -v skipped "$OUT/ESTIMATORS_gpu.md" 2>/dev/null || tail -20 "$OUT/estimator_table.log"

echo "== dan.classic's torch eigensolver on the GPU (only where scikit-learn is installed)"
if python3 -P -c "import sklearn, scipy" 2>/dev/null; then
  timeout 40 python3 -P -m pytest -q -p no:cacheprovider tests/dan_layer/classic/test_classic_torch_eigensolver.py \
    -k cuda 2>&1 | tail -3 | tee "$OUT/classic_cuda.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
  echo "skipped: no scikit-learn/scipy on this machine"
fi

exit $status
