"""Published trained models shipped with equiglass, usable by name wherever a model file is.

``deepmind-t044-s09``: DeepMind's checkpoint ``glassy_dynamics/checkpoints/t044_s09.ckpt``
(google-deepmind/deepmind-research, Apache-2.0; Bapst et al., Nature Physics 16, 448 (2020)):
their graph network trained on Kob–Andersen configurations at T = 0.44 (P = 2.93, ρ ≈ 1.203) for
the time at which the self-intermediate scattering function reaches F_s = 0.9 (their time
index 0, t ≈ 0.13 τ). It predicts the raw propensity ⟨|Δr|⟩ [σ_AA] (their ``train.py`` applies no
target normalisation), so the model file's standardization is the identity. Its weights were
converted with ``scripts/deepmind/convert_checkpoint.py`` (TensorFlow, outside the runtime
install) into ``data/published/deepmind_t044_s09.npz``; ``data/published/LICENSE-deepmind.txt``
holds the licence and provenance.

Mapping onto :class:`~equiglass.models.bapst.BapstGNN` (graph_nets 1.0.4, ``blocks.py``): the
EdgeBlock concatenates [edge, receiver node, sender node] and the NodeBlock [Σ received edges,
node], while BapstGNN takes [edge, sender, receiver] and [node, Σ received]; the first core
layers' input columns are permuted accordingly (same function, no value changed). The decoder's
edge MLP (``graph_independent_1/edge_model``, 8 320 parameters) is built by their network but
never used for the output; it stays in the ``.npz`` and is not loaded.

Importing this module imports neither NumPy nor torch (the workflow plans with :data:`PUBLISHED`
on a login node); the functions that need them import them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class PublishedModel:
    """A shipped published model: weights file and notice (in ``equiglass/data/published``),
    training temperature, timescale (F_s level and its time [τ] in the source's sample file),
    τ_α there [τ], density of the source's sample [σ_AA⁻³], citation."""

    name: str
    weights: str
    notice: str
    temperature: float
    fs_value: float
    time: float
    tau_alpha: float
    density: float
    reference: str
    description: str


PUBLISHED: dict[str, PublishedModel] = {m.name: m for m in (
    PublishedModel(
        name="deepmind-t044-s09", weights="deepmind_t044_s09.npz", notice="LICENSE-deepmind.txt",
        # times: time[time_indices[0]] and time[time_indices[9]] (F_s = 1/e) of their
        # testdata/test_large.pickle; density 4096 / box³ of that file (NPT data: varies slightly)
        temperature=0.44, fs_value=0.9, time=0.132, tau_alpha=5889.603, density=1.2031724,
        reference="Bapst et al., Nature Physics 16, 448 (2020); google-deepmind/deepmind-research "
                  "glassy_dynamics/checkpoints/t044_s09.ckpt (Apache-2.0)",
        description="DeepMind's published Bapst GNN, trained at T = 0.44 for F_s = 0.9 (t ≈ 0.13 τ)"),
)}

_PREFIX = "Graph/"
# (BapstGNN submodule, index of its nn.Linear layers, Sonnet scope)
_LAYERS = (
    ("node_encoder", (0, 2), "graph_independent/node_model/mlp"),
    ("edge_encoder", (0, 2), "graph_independent/edge_model/mlp"),
    ("edge_core", (0, 2), "graph_network/edge_block/mlp"),
    ("node_core", (0, 2), "graph_network/node_block/mlp"),
    ("decoder", (0, 2, 4), "graph_independent_1/node_model/mlp"),
)
UNUSED_SCOPE = "graph_independent_1/edge_model/mlp"


def names() -> list[str]:
    """Names of the shipped published models."""
    return list(PUBLISHED)


def published(name: str) -> PublishedModel:
    from .files import InputError

    try:
        return PUBLISHED[name]
    except KeyError:
        raise InputError(f"unknown published model {name!r}; shipped: {', '.join(PUBLISHED)}") from None


def data_path(filename: str) -> Path:
    """Path of a file in the package's ``data/published`` folder."""
    return Path(str(resources.files("equiglass") / "data" / "published" / filename))


def read_weights(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Variables (Sonnet name → float32 array, ``w`` as [in, out]) and metadata of a converted checkpoint."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files}
    meta = json.loads(str(arrays.pop("__metadata__"))) if "__metadata__" in arrays else {}
    return arrays, meta


def _column_blocks(scope: str, k: int, n_in: int, latent: int) -> list[slice] | None:
    """Input columns of DeepMind's first core layers, in the order BapstGNN feeds them (None: same)."""
    if k != 0:
        return None
    h = 2 * latent  # current latent ‖ encoded
    if scope == "graph_network/edge_block/mlp":  # theirs [edge, receiver, sender] → ours [edge, sender, receiver]
        assert n_in == 3 * h, n_in
        return [slice(0, h), slice(2 * h, 3 * h), slice(h, 2 * h)]
    if scope == "graph_network/node_block/mlp":  # theirs [Σ received (latent), node] → ours [node, Σ received]
        assert n_in == latent + h, n_in
        return [slice(latent, latent + h), slice(0, latent)]
    return None


def bapst_state_dict(variables: dict[str, np.ndarray], latent: int = 64) -> dict[str, torch.Tensor]:
    """BapstGNN ``state_dict`` (float32) from DeepMind's variables (``latent``: the MLPs' output size)."""
    import numpy as np
    import torch

    from .files import InputError

    out: dict[str, torch.Tensor] = {}
    used = set()
    for module, idx, scope in _LAYERS:
        for k, i in enumerate(idx):
            wname, bname = f"{_PREFIX}{scope}/linear_{k}/w", f"{_PREFIX}{scope}/linear_{k}/b"
            if wname not in variables or bname not in variables:
                raise InputError(f"converted checkpoint lacks {wname} or {bname}; convert it again with "
                                 "scripts/deepmind/convert_checkpoint.py")
            w = np.asarray(variables[wname], dtype=np.float32)
            blocks = _column_blocks(scope, k, w.shape[0], latent)
            if blocks is not None:
                w = np.concatenate([w[b] for b in blocks], axis=0)
            out[f"{module}.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(w.T))
            out[f"{module}.{i}.bias"] = torch.from_numpy(np.asarray(variables[bname], dtype=np.float32).copy())
            used |= {wname, bname}
    rest = [k for k in variables if k not in used and not k.startswith(f"{_PREFIX}{UNUSED_SCOPE}/")]
    if rest:
        raise InputError(f"converted checkpoint has variables this network does not use: {rest}")
    return out


HPARAMS: dict[str, Any] = {"mlp_sizes": [64, 64], "n_recurrences": 7, "include_self_edges": True,
                           "init": "deepmind", "per_type_heads": False}


def published_artifact(name: str) -> dict[str, Any]:
    """The equiglass model-file dictionary of the published model ``name`` (built from the shipped weights)."""
    from .artifact import build_model, make_artifact
    from .config import temperature_key
    from .model_inputs import InputSettings
    from .models.common import count_parameters

    m = published(name)
    variables, meta = read_weights(data_path(m.weights))
    model = build_model("bapst", 1, HPARAMS)
    model.load_state_dict(bapst_state_dict(variables, latent=int(HPARAMS["mlp_sizes"][-1])))
    tkey = temperature_key(m.temperature)
    n_checkpoint = int(sum(v.size for v in variables.values()))
    info = {
        "temperatures": [m.temperature],
        "timescales": {"labels": [f"Fs={m.fs_value:.3g}"], "mode": "fs", "values": [m.fs_value],
                       "times_by_temperature": {tkey: [m.time]}, "tau_alpha_by_temperature": {tkey: m.tau_alpha}},
        "inputs": {**InputSettings(positions="thermal", graph_cutoff=2.0).record(), "n_types": 2,
                   "density_range": [m.density, m.density]},
        "target": {"kind": "displacement", "units": "sigma_AA"},
        # raw propensities: DeepMind's train.py fits ⟨|Δr|⟩ itself (no target normalisation)
        "standardization": {"mean": [[0.0], [0.0]], "std": [[1.0], [1.0]]},
        "training": {"n_parameters": count_parameters(model), "n_parameters_checkpoint": n_checkpoint,
                     "train_configurations": [], "recipe": "DeepMind's train.py (Adam 1e-4, clip 1.0, L2 on "
                     "type A, rotation augmentation; checkpoint of best test correlation)"},
        "published": {"name": m.name, "description": m.description, "reference": m.reference,
                      "source": {k: meta.get(k) for k in ("repository", "commit", "path", "license", "copyright")},
                      "notice": f"equiglass/data/published/{m.notice}",
                      "converted_with": meta.get("converted_with")},
    }
    return make_artifact("bapst", model, 1, HPARAMS, info)


def resolve_model(model: str | Path) -> dict[str, Any]:
    """A model file's artifact, or a published model's by name (an existing path wins)."""
    from .artifact import load_artifact
    from .files import InputError

    if not Path(model).exists() and str(model) in PUBLISHED:
        return published_artifact(str(model))
    try:
        return load_artifact(model)
    except InputError as err:
        if not Path(model).exists():
            raise InputError(f"{err}; or name a published model: {', '.join(PUBLISHED)}") from None
        raise


def timescale_column(art: dict[str, Any], labels: list[str], times: list[float] | np.ndarray | None,
                     temperature_key: str, rtol: float = 0.1) -> list[int]:
    """Column of test data (``labels``, ``times`` [τ] at ``temperature_key``) that a one-timescale model
    predicts: the same label, else the time within ``rtol`` of the model's time at that temperature
    (GlassBench's ``t=0.13`` is the F_s = 0.9 time of Bapst's data at T = 0.44)."""
    import numpy as np

    from .files import InputError

    ts = art["info"]["timescales"]
    label = ts["labels"][0]
    if label in labels:
        return [labels.index(label)]
    t_model = (ts.get("times_by_temperature") or {}).get(temperature_key, [None])[0]
    t = np.asarray(times, dtype=float)
    if t_model is not None and t.size and np.any(np.isfinite(t)):
        k = int(np.nanargmin(np.abs(np.log(t / t_model))))
        if abs(t[k] / t_model - 1) <= rtol:
            return [k]
    raise InputError(f"the model predicts {label} (t = {t_model} τ at T = {temperature_key}), which the test data "
                     f"({labels}, times {t.tolist()}) do not have")


__all__ = ["PUBLISHED", "PublishedModel", "bapst_state_dict", "data_path", "names", "published",
           "published_artifact", "read_weights", "resolve_model", "timescale_column"]
