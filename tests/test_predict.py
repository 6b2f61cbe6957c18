"""Predicting your own configurations: readers of every format, model checks, CLI, invariances."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys

import ase
import ase.io
import gsd.hoomd
import numpy as np
import pytest

from conftest import REPO
from equiglass.descriptors import DescriptorSettings, compute_descriptors
from equiglass.files import InputError
from equiglass.formats.configurations import read_configurations, select_frames
from equiglass.formats.gsd_files import write_gsd
from equiglass.graphs import build_graph
from equiglass.predict import check_compatible, predict_configurations, write_predictions
from equiglass.state import State

HP = {"mul": 4, "l_max": 1, "n_layers": 2, "radial_hidden": 8, "readout_hidden": 16, "cutoff": 2.0}
LABELS = ["Fs=0.5", "Fs=0.368"]
INFO = {
    "temperatures": [1.0],
    "timescales": {"labels": LABELS, "mode": "fs", "values": [0.5, 0.3678794],
                   "times_by_temperature": {"1.00": [1.0, 2.0]}, "tau_alpha_by_temperature": {"1.00": 2.0}},
    "inputs": {"positions": "thermal", "local_energy": False, "graph_cutoff": 2.0, "n_types": 2,
               "descriptors": {"l_values": [6], "radial_max": 2.0, "coarse_grain": False},
               "density_range": [1.2, 1.2]},
    "target": {"kind": "displacement", "units": "sigma_AA"},
}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, liquid_256):
    """A tiny SE(3) GNN trained (2 epochs) on noisy copies of the liquid with a structural target."""
    from equiglass.dataset import Sample
    from equiglass.training import TrainSettings, train

    rng = np.random.default_rng(0)
    ds = DescriptorSettings(l_values=(6,), radial_max=2.0, coarse_grain=False)
    samples = []
    for k in range(3):
        st = State(liquid_256.positions + rng.normal(scale=0.05, size=liquid_256.positions.shape),
                   liquid_256.types, liquid_256.box).wrapped()
        g = build_graph(st, 2.0)
        desc, names = compute_descriptors(st, ds)
        r = np.linalg.norm(g.vec, axis=1)
        rho = np.bincount(g.dst, weights=np.exp(-((r - 1.0) ** 2) / 0.05), minlength=st.n)
        y = np.stack([rho, np.sqrt(rho)], axis=1).astype(np.float32)
        samples.append(Sample(f"c{k}", g, desc.astype(np.float32), names, 1.0, y, np.array([1.0, 2.0]), LABELS))
    out = tmp_path_factory.mktemp("model")
    s = TrainSettings(family="se3gnn", hparams=HP, epochs=2, lr=1e-2, threads=1, device="cpu", seed=1, patience=50)
    train(samples[:2], samples[2:], s, out, label="test", info=json.loads(json.dumps(INFO)))
    return out / "model.pt"


@pytest.fixture(scope="module")
def liquid(liquid_256):
    st = State(liquid_256.positions, liquid_256.types, liquid_256.box).wrapped()
    st.log = {"equiglass/temperature": np.array([1.0])}
    return st


def min_image(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> np.ndarray:
    d = a - b
    return d - box * np.round(d / box)


def write_dump(path, st: State, shuffle: bool = True) -> None:
    """LAMMPS text dump in LAMMPS' own conventions: box [0, L), types 1/2, atoms in any order."""
    order = np.random.default_rng(3).permutation(st.n) if shuffle else np.arange(st.n)
    pos = np.mod(st.positions, st.box)
    lines = ["ITEM: TIMESTEP", "0", "ITEM: NUMBER OF ATOMS", str(st.n), "ITEM: BOX BOUNDS pp pp pp"]
    lines += [f"0.0 {L:.12g}" for L in st.box]
    lines.append("ITEM: ATOMS id type x y z")
    lines += [f"{i + 1} {st.types[i] + 1} {pos[i, 0]:.10g} {pos[i, 1]:.10g} {pos[i, 2]:.10g}" for i in order]
    path.write_text("\n".join(lines) + "\n")


def write_all_formats(tmp_path, st: State) -> dict[str, object]:
    files = {}
    files["gsd"] = tmp_path / "c.gsd"
    write_gsd(files["gsd"], st)
    files["lammps-dump"] = tmp_path / "c.lammpstrj"
    write_dump(files["lammps-dump"], st)
    files["extxyz"] = tmp_path / "c.extxyz"
    symbols = np.where(st.types == 0, "Ni", "P")  # KA's Ni80P20: A = the more numerous species
    ase.io.write(files["extxyz"], ase.Atoms(symbols=list(symbols), positions=np.mod(st.positions, st.box),
                                            cell=np.diag(st.box), pbc=True), format="extxyz")
    files["extxyz-names"] = tmp_path / "names.xyz"
    lat = " ".join(f"{v:.12g}" for v in np.diag(st.box).ravel())
    rows = [f"{'AB'[t]} {x:.10g} {y:.10g} {z:.10g}" for t, (x, y, z) in zip(st.types, st.positions)]
    files["extxyz-names"].write_text(f'{st.n}\nLattice="{lat}" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                                     + "\n".join(rows) + "\n")
    files["bapst"] = tmp_path / "c.pickle"
    with open(files["bapst"], "wb") as fh:
        pickle.dump({"positions": np.mod(st.positions, st.box), "types": st.types, "box": st.box,
                     "time": np.arange(10.0), "time_indices": np.arange(10), "is_values": np.linspace(0.9, 0.1, 10),
                     "targets": np.zeros((10, st.n)), "metadata": {"temperature": 1.0}}, fh)
    gb = tmp_path / "T0.44"
    gb.mkdir()
    files["glassbench"] = gb / "N256T0.44_0.npz"
    np.savez(files["glassbench"], types=st.types, initial_positions=np.mod(st.positions, st.box),
             md_prop=np.zeros((st.n, 10)))
    return files


# ------------------------------------------------------------------------------- readers
def test_every_format_gives_the_same_configuration(tmp_path, liquid):
    files = write_all_formats(tmp_path, liquid)
    for fmt, path in files.items():
        states = read_configurations(path)
        assert len(states) == 1, fmt
        st = states[0]
        np.testing.assert_allclose(st.box, liquid.box, rtol=1e-6, err_msg=fmt)
        assert np.abs(min_image(st.positions, liquid.positions, liquid.box)).max() < 2e-5, fmt
        assert np.all(np.abs(st.positions) <= liquid.box / 2), fmt  # wrapped into [-L/2, L/2)
        np.testing.assert_array_equal(st.types, liquid.types, err_msg=fmt)
        assert st.log["equiglass/input"]["source"] == str(path)


def test_species_mapping_rules():
    from equiglass.formats.configurations import map_species

    t, _ = map_species(np.array(["B", "A", "A"]))
    assert t.tolist() == [1, 0, 0]  # names win over counts
    t, _ = map_species(np.array([2, 2, 1]), lammps_types=True)
    assert t.tolist() == [1, 1, 0]  # LAMMPS type 1 is A even when fewer
    t, m = map_species(np.array(["P", "Ni", "Ni", "Ni"]))
    assert t.tolist() == [1, 0, 0, 0] and m["Ni"]["type"] == 0  # otherwise A is the more numerous
    t, _ = map_species(np.array(["x", "y", "y", "z", "z", "z"]))
    assert sorted(set(t.tolist())) == [0, 1, 2]


def test_frames_selection_and_format_override(tmp_path, liquid):
    frames = [State(liquid.positions + 0.01 * k, liquid.types, liquid.box).wrapped() for k in range(5)]
    write_gsd(tmp_path / "traj.gsd", frames)
    assert len(read_configurations(tmp_path / "traj.gsd")) == 5
    sel = read_configurations(tmp_path / "traj.gsd", frames="0,-1")
    assert [s.log["equiglass/input"]["frame"] for s in sel] == [0, 4]
    assert select_frames("::2", 5, "x") == [0, 2, 4]
    assert select_frames("1:3,4", 5, "x") == [1, 2, 4]
    with pytest.raises(InputError, match="frame 7 does not exist"):
        read_configurations(tmp_path / "traj.gsd", frames="7")
    (tmp_path / "traj.data").write_bytes((tmp_path / "traj.gsd").read_bytes())
    with pytest.raises(InputError, match="cannot tell the format"):
        read_configurations(tmp_path / "traj.data")
    assert len(read_configurations(tmp_path / "traj.data", fmt="gsd", frames="::2")) == 3


@pytest.mark.parametrize("fmt", ["gsd", "lammps-dump", "extxyz", "bapst", "glassbench"])
def test_truncated_files_are_named(tmp_path, liquid, fmt):
    path = write_all_formats(tmp_path, liquid)[fmt]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=str(path.name)):
        read_configurations(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_configurations(tmp_path / "nothing.gsd")


# ------------------------------------------------------------------------------- checks
def three_species_gsd(path, st: State) -> None:
    f = gsd.hoomd.Frame()
    f.configuration.box = [*st.box.tolist(), 0, 0, 0]
    f.particles.N = st.n
    f.particles.types = ["A", "B", "C"]
    typeid = st.types.copy()
    typeid[:10] = 2
    f.particles.typeid = typeid.astype(np.uint32)
    f.particles.position = st.positions.astype(np.float32)
    with gsd.hoomd.open(path, mode="w") as t:
        t.append(f)


def test_refusals_name_the_difference_and_force(tmp_path, liquid):
    three_species_gsd(tmp_path / "abc.gsd", liquid)
    st = read_configurations(tmp_path / "abc.gsd")[0]
    with pytest.raises(InputError, match=r"3 species \[A \(\d+\), B \(\d+\), C \(10\)\].*--force"):
        check_compatible(st, INFO, "abc.gsd")
    warns = check_compatible(st, INFO, "abc.gsd", force=True)
    assert len(warns) == 1 and "3 species" in warns[0]

    dilute = State(liquid.positions * 1.3, liquid.types, liquid.box * 1.3)
    with pytest.raises(InputError, match=r"density 0\.5462 is outside the training range \[1\.2, 1\.2\]"):
        check_compatible(dilute, INFO, "dilute")

    (tmp_path / "nobox.xyz").write_text("3\nno lattice here\nNi 0 0 0\nNi 1 0 0\nP 0 1 0\n")
    with pytest.raises(InputError, match="no periodic box"):
        check_compatible(read_configurations(tmp_path / "nobox.xyz")[0], INFO, "nobox")

    tilted = tmp_path / "tilted.gsd"
    write_gsd(tilted, liquid)
    with gsd.hoomd.open(tilted, mode="r") as t:
        f = t[0]
    f.configuration.box = [*liquid.box.tolist(), 0.1, 0, 0]
    with gsd.hoomd.open(tilted, mode="w") as t:
        t.append(f)
    with pytest.raises(InputError, match="non-orthorhombic box"):
        check_compatible(read_configurations(tilted)[0], INFO, "tilted")

    from equiglass.md import initial_state

    small = initial_state(27, 1.2, seed=0)
    with pytest.raises(InputError, match="not larger than twice the model's neighbour cutoff 2"):
        check_compatible(small, INFO, "small")
    assert check_compatible(liquid, INFO, "liquid") == []


def test_forced_small_box_equals_explicit_replica(model_file):
    """A box smaller than 2 r_c is replicated: exactly the periodic neighbourhoods of the original."""
    from equiglass.md import initial_state

    small = initial_state(27, 1.2, seed=0)
    small = State(small.positions + np.random.default_rng(1).normal(scale=0.1, size=(27, 3)),
                  small.types, small.box).wrapped()
    shifts = np.array([(i, j, k) for i in range(2) for j in range(2) for k in range(2)], dtype=float)
    big = State(np.concatenate([small.positions + s * small.box for s in shifts]), np.tile(small.types, 8),
                small.box * 2).wrapped()
    with pytest.raises(InputError, match="--force"):
        predict_configurations(model_file, [small])
    (p_small,), warns = predict_configurations(model_file, [small], force=True)
    (p_big,), none = predict_configurations(model_file, [big])
    assert none == [] and len(warns) == 1 and "replicated" in warns[0]
    assert small.log["equiglass/input"]["replicated"] == [2, 2, 2]
    np.testing.assert_allclose(p_small, p_big[:27], rtol=1e-4, atol=1e-5)


# -------------------------------------------------------------------------- predictions
def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "equiglass", "predict", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_fresh_process_predicts_identically(tmp_path, model_file, liquid):
    import torch

    torch.set_num_threads(1)
    write_gsd(tmp_path / "in.gsd", [liquid, State(liquid.positions * 1.01, liquid.types, liquid.box * 1.01)])
    states = read_configurations(tmp_path / "in.gsd")
    preds, warns = predict_configurations(model_file, states)
    assert warns == [] and preds[0].shape == (256, 2) and np.all(np.isfinite(preds[0]))
    res = run_cli("--model", str(model_file), str(tmp_path / "in.gsd"), "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert "predicted 2 configurations (512 particles) with se3gnn" in res.stdout
    with gsd.hoomd.open(tmp_path / "out.gsd", mode="r") as t:
        assert len(t) == 2
        for k, f in enumerate(t):
            for j in range(2):
                np.testing.assert_array_equal(f.log[f"particles/prediction_{j}"], preds[k][:, j])
            np.testing.assert_array_equal(f.log["equiglass/prediction_times"], [1.0, 2.0])
    table = np.genfromtxt(tmp_path / "out.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert list(table.dtype.names) == ["frame", "particle", "type", "x", "y", "z", "Fs05", "Fs0368"]
    assert len(table) == 512 and set(table["type"]) == {"A", "B"}
    np.testing.assert_allclose(table["Fs0368"][table["frame"] == 1], preds[1][:, 1], rtol=1e-6)
    meta = json.loads((tmp_path / "out.json").read_text())
    from equiglass.artifact import load_artifact

    assert meta["model"]["content_hash"] == load_artifact(model_file)["content_hash"]
    assert meta["labels"] == LABELS and meta["warnings"] == []
    assert meta["timescales"]["times_tau_alpha_by_temperature"]["1.00"] == [0.5, 1.0]
    assert meta["frames"][1]["source_frame"] == 1 and meta["timing"]["s_per_configuration"] > 0

    from equiglass.figures.predictions import fig_predictions

    fig_predictions(tmp_path / "out.gsd", tmp_path / "fig.png", caption="test")
    assert (tmp_path / "fig.png").stat().st_size > 10_000 and (tmp_path / "fig.pdf").exists()


def test_predictions_invariant_under_rotation_and_translation(tmp_path, model_file, liquid):
    pos, box = liquid.positions, liquid.box
    variants = {
        "rot90z": np.stack([-pos[:, 1], pos[:, 0], pos[:, 2]], axis=1),
        "cyclic": pos[:, [1, 2, 0]],  # 120° about (1, 1, 1): a generic rotation mapping the cube onto itself
        "shifted": pos + np.array([1.3, -2.2, 0.7]),
    }
    for name, p in variants.items():
        write_gsd(tmp_path / f"{name}.gsd", State(p, liquid.types, box).wrapped())
    write_gsd(tmp_path / "ref.gsd", liquid)
    files = ["ref", *variants]
    states = [read_configurations(tmp_path / f"{n}.gsd")[0] for n in files]
    preds, _ = predict_configurations(model_file, states)
    scale = np.abs(preds[0]).max()
    for name, p in zip(files[1:], preds[1:]):
        np.testing.assert_allclose(p, preds[0], atol=2e-5 * scale, err_msg=name)


def test_cli_refuses_then_force_records_warning(tmp_path, model_file, liquid):
    write_gsd(tmp_path / "dilute.gsd", State(liquid.positions * 1.3, liquid.types, liquid.box * 1.3))
    res = run_cli("--model", str(model_file), str(tmp_path / "dilute.gsd"), "-o", str(tmp_path / "d"))
    assert res.returncode == 2
    assert "dilute.gsd frame 0: does not fit the model: density 0.546" in res.stderr and "--force" in res.stderr
    assert not (tmp_path / "d.gsd").exists()
    res = run_cli("--model", str(model_file), str(tmp_path / "dilute.gsd"), "-o", str(tmp_path / "d.gsd"), "--force")
    assert res.returncode == 0, res.stderr
    meta = json.loads((tmp_path / "d.json").read_text())
    assert meta["forced"] and len(meta["warnings"]) == 1 and "density 0.546" in meta["warnings"][0]
    assert "1 warnings" in res.stdout and "warning: " in res.stderr


def test_forced_three_species_and_missing_box(tmp_path, model_file, liquid):
    three_species_gsd(tmp_path / "abc.gsd", liquid)
    (tmp_path / "nobox.xyz").write_text(
        f"{liquid.n}\nno lattice\n" + "\n".join(f"{'AB'[t]} {x} {y} {z}" for t, (x, y, z)
                                                 in zip(liquid.types, liquid.positions)) + "\n")
    states = read_configurations(tmp_path / "abc.gsd") + read_configurations(tmp_path / "nobox.xyz")
    with pytest.raises(InputError):
        predict_configurations(model_file, states)
    preds, warns = predict_configurations(model_file, states, force=True)
    assert len(warns) == 2 and "3 species" in warns[0] and "no periodic box" in warns[1]
    assert all(np.all(np.isfinite(p)) for p in preds)
    assert "box_guessed" in states[1].log["equiglass/input"]
    paths = write_predictions(tmp_path / "forced", states, preds, LABELS, {"warnings": warns})
    meta = json.loads(paths["json"].read_text())
    assert meta["frames"][1]["box_guessed"] and meta["frames"][0]["species"]["C"] == {"type": 2, "count": 10}


def test_workflow_predict_rule_dry_run(tmp_path, liquid):
    """`predict.inputs` adds the predict and figure jobs for the model of the first training set."""
    from test_workflow import copy_workflow, job_counts, snakemake

    work = copy_workflow(tmp_path / "wf")
    write_gsd(work / "mine.gsd", liquid)
    (work / "pred.yaml").write_text("predict: {inputs: [mine.gsd]}\n")
    res = snakemake(work, "predictions", "--dry-run", "--printshellcmds", "--cores", "1", "--configfile",
                    "presets/tiny.yaml", "pred.yaml", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    assert counts.get("predict") == 1 and counts.get("figure_predictions") == 1
    cmd = next(line for line in res.stdout.splitlines() if "equiglass predict" in line)
    assert re.search(r"--model results/models/se3gnn/T[0-9.+]+/model.pt mine.gsd -o results/predictions/mine ", cmd)
    assert "-m equiglass figure predictions results/predictions/mine.gsd" in res.stdout


def test_descriptor_model_and_local_energy_inputs_match_training_inputs(tmp_path, liquid):
    """Descriptor models get the training descriptors; local-energy models the LAMMPS per-particle energy."""
    from equiglass.artifact import Predictor, build_model, make_artifact
    from equiglass.dataset import Sample
    from equiglass.md import MDSettings
    from equiglass.model_inputs import local_energies
    from equiglass.training import TrainSettings, train

    ds = DescriptorSettings(l_values=(6,), radial_max=2.0, coarse_grain=False)
    g = build_graph(liquid, 2.0)
    desc, names = compute_descriptors(liquid, ds)
    y = np.stack([desc[:, 0], desc[:, 1]], axis=1).astype(np.float32)
    sample = Sample("s", g, desc.astype(np.float32), names, 1.0, y, np.array([1.0, 2.0]), LABELS)
    art = train([sample], [], TrainSettings(family="ridge", device="cpu"), tmp_path / "ridge", label="ridge",
                info=json.loads(json.dumps(INFO)))
    (pred,), _ = predict_configurations(art, [liquid])
    np.testing.assert_allclose(pred, Predictor(art).predict(sample), rtol=1e-5, atol=1e-6)

    info = json.loads(json.dumps(INFO))
    info["inputs"]["local_energy"] = True
    info["standardization"] = {"mean": [[0.0, 0.0]] * 2, "std": [[1.0, 1.0]] * 2}
    hp = {**HP, "n_extra": 1}
    art = make_artifact("se3gnn", build_model("se3gnn", 2, hp), 2, hp, info)
    (pred,), _ = predict_configurations(art, [liquid])
    energy = local_energies(liquid, MDSettings(engine="lammps"))
    expected = Predictor(art).predict(Sample("s", g, desc, names, 1.0, extra=energy[:, None].astype(np.float32)))
    np.testing.assert_allclose(pred, expected, rtol=1e-5, atol=1e-6)
    info["inputs"]["local_energy"] = False
    (other,), _ = predict_configurations(make_artifact("se3gnn", Predictor(art).model, 2, hp, info), [liquid])
    assert not np.allclose(other, pred)  # the energy input matters
