#!/usr/bin/env bash
# The Bapst GNN's recipe changes, each measured on the study preset's data (issue 24): one change at a
# time around the `converged` recipe (leave one out) and DeepMind's recipe itself, same architecture,
# same data (T = 0.6: the study's training and validation configurations), the same budget (EPOCHS
# epochs of one graph per step, unless the change is the batch), one model for tau_alpha (F_s = 1/e);
# each trained from SEEDS seeds by scripts/seed_replicates.py (the workflow's own train/evaluate
# commands) and compared paired over the test configurations (two-level bootstrap over seeds).
# Run from a finished (or data-complete) study run's folder:
#   bash scripts/bapst_recipe_ladder.sh [SEEDS] [EPOCHS]      # results/seed_replicates/bapst/T0.60/<tag>/
set -euo pipefail
SEEDS=${1:-1}
EPOCHS=${2:-30}
CONFIG="presets/study.yaml"
run() {  # tag, then --set assignments
  local tag=$1; shift
  local sets=(--set training.timescales='["Fs=0.368"]' --set training.epochs="$EPOCHS" --set training.patience="$EPOCHS")
  for a in "$@"; do sets+=(--set "$a"); done
  python scripts/seed_replicates.py --configfile "$CONFIG" --model bapst --trainset T0.60 --seeds "$SEEDS" \
    --tag "$tag" --against "${sets[@]}"
}
CONVERGED=(training.lr=0.001 training.lr_schedule=warmup_cosine training.warmup_epochs=1.0
           training.rotation_group=o3 hparams.standardize_inputs=true)
run deepmind
run converged "${CONVERGED[@]}"
run converged-no-standardize "${CONVERGED[@]}" hparams.standardize_inputs=false
run converged-lr1e-4-constant "${CONVERGED[@]}" training.lr=0.0001 training.lr_schedule=none
run converged-axes "${CONVERGED[@]}" training.rotation_group=axes
run converged-sonnet-init "${CONVERGED[@]}" hparams.init=sonnet
run converged-batch4 "${CONVERGED[@]}" training.batch_size=4 training.lr=0.002
