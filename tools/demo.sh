#!/usr/bin/env bash
# README command 1: the whole loop on the synthetic benchmark, on CPU. Generates a small
# synthetic nodule store (known annotator ambiguity + oracle draws), trains a tiny Probabilistic
# SAM and the same SAM without the latent, evaluates both and the oracle on the test split and
# prints GED / HM-IoU / DSC / IoU side by side. About 6 minutes on 2 CPU cores once built.
#
#   tools/demo.sh [WORK_DIR]        (default: demo/; delete it to start over)
#
# Environment: PSAM_DEMO_COUNT (store size, default 600), PSAM_DEMO_THREADS (libtorch threads,
# default: all cores), PSAM_DEMO_BASELINES=1 (also train and score the Probabilistic U-Net,
# MC-dropout SAM and adapter SAM on the same store and budget: about three times as long).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-demo}
COUNT=${PSAM_DEMO_COUNT:-600}
THREADS=${PSAM_DEMO_THREADS:-0}
BASELINES=${PSAM_DEMO_BASELINES:-0}

bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target psam
PSAM=(./build/psam --threads "$THREADS")
STORE=$WORK/synthetic
RUNS=$WORK/runs
start=$(date +%s)
mkdir -p "$RUNS"

if [ ! -f "$STORE/dataset.json" ]; then
  # 64 px patches, 4 annotators, 16 oracle draws; patient-level 60/20/20 split.
  "${PSAM[@]}" data synth "$STORE" --n "$COUNT" --size 64 --oracle 16 --seed 0
fi

train() {  # config, run name
  if [ -f "$RUNS/$2/checkpoints/last.pt" ] && [ -f "$RUNS/$2/done" ]; then
    echo "demo: $RUNS/$2 already trained"
    return
  fi
  rm -rf "${RUNS:?}/$2"
  "${PSAM[@]}" train "configs/$1" "data.store=$STORE" "run.out_dir=$RUNS" "run.name=$2"
  touch "$RUNS/$2/done"
}
train probsam_synthetic_tiny.yaml probsam
train sam_synthetic_tiny.yaml sam
BASELINE_ROWS=()
if [ "$BASELINES" = 1 ]; then
  for b in probunet mcdropout adaptersam; do
    train "${b}_synthetic_tiny.yaml" "$b"
    "${PSAM[@]}" eval --run "$RUNS/$b"
    BASELINE_ROWS+=("$b=$RUNS/$b/eval/test/summary.json")
  done
fi

"${PSAM[@]}" eval --run "$RUNS/probsam" --oracle
"${PSAM[@]}" eval --run "$RUNS/sam"

echo
echo "== synthetic benchmark, test split (mean [95% bootstrap interval]; GED lower is better) =="
"${PSAM[@]}" eval --compare \
  "probabilistic=$RUNS/probsam/eval/test/summary.json" \
  "deterministic=$RUNS/sam/eval/test/summary.json" \
  "${BASELINE_ROWS[@]}" \
  "oracle=$RUNS/probsam/eval/test/oracle/summary.json"
echo "demo: $(($(date +%s) - start)) s after the build; pictures: $RUNS/*/eval/test/samples.png"
