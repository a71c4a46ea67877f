#!/bin/bash
# The CUDA checks in one run on a GPU machine (docs/cuda.md): torch-cluster built for the
# card (or installed from a wheel built by an earlier run), the CUDA tests, the CUDA
# benchmark, then the whole suite.  Logs and the wheel go to $OUT (default ./gpu_check).
#
#   bash benchmarks/gpu_check.sh [TORCH_CLUSTER_SDIST_OR_WHEEL]
#
# The machine needs torch with CUDA, nvcc, torch-geometric, scikit-image, pytest, and
# pytest-xdist for the last step; nothing is downloaded (`pip download --no-deps
# --no-binary :all: --no-build-isolation torch-cluster==1.6.3` fetches the sdist beforehand).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-$PWD/gpu_check}; mkdir -p "$OUT"
package=${1:-}
t0=$(date +%s); stamp() { echo "=== $1 at +$(( $(date +%s) - t0 )) s"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import sys, torch, torch_geometric; print('python', sys.version.split()[0], '| torch', torch.__version__, \
'| CUDA', torch.version.cuda, '| PyG', torch_geometric.__version__, '|', torch.cuda.get_device_name())"
stamp torch-cluster
case "$package" in
  *.whl) python3 -m pip install -q --no-deps --no-index "$package" ;;
  *.tar.gz)
    build=$(mktemp -d) && tar xzf "$package" -C "$build" &&
    printf '[build_ext]\nparallel = %s\n' "$(nproc)" > "$build/parallel.cfg" &&
    (cd "$build"/torch_cluster-* && DIST_EXTRA_CONFIG=$build/parallel.cfg FORCE_CUDA=1 \
       TORCH_CUDA_ARCH_LIST=$(python3 -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())") \
       python3 -m pip wheel -q --no-build-isolation --no-deps -w "$OUT" . > "$OUT/build.log" 2>&1) &&
    python3 -m pip install -q --no-deps "$OUT"/torch_cluster-*.whl || { echo "torch-cluster build failed"; tail -30 "$OUT/build.log"; } ;;
  *) echo "no torch-cluster package given: the cluster backend's tests skip" ;;
esac
stamp cuda-tests
timeout 300 python3 -m pytest -p no:cacheprovider -q -rs -k cuda tests/test_cuda_paths.py tests/graph/test_knn.py \
  tests/data/test_resize.py tests/training/test_engine.py tests/training/test_distributed.py 2>&1 | tee "$OUT/cuda_tests.log" | tail -40
stamp benchmark
(cd benchmarks && timeout 300 python3 cuda_paths.py --repeats 5 --json "$OUT/cuda_paths.json") 2>&1 | tee "$OUT/cuda_paths.log"
stamp suite
timeout "${SUITE_S:-600}" python3 -m pytest -p no:cacheprovider -q -n "$(nproc)" --timeout 300 tests 2>&1 | tee "$OUT/suite.log" | tail -30
stamp done
