"""Why the Bapst GNN does not learn here (issue 24): its activations at initialization, and the
state its trainings end in.

At initialization (one graph of a run, standardized inputs as in ``recipe: converged``) it prints
the RMS of the node latent after each of the 7 recurrences and the output's standard deviation
(the targets are z-scores, std 1), for DeepMind's and Sonnet's initialization. The sum over a
receiver's ~40 edges (cutoff 2.0 σ at ρ = 1.2) multiplies the latent by ~2-3 per recurrence, so the
first outputs are tens to hundreds of target standard deviations; the first epoch's loss is then
10²-10⁴ (`history.csv`). For each checkpoint given it prints the fraction of node-latent units
that are zero on every particle of that graph (dead ReLUs) per recurrence and the output's standard
deviation: a network that has collapsed onto the mean shows std ≪ 1.

    python scripts/bapst_init_growth.py results/graphs/T0.60/s001.npz \
        [results/seed_replicates/bapst/T0.60/*/s0/checkpoint.pt ...]

Architecture: V. Bapst et al., Nature Physics 16, 448 (2020); google-deepmind/deepmind-research
``glassy_dynamics/graph_model.py`` (sum aggregation, 7 recurrences, MLPs (64, 64)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from equiglass.dataset import load_sample, to_batch
from equiglass.models.bapst import BapstGNN


def probe(model: BapstGNN, batch) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Node latents after each recurrence (each (N, 64)) and the output (N, k)."""
    latents: list[torch.Tensor] = []
    hook = model.node_core.register_forward_hook(lambda _m, _i, out: latents.append(out.detach()))
    with torch.no_grad():
        out = model(batch)
    hook.remove()
    return latents, out


def standardized(model: BapstGNN, sample) -> BapstGNN:
    """Set the input-standardization buffers from this graph (what SPEC.setup does from training data)."""
    types = sample.graph.types.astype(np.float32)
    model.node_mean.fill_(float(types.mean()))
    model.node_std.fill_(float(types.std()))
    model.edge_rms.fill_(float(np.sqrt((sample.graph.vec ** 2).sum(axis=1).mean())))
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graph", help="a graph file of a run, e.g. results/graphs/T0.60/s001.npz")
    ap.add_argument("checkpoints", nargs="*", help="Bapst training checkpoints (checkpoint.pt) to inspect")
    args = ap.parse_args()
    sample = load_sample(args.graph)
    batch = to_batch([sample])
    degree = len(sample.graph.src) / len(sample.graph.types)
    print(f"{args.graph}: N = {len(sample.graph.types)}, mean degree {degree:.1f} (+1 self edge)")
    print("\nat initialization (seed 0, standardized inputs): node-latent RMS per recurrence; output std")
    for init in ("deepmind", "sonnet"):
        torch.manual_seed(0)
        model = standardized(BapstGNN(1, init=init, per_type_heads=False, standardize_inputs=True), sample)
        latents, out = probe(model, batch)
        rms = " ".join(f"{float(a.pow(2).mean().sqrt()):7.3g}" for a in latents)
        print(f"  {init:9s} {rms}   output std {float(out.std()):.3g}")
    if args.checkpoints:
        print("\ntrained: fraction of dead node-latent units per recurrence; output std (targets: std 1)")
    for path in args.checkpoints:
        state = torch.load(path, map_location="cpu", weights_only=False)["model"]
        heads = state[[k for k in state if k.startswith("decoder") and k.endswith("bias")][-1]].shape[0]
        model = BapstGNN(1, init="sonnet", per_type_heads=heads == 2, standardize_inputs="node_mean" in state)
        model.load_state_dict(state)
        latents, out = probe(model, batch)
        dead = " ".join(f"{float(((a > 0).sum(0) == 0).float().mean()):5.2f}" for a in latents)
        print(f"  {Path(path).parent.parent.name:28s} {dead}   output std {float(out.std()):.3g}")


if __name__ == "__main__":
    main()
