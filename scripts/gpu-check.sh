#!/usr/bin/env bash
# GPU check (issue 26): on a bare CUDA machine with Python, torch (CUDA) and e3nn only, and no
# internet, in < 10 minutes: SE(3) GNN (quick and paper sizes; fused PyTorch path and
# cuEquivariance) and Bapst GNN training graphs/s at N = 4096, OpenMM CUDA steps/s for the KA
# system at N = 4096, and `pytest -m gpu`; one Markdown table, plus gpu_check.json/.md in --out.
#
#   bash scripts/gpu-check.sh --prepare [--python 3.12] [--cuda 13]
#         here, with PyPI: download the wheels it needs into gpu-wheels/ (ignored by git; at most
#         64 MiB less the working tree; MANIFEST.json says what had to be left out)
#   bash scripts/gpu-check.sh [--out DIR] [--seconds S] [--n N]
#         on the GPU machine: installs gpu-wheels/*.whl (pip --no-index --no-deps, into the
#         running python3), then measures. With the device tool: one call,
#           run(command="bash scripts/gpu-check.sh --out $OUT", carry=["gpu-wheels"], timeout_s=600)
#         (the working tree travels with it; the wheels folder is ignored by git, so name it in carry)
#   bash scripts/gpu-check.sh --cpu [--out DIR]
#         dry run: the same code on the CPU (OpenMM at N = 256, the models on 64 particles), one step
#         each, < 1 minute; CUDA-only rows say why they are skipped (tests/test_gpu_check.py runs it
#         in `make test`)
#
# Environment: PYTHON (default python3), EQUIGLASS_GPU_WHEELS (default gpu-wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=${EQUIGLASS_GPU_WHEELS:-gpu-wheels}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

case "${1:-}" in
  --prepare)
    shift
    exec "$PY" scripts/gpu_wheels.py prepare --dest "$WHEELS" "$@" ;;
  --cpu)
    echo "[gpu-check] --cpu: dry run on the CPU (no wheels installed)"
    exec "$PY" scripts/gpu_check.py "$@" ;;
esac

skipped=""
if [ -d "$WHEELS" ]; then
  echo "[gpu-check] installing the wheels of $WHEELS"
  "$PY" scripts/gpu_wheels.py install "$WHEELS" || echo "[gpu-check] some wheels did not install: the checks that need them say so"
  skipped=$("$PY" scripts/gpu_wheels.py skipped "$WHEELS")
else
  skipped="no $WHEELS folder (prepare it with --prepare and carry it)"
  echo "[gpu-check] $skipped: OpenMM, cuEquivariance and freud only if already installed"
fi
exec "$PY" scripts/gpu_check.py --skipped-wheels "$skipped" "$@"
