"""One contract every registered model family passes: build from its schema defaults, train,
save, load, predict identically, and respect the symmetries it claims."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from equiglass.artifact import Predictor, load_artifact
from equiglass.config import schema
from equiglass.dataset import Sample
from equiglass.descriptors import DescriptorSettings, compute_descriptors
from equiglass.graphs import build_graph
from equiglass.models import registry
from equiglass.state import State
from equiglass.training import TrainSettings, train

SMALL = {"se3gnn": {"mul": 4, "l_max": 1, "n_layers": 1, "radial_hidden": 8, "readout_hidden": 8},
         "bapst": {"mlp_sizes": [8, 8], "n_recurrences": 1}, "descriptor_mlp": {"hidden": [8]}}


def _sample(state: State, name: str, targets: np.ndarray) -> Sample:
    desc, names = compute_descriptors(state, DescriptorSettings(l_values=(4, 6), radial_max=2.0, coarse_grain=False))
    return Sample(name, build_graph(state, 2.0), desc.astype(np.float32), names, 1.0, targets,
                  np.array([1.0, 2.0]), ["a", "b"])


@pytest.fixture(scope="module")
def samples(liquid_256):
    rng = np.random.default_rng(3)
    out = []
    for k in range(3):
        st = State(liquid_256.positions + rng.normal(scale=0.03, size=(256, 3)), liquid_256.types,
                   liquid_256.box).wrapped()
        out.append(_sample(st, f"c{k}", rng.uniform(0.1, 1.0, size=(256, 2)).astype(np.float32)))
    return out


def test_registry_is_the_schema_of_models():
    sch = schema()["properties"]
    assert list(sch["models"]["properties"]) == registry.names()
    assert sch["training"]["properties"]["models"]["items"]["enum"] == registry.names()
    with pytest.raises(KeyError, match="did you mean 'ridge'"):
        registry.family("ridg")


@pytest.mark.parametrize("name", registry.names())
def test_family_contract(name, samples, tmp_path, liquid_256):
    fam = registry.family(name)
    defaults = {k: v["default"] for k, v in fam.hparams.items() if "default" in v}
    hp = {**defaults, **SMALL.get(name, {})}
    for key in fam.train_options:
        hp.pop(key, None)
    ts = TrainSettings(family=name, hparams=hp, epochs=1, lr=1e-3, device="cpu", threads=1, seed=1)
    art = train(samples[:2], samples[2:], ts, tmp_path, label=name)
    assert (tmp_path / "model.pt").exists() and (tmp_path / "history.csv").exists()
    loaded = load_artifact(tmp_path / "model.pt")
    assert loaded["content_hash"] == art["content_hash"] and loaded["family"] == name
    pred = Predictor(loaded)
    y = pred.predict(samples[2])
    assert y.shape == (256, 2) and np.all(np.isfinite(y))
    np.testing.assert_array_equal(y, Predictor(art).predict(samples[2]))  # the file holds the model
    # symmetries: a translation (with periodic wrapping) never matters; rotations where claimed
    shifted = State(liquid_256.positions + np.array([0.7, -1.3, 2.1]), liquid_256.types, liquid_256.box).wrapped()
    base = pred.predict(_sample(liquid_256.wrapped(), "x", samples[0].targets))
    np.testing.assert_allclose(pred.predict(_sample(shifted, "x", samples[0].targets)), base, atol=2e-4)
    if fam.rotation_invariant:
        rot = Rotation.from_euler("xyz", [0.3, -1.1, 0.7]).as_matrix()
        g = samples[0].graph
        turned = Sample("r", type(g)(g.positions @ rot.T, g.types, g.box, g.src, g.dst,
                                     (g.vec @ rot.T).astype(np.float32), g.cutoff),
                        samples[0].descriptors, samples[0].descriptor_names, 1.0, samples[0].targets)
        np.testing.assert_allclose(pred.predict(turned), pred.predict(samples[0]), atol=2e-4)
