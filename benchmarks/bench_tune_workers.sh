#!/usr/bin/env bash
# Wall time of one 20-trial study finished by 1 worker vs 2 worker processes sharing its storage.
# Usage: [TUNE_ARGS=...] bash benchmarks/bench_tune_workers.sh [METHOD] [DATASET] [TRIALS]
# Run it on an otherwise idle machine; features are cached by a warm-up run first. TUNE_ARGS go to
# every worker, e.g. to give every trial the same work (no pruning, fixed epochs):
#   TUNE_ARGS='--pruner none --space lr=choice(0.001) --space k=choice(157) --set max_epochs=3 --set patience=3'
set -euo pipefail
method=${1:-lr}; dataset=${2:-trecvid2013-mini}; trials=${3:-20}
harness=${HARNESS_BIN:-.venv/bin/harness}
work=$(mktemp -d)
"$harness" run --method "$method" --dataset "$dataset" --out "$work/warm" > /dev/null 2>&1  # cache features
for n in 1 2; do
  out="$work/w$n"; mkdir -p "$out"
  start=$(date +%s.%N)
  for ((i = 0; i < n; i++)); do
    OMP_NUM_THREADS=1 "$harness" tune --method "$method" --dataset "$dataset" --trials "$trials" \
      --out "$out" --worker-index "$i" ${TUNE_ARGS:-} > "$out/worker$i.log" 2>&1 &
  done
  wait
  end=$(date +%s.%N)
  echo "$n worker(s): $(echo "$end - $start" | bc) s wall for $trials trials"
  "$harness" tune --status --out "$out" 2>/dev/null | tail -3
done
rm -rf "$work"
