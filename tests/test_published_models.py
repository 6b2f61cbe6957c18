"""DeepMind's published checkpoint t044_s09, shipped as the published model ``deepmind-t044-s09``.

The reference predictions (tests/data/deepmind_t044_s09_test_large.npz) were made by DeepMind's
own saved TensorFlow graph (``Graph_1/Squeeze:0``) on their ``testdata/test_large.pickle`` by
scripts/deepmind/convert_checkpoint.py; see src/equiglass/data/published/LICENSE-deepmind.txt.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data
from equiglass.artifact import Predictor
from equiglass.dataset import Sample
from equiglass.graphs import Graph
from equiglass.published_models import (
    bapst_state_dict,
    data_path,
    published,
    published_artifact,
    read_weights,
    resolve_model,
    timescale_column,
)

NAME = "deepmind-t044-s09"
REFERENCE = Path(__file__).parent / "data" / "deepmind_t044_s09_test_large.npz"


def deepmind_edges(positions: np.ndarray, box: np.ndarray, threshold: float = 2.0):
    """Their ``make_graph_from_static_structure`` in NumPy float32: every ordered pair (self-pairs
    included) closer than ``threshold``, sender i, receiver j, edge = r_j − r_i (one image shift)."""
    pos, box = positions.astype(np.float32), box.astype(np.float32)
    cross = pos[None, :, :] - pos[:, None, :]
    cross += (cross < -box / 2).astype(np.float32) * box
    cross -= (cross > box / 2).astype(np.float32) * box
    senders, receivers = np.nonzero(np.linalg.norm(cross, axis=-1) < threshold)
    return senders, receivers, cross[senders, receivers]


def deepmind_forward(v: dict[str, np.ndarray], types: np.ndarray, senders, receivers, edges) -> np.ndarray:
    """Their GraphBasedModel (graph_model.py) with graph_nets' concatenation orders, in float64 NumPy:
    EdgeBlock [edge, receiver, sender], NodeBlock [Σ received edges, node]."""
    def mlp(x, scope, n_layers, activate_final=True):
        for k in range(n_layers):
            x = x @ v[f"Graph/{scope}/mlp/linear_{k}/w"].astype(np.float64) + v[f"Graph/{scope}/mlp/linear_{k}/b"]
            if k < n_layers - 1 or activate_final:
                x = np.maximum(x, 0.0)
        return x

    enc_n = mlp(types[:, None].astype(np.float64), "graph_independent/node_model", 2)
    enc_e = mlp(edges.astype(np.float64), "graph_independent/edge_model", 2)
    out_n, out_e = enc_n, enc_e
    for _ in range(7):
        in_n, in_e = np.concatenate([out_n, enc_n], 1), np.concatenate([out_e, enc_e], 1)
        out_e = mlp(np.concatenate([in_e, in_n[receivers], in_n[senders]], 1), "graph_network/edge_block", 2)
        agg = np.zeros((len(types), out_e.shape[1]))
        np.add.at(agg, receivers, out_e)
        out_n = mlp(np.concatenate([agg, in_n], 1), "graph_network/node_block", 2)
    return mlp(out_n, "graph_independent_1/node_model", 3, activate_final=False)[:, 0]


def deepmind_sample(positions: np.ndarray, types: np.ndarray, box: np.ndarray) -> Sample:
    """A sample whose graph holds exactly DeepMind's edges (self-pairs are added by the model)."""
    s, r, e = deepmind_edges(positions, box)
    keep = s != r
    graph = Graph(positions=positions.astype(np.float32), types=types.astype(np.int64), box=box,
                  src=s[keep].astype(np.int64), dst=r[keep].astype(np.int64), vec=-e[keep], cutoff=2.0)
    return Sample("deepmind", graph, np.zeros((len(types), 0), np.float32), [], 0.44)


def test_shipped_weights_and_notice():
    m = published(NAME)
    variables, meta = read_weights(data_path(m.weights))
    assert sum(a.size for a in variables.values()) == 70721  # incl. the decoder's unused edge MLP (8 320)
    assert sum(a.size for k, a in variables.items() if "graph_independent_1/edge_model" in k) == 8320
    assert meta["commit"] == "f5de0ede8430809180254ee957abf36ed62579ef" and meta["license"] == "Apache-2.0"
    notice = data_path(m.notice).read_text()
    assert "Apache License" in notice and "Version 2.0" in notice and meta["commit"] in notice
    art = published_artifact(NAME)
    assert art["info"]["training"]["n_parameters"] == 62401
    assert art["info"]["timescales"]["labels"] == ["Fs=0.9"]
    assert art["info"]["standardization"] == {"mean": [[0.0], [0.0]], "std": [[1.0], [1.0]]}
    assert published_artifact(NAME)["content_hash"] == art["content_hash"]  # deterministic


def test_weight_mapping_matches_their_graph_network():
    """Our forward pass with the mapped weights = DeepMind's network written out in NumPy with
    graph_nets' concatenation orders (a wrong column permutation fails this), no shared data needed."""
    rng = np.random.default_rng(3)
    n, box = 60, np.full(3, 4.6)
    pos = rng.uniform(0, box, size=(n, 3))
    types = (rng.uniform(size=n) < 0.2).astype(np.int64)
    variables, _ = read_weights(data_path(published(NAME).weights))
    ours = Predictor(published_artifact(NAME)).predict(deepmind_sample(pos, types, box))[:, 0]
    theirs = deepmind_forward(variables, types, *deepmind_edges(pos, box))
    assert np.abs(ours - theirs).max() < 1e-5 * np.abs(theirs).max()
    # the decoder's edge MLP is the only variable left out; anything else unknown is refused
    with pytest.raises(Exception, match="does not use"):
        bapst_state_dict({**variables, "Graph/extra/w": np.zeros(1)})


def test_reproduces_deepmind_predictions():
    """Same inputs as their graph (float32 edges, their wrap): predictions equal DeepMind's to round-off."""
    with open(shared_data("bapst/test_large.pickle"), "rb") as fh:
        d = pickle.load(fh)
    ref = np.load(REFERENCE)
    theirs = ref["predictions"]
    types = np.asarray(d["types"])
    ours = Predictor(published_artifact(NAME)).predict(deepmind_sample(d["positions"], types, d["box"]))[:, 0]
    diff = np.abs(ours - theirs).max()
    assert diff < 3e-6, diff  # measured 8.0e-7 (values 0.06 to 0.24: float32 round-off over 7 recurrences)
    a = types == 0
    rho = [np.corrcoef(ours[a], t[a])[0, 1] for t in np.asarray(d["targets"])]
    assert round(rho[0], 3) == 0.935  # DeepMind's model at its own timescale F_s = 0.9
    assert abs(rho[9] - 0.039) < 0.005  # and far off it, at F_s = 1/e (τ_α)
    assert abs(float(ref["graph_correlation"]) - rho[0]) < 1e-4  # their graph's own ρ_A tensor


def test_predict_by_name_on_pickle_and_gsd(tmp_path):
    from equiglass.formats.configurations import read_configurations
    from equiglass.formats.gsd_files import write_gsd
    from equiglass.predict import run_predict

    src = shared_data("bapst/test_large.pickle")
    theirs = np.load(REFERENCE)["predictions"]
    res = run_predict(NAME, [src], tmp_path / "pkl")
    meta = json.loads(res["paths"]["json"].read_text())
    assert meta["labels"] == ["Fs=0.9"] and meta["frames"][0]["times"] == [0.132]
    assert meta["model"]["published"]["source"]["license"] == "Apache-2.0" and not meta["warnings"]
    import gsd.hoomd

    with gsd.hoomd.open(res["paths"]["gsd"]) as f:
        from_pickle = f[0].log["particles/prediction_0"]
    # freud's graph from positions wrapped into [-L/2, L/2): the same edges, vectors within 1.5e-6
    assert np.abs(from_pickle - theirs).max() < 1e-5
    st = read_configurations(src)[0]
    st.log = {"equiglass/temperature": np.array([0.44])}
    write_gsd(tmp_path / "conf.gsd", st)
    res = run_predict(NAME, [tmp_path / "conf.gsd"], tmp_path / "gsd")
    with gsd.hoomd.open(res["paths"]["gsd"]) as f:
        assert np.abs(f[0].log["particles/prediction_0"] - theirs).max() < 1e-5


def test_resolve_model_errors(tmp_path):
    from equiglass.files import InputError

    with pytest.raises(InputError, match="deepmind-t044-s09"):
        resolve_model("deepmind-t044-s9")
    with pytest.raises(InputError, match="unknown published model"):
        published("nope")


@pytest.mark.parametrize(("labels", "times", "expect"), [
    (["Fs=0.9", "Fs=0.8"], [0.132, 0.435], [0]),  # Bapst data: by label
    (["t=0.13", "t=1.3", "t=13"], [0.13, 1.3, 13.0], [0]),  # GlassBench at T = 0.44: by time
    (["t=1.3", "t=13"], [1.3, 13.0], None),
])
def test_timescale_column(labels, times, expect):
    from equiglass.files import InputError

    art = published_artifact(NAME)
    if expect is None:
        with pytest.raises(InputError, match="do not have"):
            timescale_column(art, labels, times, "0.44")
    else:
        assert timescale_column(art, labels, times, "0.44") == expect


def test_evaluate_published_from_configurations(tmp_path):
    """The workflow's evaluation of the published model (rule evaluate_published): the imported
    configuration and propensities of a Bapst file, inputs rebuilt from the configuration."""
    from equiglass.formats.published import read_bapst, write_imported
    from equiglass.steps.learn import metrics_rows, step_evaluate

    folder = tmp_path / "T0.44"
    (folder / "s000").mkdir(parents=True)
    write_imported(read_bapst(shared_data("bapst/test_large.pickle")), folder / "s000" / "equilibrated.gsd",
                   folder / "s000.npz")
    ev = step_evaluate({"set_name": f"published:{NAME}", "seed": 0}, NAME,
                       {"0.44": [(str(folder / "s000" / "equilibrated.gsd"), str(folder / "s000.npz"))]},
                       tmp_path / "eval.json", inputs="configurations")
    res = ev["results"]["0.44"]
    assert res["timescale_labels"] == ["Fs=0.9"] and res["configurations"] == ["T0.44/s000"]
    assert round(res["metrics"]["A"]["pearson"][0], 3) == 0.935
    assert ev["published"]["source"]["commit"].startswith("f5de0ed") and ev["train_time_s"] is None
    row = metrics_rows([ev])[0]
    assert (row["model"], row["train_set"], row["n_parameters"]) == ("bapst", f"published:{NAME}", 62401)


def test_evaluate_refuses_graphs_of_another_cutoff(tmp_path, liquid_256):
    """Graph files built for other models (here cutoff 1.5) are not silently fed to it."""
    from equiglass.files import InputError
    from equiglass.graphs import build_graph, save_graph
    from equiglass.steps.learn import step_evaluate

    folder = tmp_path / "T0.44"
    folder.mkdir()
    save_graph(folder / "s000.npz", build_graph(liquid_256.wrapped(), 1.5), np.zeros((256, 0)), [], {})
    np.savez(folder / "p000.npz", propensity=np.ones((1, 256)), stderr=np.zeros((1, 256)), times=np.array([0.13]),
             types=liquid_256.types, temperature=0.44, metadata=json.dumps({"timescale_labels": ["Fs=0.9"]}))
    with pytest.raises(InputError, match="cutoff 2.0"):
        step_evaluate({}, NAME, {"0.44": [(str(folder / "s000.npz"), str(folder / "p000.npz"))]}, tmp_path / "e.json")
