"""Convert DeepMind's published glassy-dynamics checkpoint into plain NumPy arrays, and record
DeepMind's own predictions made with it (through their saved TensorFlow graph).

Runs in a throwaway TensorFlow environment, never in equiglass's runtime install::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu numpy
    git clone https://github.com/google-deepmind/deepmind-research   # or any snapshot of it
    /tmp/tfvenv/bin/python scripts/deepmind/convert_checkpoint.py \\
        --checkpoint deepmind-research/glassy_dynamics/checkpoints/t044_s09.ckpt \\
        --data deepmind-research/glassy_dynamics/testdata/test_large.pickle \\
        --source-commit "$(git -C deepmind-research rev-parse HEAD)" \\
        --weights src/equiglass/data/published/deepmind_t044_s09.npz \\
        --reference tests/data/deepmind_t044_s09_test_large.npz

(checked with tensorflow-cpu 2.21 and NumPy 2.4: ``tf.compat.v1`` imports the TF 1.15 meta graph.)

Sources (google-deepmind/deepmind-research, Apache-2.0; Bapst et al., Nat. Phys. 16, 448 (2020)):
``glassy_dynamics/checkpoints/t044_s09.ckpt*`` (trained at T = 0.44 for the time where the
self-intermediate scattering function reaches F_s = 0.9, their time index 0),
``glassy_dynamics/train.py`` (``load_data``, ``get_targets``, ``apply_model``: the tensor names
used below) and ``glassy_dynamics/graph_model.py`` (the network the variables belong to).

Outputs (both written atomically):

- ``--weights`` (.npz): the 26 trained variables under their Sonnet names (``w`` as [in, out],
  float32; the Adam slots and ``beta*_power`` are dropped), 70 721 parameters including the
  decoder's edge MLP (``Graph/graph_independent_1/edge_model``, 8 320 parameters), which the
  network builds but whose output it never uses; plus ``__metadata__`` (JSON: source repository,
  commit, path, licence, TensorFlow version).
- ``--reference`` (.npz): DeepMind's predictions (float32 [N]) on ``--data`` from the saved graph's
  tensor ``Graph_1/Squeeze:0`` fed through its own test input pipeline (as their ``apply_model``;
  targets fed: ``get_targets`` of ``trajectory_target_positions[time_index]``, float32), the
  graph's own correlation tensor (``Squeeze:0``: Pearson ρ over type A with those targets) and
  the Pearson ρ_A of the predictions with every row of the file's ``targets``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

REPOSITORY = "https://github.com/google-deepmind/deepmind-research"
CHECKPOINT_PATH = "glassy_dynamics/checkpoints/t044_s09.ckpt"


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez to a temporary file in the same folder, then rename (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_weights(checkpoint: str) -> dict[str, np.ndarray]:
    """The model's variables (no optimizer slots) of a TF1 checkpoint: name → float32 array."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(checkpoint)
    names = [k for k in reader.get_variable_to_shape_map()
             if k.startswith("Graph/") and not k.endswith(("/Adam", "/Adam_1"))]
    return {k: np.asarray(reader.get_tensor(k), dtype=np.float32) for k in sorted(names)}


def deepmind_targets(data: dict, time_index: int) -> np.ndarray:
    """Their ``train.get_targets``: mean over trajectories of |r(t) − r(0)|, float32 [N]."""
    pos = data["positions"]
    traj = data["trajectory_target_positions"][time_index]
    return np.mean([np.linalg.norm(t - pos, axis=-1) for t in traj], axis=0).astype(np.float32)


def run_saved_graph(checkpoint: str, data: dict, time_index: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Predictions [N] and the graph's ρ_A from the saved meta graph, as their ``apply_model``."""
    import tensorflow.compat.v1 as tf

    tf.disable_eager_execution()
    targets = deepmind_targets(data, time_index)
    feeds = (data["positions"].astype(np.float32), targets, data["types"].astype(np.int32),
             data["box"].astype(np.float32))
    tf.reset_default_graph()
    saver = tf.train.import_meta_graph(checkpoint + ".meta")
    graph = tf.get_default_graph()
    placeholders = [graph.get_tensor_by_name(f"Placeholder{s}:0") for s in ("", "_1", "_2", "_3")]
    prediction = graph.get_tensor_by_name("Graph_1/Squeeze:0")
    correlation = graph.get_tensor_by_name("Squeeze:0")
    handle_ph = graph.get_tensor_by_name("Placeholder_4:0")
    init = graph.get_operation_by_name("MakeIterator_1")
    handle_t = graph.get_tensor_by_name("IteratorToStringHandle_1:0")
    with tf.Session() as sess:
        saver.restore(sess, checkpoint)
        handle = sess.run(handle_t)
        sess.run(init, feed_dict={p: [x] for p, x in zip(placeholders, feeds)})
        pred, corr = sess.run((prediction, correlation), feed_dict={handle_ph: handle})
    return np.asarray(pred, dtype=np.float32), float(corr), targets


def pearson_a(pred: np.ndarray, target: np.ndarray, types: np.ndarray) -> float:
    a = types == 0
    return float(np.corrcoef(pred[a], target[a])[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="path prefix of t044_s09.ckpt (with .index/.meta/.data-*)")
    ap.add_argument("--data", required=True, help="glassy_dynamics/testdata/test_large.pickle")
    ap.add_argument("--source-commit", required=True, help="commit of deepmind-research the files come from")
    ap.add_argument("--time-index", type=int, default=0, help="time index the model was trained for (0: F_s = 0.9)")
    ap.add_argument("--weights", required=True, type=Path, help="output .npz of the weights")
    ap.add_argument("--reference", type=Path, help="output .npz of DeepMind's predictions on --data")
    a = ap.parse_args()

    import tensorflow as tf

    weights = read_weights(a.checkpoint)
    n_par = sum(int(v.size) for v in weights.values())
    meta = {"repository": REPOSITORY, "commit": a.source_commit, "path": CHECKPOINT_PATH,
            "license": "Apache-2.0", "copyright": "Copyright 2019 DeepMind Technologies Limited",
            "reference": "Bapst et al., Nature Physics 16, 448 (2020)",
            "converted_with": f"scripts/deepmind/convert_checkpoint.py, tensorflow {tf.__version__}",
            "n_parameters": n_par, "temperature": 0.44, "time_index": a.time_index, "fs_value": 0.9}
    _save_npz(a.weights, __metadata__=np.array(json.dumps(meta)), **weights)
    print(f"{len(weights)} variables, {n_par} parameters -> {a.weights}")

    if a.reference is not None:
        with open(a.data, "rb") as fh:
            data = pickle.load(fh)
        pred, corr, targets = run_saved_graph(a.checkpoint, data, a.time_index)
        types = np.asarray(data["types"], dtype=np.int32)
        file_targets = np.asarray(data["targets"], dtype=np.float64) if "targets" in data else None
        rho_rows = (np.array([pearson_a(pred, row, types) for row in file_targets])
                    if file_targets is not None else np.zeros(0))
        ref_meta = {**meta, "data": "glassy_dynamics/testdata/test_large.pickle",
                    "tensor": "Graph_1/Squeeze:0 through the saved test pipeline (MakeIterator_1), as train.apply_model"}
        _save_npz(a.reference, predictions=pred, graph_correlation=np.float32(corr),
                  rho_a_file_targets=rho_rows.astype(np.float32), __metadata__=np.array(json.dumps(ref_meta)))
        print(f"DeepMind's graph: rho_A {corr:.4f} (its own tensor), {pearson_a(pred, targets, types):.4f} "
              f"(recomputed); against the file's targets rows: {np.round(rho_rows, 4).tolist()} -> {a.reference}")


if __name__ == "__main__":
    main()
