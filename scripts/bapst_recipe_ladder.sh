#!/usr/bin/env bash
# The Bapst GNN's recipe changes, each measured on the study preset's data (issue 24): one change at a
# time around the `converged` recipe (leave one out) and DeepMind's recipe itself, same architecture,
# same data (T = 0.6: the study's training and validation configurations), the same budget (EPOCHS
# epochs of one graph per step, unless the change is the batch), one model for tau_alpha (F_s = 1/e);
# each trained from SEEDS seeds by scripts/seed_replicates.py (the workflow's own train/evaluate
# commands), two rungs side by side (JOBS), and compared paired over the test configurations (two-level
# bootstrap over seeds) by the script's summary of each tag.
# Run from a study run's folder once its data exist (e.g. after `snakemake simulate_only
# results/eval/ridge/T0.60.json --configfile presets/study.yaml`):
#   bash scripts/bapst_recipe_ladder.sh [SEEDS] [EPOCHS] [JOBS]   # results/seed_replicates/bapst/T0.60/<tag>/
set -euo pipefail
SEEDS=${1:-1}
EPOCHS=${2:-30}
JOBS=${3:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
CONVERGED="training.lr=0.001 training.lr_schedule=warmup_cosine training.warmup_epochs=1.0 training.rotation_group=o3 hparams.standardize_inputs=true"
RUNGS=(
  "deepmind|"
  "converged|$CONVERGED"
  "converged-no-standardize|$CONVERGED hparams.standardize_inputs=false"
  "converged-lr1e-4-constant|$CONVERGED training.lr=0.0001 training.lr_schedule=none"
  "converged-axes|$CONVERGED training.rotation_group=axes"
  "converged-sonnet-init|$CONVERGED hparams.init=sonnet"
  "converged-batch4|$CONVERGED training.batch_size=4 training.lr=0.002"
)
rung() {  # "tag|assignments"
  local tag=${1%%|*} assignments=${1#*|}
  local sets=(--set 'training.timescales=["Fs=0.368"]' --set "training.epochs=$EPOCHS" --set "training.patience=$EPOCHS")
  for a in $assignments; do sets+=(--set "$a"); done
  python "$HERE/seed_replicates.py" --configfile presets/study.yaml --model bapst --trainset T0.60 \
    --seeds "$SEEDS" --jobs 1 --tag "$tag" --against "${sets[@]}" > "results/seed_replicates/ladder-$tag.log" 2>&1
  echo "[ladder] $tag done"
}
mkdir -p results/seed_replicates
running=0
for r in "${RUNGS[@]}"; do
  rung "$r" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait
