"""Figure of predictions on your own configurations (``equiglass predict``): a slab snapshot."""

from __future__ import annotations

from pathlib import Path

import gsd.hoomd
import numpy as np

from ..files import InputError, read_json
from ..metrics import tau_alpha_index
from .style import plt, savefig


def fig_predictions(predictions_gsd: str | Path, output: str | Path, frame: int = 0, slab: float = 2.0,
                    caption: str = "") -> None:
    """Slab |z| < slab/2 of one predicted configuration, coloured by the prediction at ≈ τ_α (PNG + PDF)."""
    p = Path(predictions_gsd)
    meta = read_json(p.with_suffix(".json"))
    labels = meta["labels"]
    k = tau_alpha_index(labels)
    try:
        with gsd.hoomd.open(p, mode="r") as traj:
            f = traj[frame]
            pos = np.asarray(f.particles.position, dtype=np.float64)
            types = np.asarray(f.particles.typeid)
            values = np.asarray(f.log[f"particles/prediction_{k}"], dtype=np.float64)
    except Exception as err:
        raise InputError(f"{p}: cannot read predictions of frame {frame} ({type(err).__name__}: {err}); "
                         "rerun equiglass predict") from err
    mask = np.abs(pos[:, 2]) < slab / 2
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    vmin, vmax = (float(np.percentile(values, q)) for q in (2, 98))
    sc = ax.scatter(pos[mask, 0], pos[mask, 1], c=values[mask], s=np.where(types[mask] == 0, 60, 35),
                    cmap="viridis", vmin=vmin, vmax=vmax, edgecolors="k", linewidths=0.3)
    ax.set_aspect("equal", adjustable="datalim")  # fills its slot: colour bar as tall
    model = meta.get("model", {})
    rec = meta["frames"][frame]
    where = f"{Path(str(rec.get('source', p))).name} frame {rec.get('source_frame', frame)}"
    ax.set(xlabel="x [σ]", ylabel="y [σ]", title=f"predicted propensity ({model.get('family', '?')}), {labels[k]}\n"
                                                   f"{where}, slab |z| < {slab / 2:g} σ")
    unit = meta.get("units", {}).get("propensity", "sigma_AA").replace("sigma_AA", "σ")
    fig.colorbar(sc, ax=ax, label=f"propensity [{unit}]")
    if caption:
        fig.suptitle(caption, fontsize=9)
    savefig(fig, output)
