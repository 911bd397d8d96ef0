#!/usr/bin/env bash
# One GPU check of spectral-layers, at most ~9.5 minutes: install, tests, the paper-scale training across
# widths and large-n runs (issue 23), then benchmarks and paper-scale figures while the budget lasts.
#
# Usage (from the repository root, on the GPU machine):
#
#     bash benchmarks/device_check.sh [OUTDIR]        # default: $OUT, else device_check_out/
#
# Steps, in priority order, each under its own time limit (skipped once the budget is spent):
#   install      pip install -e ".[cuda]" (jax[cuda12]); if that fails, whatever jax is there is used
#   devices      the backend and devices JAX sees (the smoke check)
#   tests        the tests whose code runs on the accelerator (Grams, infinite width, contributions,
#                training, sharding), float64 as in CI
#   training_width   python -m experiments.training_width --scale paper (widths 64 … 8192, n = 500,
#                2000 steps, float32 training); checkpointed per width × draw: a rerun of the script
#                resumes where a time limit stopped it (no --force)
#   sphere_large_n   python -m experiments.sphere_large_n --scale paper (n up to 10⁶); resumes likewise
#   training_width_mnist   the same as training_width on MNIST (PC-1 targets; needs $DATA_DIR/mnist)
#   ntk_n*       benchmarks/bench_layer_ntk.py --n 1000 / 5000 / 20000 --skip-slow (MNIST network)
#   any_model    benchmarks/bench_any_model.py, if present
#   infinite     benchmarks/bench_infinite.py --n 1000 5000
#   sharding     benchmarks/bench_sharding.py --n 20000: every device against one
#   fig1/fig2/fig6  the experiments at --scale paper (fig6 on MNIST from $DATA_DIR, default shared/data;
#                synthetic images, marked so, when it is absent)
# Writes OUTDIR/device_check.md (one table: step, status, wall time, headline) and OUTDIR/logs/*.log;
# figures and results in OUTDIR/figures/. Environment: PYTHON (default python3), DATA_DIR, BUDGET_S (570),
# TW_LIMIT_S (240), LARGE_N_LIMIT_S (150).
set -u
OUTDIR="${1:-${OUT:-device_check_out}}"
PYTHON="${PYTHON:-python3}"
BUDGET_S="${BUDGET_S:-570}"
TW_LIMIT_S="${TW_LIMIT_S:-240}"
LARGE_N_LIMIT_S="${LARGE_N_LIMIT_S:-150}"
DATA_DIR="${DATA_DIR:-shared/data}"
mkdir -p "$OUTDIR/logs" "$OUTDIR/figures"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
TABLE="$OUTDIR/device_check.md"
{
  echo "# device check, $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "| step | status | wall s | headline |"
  echo "| --- | --- | ---: | --- |"
} > "$TABLE"

# step NAME LIMIT_S HEADLINE_REGEX COMMAND...: runs COMMAND with a time limit, logs it, adds a table row.
step() {
  local name=$1 limit=$2 pattern=$3
  shift 3
  local now=$(( $(date +%s) - START ))
  local left=$(( BUDGET_S - now ))
  if (( left < 20 )); then
    echo "| $name | skipped (budget spent) | 0 | |" >> "$TABLE"
    return
  fi
  (( limit > left )) && limit=$left
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUTDIR/logs/$name.log" 2>&1
  local rc=$?
  local wall=$(( $(date +%s) - t0 ))
  local status="ok"
  (( rc == 124 || rc == 137 )) && status="timeout (${limit} s)"
  (( rc != 0 && rc != 124 && rc != 137 )) && status="exit $rc"
  local head
  head=$(grep -E -- "$pattern" "$OUTDIR/logs/$name.log" | tail -n 3 | tr -s ' ' | tr '\n' ' ' \
         | sed 's/|/\//g' | cut -c1-300)
  echo "| $name | $status | $wall | ${head} |" >> "$TABLE"
  echo "[device_check] $name: $status in ${wall} s" >&2
}

step install 150 "Successfully installed|already satisfied|ERROR" \
  "$PYTHON" -m pip install --quiet --progress-bar off -e ".[cuda]"
step devices 60 "backend" "$PYTHON" -c \
  "import jax; print('jax', jax.__version__, 'backend', jax.default_backend(), jax.devices())"
step tests 150 "passed|failed|error" "$PYTHON" -m pytest -q -x -p no:cacheprovider \
  tests/spectral_layers/test_empirical.py tests/spectral_layers/test_infinite.py \
  tests/spectral_layers/test_contributions.py tests/spectral_layers/test_training.py
# issue 23: the widths that reach the 1/m regime, and n = 10⁶ (resumable: no --force)
RESUME=(--scale paper --out "$OUTDIR/figures" --no-progress)
step training_width "$TW_LIMIT_S" "scale in|error|Error" \
  "$PYTHON" -m experiments.training_width "${RESUME[@]}"
step sphere_large_n "$LARGE_N_LIMIT_S" "scale in|error|Error" \
  "$PYTHON" -m experiments.sphere_large_n "${RESUME[@]}"
step training_width_mnist "$TW_LIMIT_S" "scale in|error|Error" \
  "$PYTHON" -m experiments.training_width_mnist "${RESUME[@]}" --data-dir "$DATA_DIR"
for n in 1000 5000 20000; do
  step "ntk_n$n" 90 "^structured|^floor" "$PYTHON" benchmarks/bench_layer_ntk.py --n "$n" --skip-slow \
    --repeats 3
done
if [[ -f benchmarks/bench_any_model.py ]]; then
  step any_model 90 "×|x |ratio|engine" "$PYTHON" benchmarks/bench_any_model.py --repeats 3
else
  echo "| any_model | skipped (benchmarks/bench_any_model.py absent) | 0 | |" >> "$TABLE"
fi
step infinite 60 "^ *(1000|5000)|ours" "$PYTHON" benchmarks/bench_infinite.py --n 1000 5000 --repeats 3
step sharding 60 "ratio|one device|difference" "$PYTHON" benchmarks/bench_sharding.py --n 20000 \
  --repeats 3
FIG=(--scale paper --out "$OUTDIR/figures" --no-progress --force)
step fig1 90 "scale in" "$PYTHON" -m experiments.fig1_sphere_d2 "${FIG[@]}"
step fig2 90 "scale in" "$PYTHON" -m experiments.fig2_sphere_d10 "${FIG[@]}"
if [[ -d "$DATA_DIR" ]]; then
  step fig6 120 "scale in|error" "$PYTHON" -m experiments.fig6_mnist_eigvec "${FIG[@]}" --data-dir "$DATA_DIR"
else
  step fig6_synthetic 120 "scale in|error" "$PYTHON" -m experiments.fig6_mnist_eigvec "${FIG[@]}" \
    --set data_dir=synthetic
fi
echo >> "$TABLE"
echo "Total $(( $(date +%s) - START )) s. Logs: logs/<step>.log." >> "$TABLE"
cat "$TABLE"
