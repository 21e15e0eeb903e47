#!/usr/bin/env bash
# Runs slm's bench_model (pp512, tg128@d128; f32 and bf16) and the plain-PyTorch peer (torch_qwen2.py) with the
# same shapes and thread count, and prints a ratio table (slm / torch) plus the goals of docs/performance.md.
# Not part of the tests.
#
#   benches/compare/run.sh [BUILD_DIR]        (default: build-bench; build it first, Release)
#   env: REPS (3 rounds), THREADS (every core), OUT (BUILD_DIR/compare), PYTHON (/usr/bin/python3, Debian's torch)
#
# Needs: apt-get install -y python3-torch, and an optimised BLAS for torch's f32 matmuls (libopenblas0-openmp);
# with Debian's reference libblas torch's f32 is ~10x slower and the comparison means nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-$root/build-bench}" && pwd)"
reps="${REPS:-3}"
threads="${THREADS:-$(nproc)}"
out="${OUT:-$build/compare}"
py="${PYTHON:-/usr/bin/python3}"
mkdir -p "$out"

bin="$build/benches/bench_model"
[[ -x "$bin" ]] || { echo "[compare] $bin is missing: cmake --build $build --target bench_model" >&2; exit 1; }
"$py" -c "import torch" 2>/dev/null ||
  { echo "[compare] $py has no torch: apt-get install -y python3-torch" >&2; exit 1; }

# OpenBLAS 0.3.21 (Debian 12) does not know recent Xeons (e.g. family 6 model 207) and falls back to its
# Prescott (SSE3) kernels; name the AVX-512 kernels explicitly so the peer is not handicapped.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
export OMP_NUM_THREADS="$threads"

# slm and torch alternate, one repetition each per round, so both see the same machine load (a small shared VM:
# a neighbour's build can slow either side several-fold for minutes). The table takes medians over rounds.
for r in $(seq 1 "$reps"); do
  echo "[compare] round $r/$reps: slm bench_model ($threads threads) -> $out/slm_$r.json" >&2
  "$bin" --benchmark_filter='^qwen2_0.5b/' --benchmark_format=json --benchmark_out="$out/slm_$r.json" \
    --benchmark_out_format=json >/dev/null
  echo "[compare] round $r/$reps: torch (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}) -> $out/torch_$r.json" >&2
  "$py" "$here/torch_qwen2.py" --threads "$threads" --repeats 1 --max-decode-s 30 >"$out/torch_$r.json"
done

"$py" "$here/table.py" "$out" "$reps"
