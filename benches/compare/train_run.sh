#!/usr/bin/env bash
# LoRA training speed: slm's bench_train beside the plain-PyTorch peer (torch_lora_train.py), same shapes
# (Qwen2.5-0.5B, seq 512, rank 16, all linear layers) and thread count, alternating one run of each per round so
# both see the same machine load. Prints tok/s, peak RSS and the slm / torch ratio per dtype (medians over rounds).
# Not part of the tests.
#
#   benches/compare/train_run.sh [BUILD_DIR]    (default: build; build bench_train first, Release)
#   env: REPS (3 rounds), THREADS (every core), PYTHON (/usr/bin/python3 with Debian's python3-torch)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
reps="${REPS:-3}"
threads="${THREADS:-$(nproc)}"
py="${PYTHON:-/usr/bin/python3}"
out="$build/compare-train"
mkdir -p "$out"
bin="$build/benches/bench_train"
[[ -x "$bin" ]] || { echo "[train-compare] $bin is missing: cmake --build $build --target bench_train" >&2; exit 1; }
if [[ -z "${OPENBLAS_CORETYPE:-}" ]] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
export OMP_NUM_THREADS="$threads"
for r in $(seq 1 "$reps"); do
  for d in f32 bf16; do
    echo "[train-compare] round $r/$reps $d: slm" >&2
    "$bin" --benchmark_filter="^lora_train/$d/seq512_r16/" --benchmark_format=json >"$out/slm_${d}_$r.json" 2>/dev/null
    echo "[train-compare] round $r/$reps $d: torch" >&2
    "$py" "$here/torch_lora_train.py" --threads "$threads" --dtype "$d" --steps 2 >"$out/torch_${d}_$r.json"
  done
done
"$py" - "$out" "$reps" <<'PY'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
print("| dtype | slm tok/s | torch tok/s | slm / torch | slm % of GEMM ceiling | slm peak RSS GiB | torch peak RSS GiB |")
print("|---|---|---|---|---|---|---|")
for d in ("f32", "bf16"):
    s = [json.load(open(f"{out}/slm_{d}_{r}.json"))["benchmarks"][0] for r in range(1, reps + 1)]
    t = [json.load(open(f"{out}/torch_{d}_{r}.json"))["result"] for r in range(1, reps + 1)]
    st, tt = statistics.median(x["tok_s"] for x in s), statistics.median(x["tok_s"] for x in t)
    print(f"| {d} | {st:.1f} | {tt:.1f} | {st / tt:.2f}x | {statistics.median(x['pct_of_gemm'] for x in s):.0f} % "
          f"| {max(x['peak_rss_gib'] for x in s):.2f} | {max(x['peak_rss_gib'] for x in t):.2f} |")
PY
