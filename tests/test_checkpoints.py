"""Checkpoints that cannot lie: resumed only for the same settings and inputs; outputs rebuilt
without retraining; byte-identical results; clear errors when a write fails."""

from __future__ import annotations

import ast
import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from equiglass.checkpoints import accept, changed_parts, digest, fingerprint
from equiglass.files import InputError, WriteError, partial_path, write_json
from equiglass.formats.gsd_files import write_gsd

PY = [sys.executable, "-m", "equiglass"]


def run_cli(*args: str, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=timeout, **kw)


# ------------------------------------------------------------------------------ fingerprints
def test_fingerprint_names_what_changed(tmp_path):
    a = fingerprint(settings={"seed": 1, "lr": 0.1}, training_data=[np.arange(3.0)])
    assert a == fingerprint(settings={"lr": 0.1, "seed": 1}, training_data=[np.arange(3.0)])  # key order
    b = fingerprint(settings={"seed": 2, "lr": 0.1}, training_data=[np.arange(3.0)])
    c = fingerprint(settings={"seed": 1, "lr": 0.1}, training_data=[np.arange(3.0).astype(np.float32)])
    assert changed_parts(a, b) == ["settings"] and changed_parts(a, c) == ["training data"]
    assert digest(np.zeros((2, 3))) != digest(np.zeros((3, 2)))  # shapes count
    ck = tmp_path / "ck"
    ck.write_text("x")
    assert accept(ck, a, a, "t") and ck.exists()
    assert not accept(ck, a, c, "t") and not ck.exists()  # a mismatch deletes the checkpoint


# --------------------------------------------------------------------------- replicas
ISO = {"temperature": 1.0, "sample": 0, "batch": 0, "replicas": [0, 1, 2], "tau_alpha_estimate": 1.5,
       "md": {"segment_time": 50.0}, "isoconfigurational": {"duration_tau_alpha": 8.0, "points_per_decade": 4}}


def test_replica_checkpoint_from_another_seed_is_discarded(tmp_path, liquid_256):
    """Killed after its first replica and rerun with another replica seed: equals a clean run."""
    gsd = tmp_path / "eq.gsd"
    write_gsd(gsd, liquid_256)
    run = tmp_path / "run" / "iso_b00.npz"
    run.parent.mkdir()
    ckpt = run.with_name("iso_b00.checkpoint.npz")
    old = {**ISO, "seed": 111}
    proc = subprocess.Popen([*PY, "isoconfigurational", "--settings", json.dumps(old), "--input", str(gsd),
                             "--output", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not run.exists(), "the job was not killed between replicas"
    new = {**ISO, "seed": 222}
    res = run_cli("isoconfigurational", "--settings", json.dumps(new), "--input", str(gsd), "--output", str(run))
    assert res.returncode == 0, res.stderr
    assert "discarding checkpoint" in res.stderr and "settings" in res.stderr
    clean = tmp_path / "clean.npz"
    assert run_cli("isoconfigurational", "--settings", json.dumps(new), "--input", str(gsd),
                   "--output", str(clean)).returncode == 0
    with np.load(run) as a, np.load(clean) as b:
        for key in ("seeds", "sum1", "sum2", "fs"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not ckpt.exists()


def test_replica_checkpoint_of_the_same_run_resumes(tmp_path, liquid_256):
    from equiglass.iso import isoconfigurational, load_iso
    from equiglass.md import MDSettings

    md = MDSettings()
    ck = tmp_path / "ck.npz"
    isoconfigurational(liquid_256, 1.0, 2.0, [0], md, seed=5, checkpoint=ck)  # leaves replica 0 checkpointed
    assert ck.exists()
    full = isoconfigurational(liquid_256, 1.0, 2.0, [0, 1], md, seed=5, checkpoint=ck)
    clean = isoconfigurational(liquid_256, 1.0, 2.0, [0, 1], md, seed=5)
    np.testing.assert_array_equal(full.sum1, clean.sum1)
    np.testing.assert_array_equal(full.even_sum1, clean.even_sum1)  # checkpoints keep the halves exactly
    assert load_iso(ck).n_replicas == 2  # resumed, not restarted: replica 0 was kept
    other = liquid_256.wrapped()
    other.positions = other.positions.copy()
    other.positions[0, 0] += 1e-3  # another starting configuration: the checkpoint must go
    moved = isoconfigurational(other, 1.0, 2.0, [0, 1], md, seed=5, checkpoint=ck)
    ref = isoconfigurational(other, 1.0, 2.0, [0, 1], md, seed=5)
    np.testing.assert_array_equal(moved.sum1, ref.sum1)


def test_md_checkpoint_of_another_start_is_discarded(tmp_path, liquid_256, capfd):
    from equiglass.md import MDSettings, equilibration_phases, run_phases

    md = MDSettings(segment_time=1.0)
    phases = equilibration_phases(1.0, 2.0, melt_time=0.0)
    ck = tmp_path / "ck.npz"
    run_phases(liquid_256, phases[:1], md, 3, "a", checkpoint=ck)
    assert ck.exists()
    other = liquid_256.wrapped()
    other.velocities = -other.velocities
    got, _ = run_phases(other, phases[:1], md, 3, "b", checkpoint=ck)
    assert "discarding checkpoint" in capfd.readouterr().err
    ref, _ = run_phases(other, phases[:1], md, 3, "c")
    np.testing.assert_array_equal(got.positions, ref.positions)


# --------------------------------------------------------------------------- training
@pytest.fixture
def train_files(tmp_path, train_cli):
    return tmp_path, train_cli(epochs=3, n_layers=1)


def test_deleted_model_is_rebuilt_from_the_finished_checkpoint(train_files):
    tmp_path, args = train_files
    out = tmp_path / "m"
    assert run_cli(*args, "--out-dir", str(out)).returncode == 0
    model, history = (out / "model.pt").read_bytes(), (out / "history.csv").read_text()
    (out / "model.pt").unlink()
    (out / "history.csv").unlink()
    res = run_cli(*args, "--out-dir", str(out))
    assert res.returncode == 0, res.stderr
    assert "finished" in res.stderr and "epoch 1/" not in res.stderr  # no epoch was trained again
    assert (out / "model.pt").read_bytes() == model
    assert (out / "history.csv").read_text() == history


def test_changed_input_retrains_from_scratch(train_files):
    tmp_path, args = train_files
    out, clean = tmp_path / "m", tmp_path / "clean"
    assert run_cli(*args, "--out-dir", str(out)).returncode == 0
    with np.load(tmp_path / "T1.00/p0.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["propensity"] = arrays["propensity"][::-1].copy()  # an upstream rerun changed the targets
    np.savez(tmp_path / "T1.00/p0.npz", **arrays)
    res = run_cli(*args, "--out-dir", str(out))
    assert res.returncode == 0, res.stderr
    assert re.search(r"discarding checkpoint .*made from other training data", res.stderr), res.stderr
    assert run_cli(*args, "--out-dir", str(clean)).returncode == 0
    assert (out / "model.pt").read_bytes() == (clean / "model.pt").read_bytes()


def test_same_seeds_give_byte_identical_model_history_and_table(train_files):
    tmp_path, args = train_files
    for name in ("a", "b"):
        assert run_cli(*args, "--out-dir", str(tmp_path / name)).returncode == 0
        test = ["--test", f"{tmp_path / 'T1.00/g2.npz'}:{tmp_path / 'T1.00/p2.npz'}"]
        assert run_cli("evaluate", "--settings", "{}", "--model", str(tmp_path / name / "model.pt"), *test,
                       "--output", str(tmp_path / name / "eval.json")).returncode == 0
        assert run_cli("table", str(tmp_path / name / "eval.json"), "--output",
                       str(tmp_path / name / "metrics.csv")).returncode == 0
    for f in ("model.pt", "history.csv", "metrics.csv", "metrics.md"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    timing = json.loads((tmp_path / "a" / "timing.json").read_text())
    assert timing["train_time_s"] > 0 and len(timing["epoch_times_s"]) == 3  # times live beside the results
    assert "time" not in (tmp_path / "a" / "history.csv").read_text().splitlines()[0]


# ------------------------------------------------------------------------- transfer
def test_transfer_checkpoint_resumes_and_is_keyed(tmp_path, liquid_256):
    from equiglass import experiments as ex
    from equiglass.dataset import Sample
    from equiglass.descriptors import DescriptorSettings, compute_descriptors
    from equiglass.graphs import build_graph
    from equiglass.state import State
    from equiglass.training import TrainSettings, train

    rng = np.random.default_rng(1)
    samples = []
    for k in range(4):
        st = State(liquid_256.positions + rng.normal(scale=0.03, size=(256, 3)), liquid_256.types,
                   liquid_256.box).wrapped()
        d, names = compute_descriptors(st, DescriptorSettings(l_values=(6,), radial_max=2.0, coarse_grain=False))
        samples.append(Sample(f"c{k}", build_graph(st, 2.0), d.astype(np.float32), names, 1.0,
                              rng.uniform(size=(256, 2)).astype(np.float32), np.array([1.0, 2.0]), ["a", "b"]))
    hp = {"mul": 4, "l_max": 1, "n_layers": 1, "radial_hidden": 8, "readout_hidden": 8, "cutoff": 2.0}
    art = train(samples[:2], samples[2:3], TrainSettings(hparams=hp, epochs=1, device="cpu", threads=1),
                tmp_path / "src", label="src")
    kw = {"epochs": 2, "fine_tune_epochs": 1, "scratch_epochs": 1, "seed": 3}
    ck = tmp_path / "t.checkpoint.json"
    ref = ex.transfer(art, samples[:2], samples[3:], [1, 2], **kw)
    first = ex.transfer(art, samples[:2], samples[3:], [1], **kw, checkpoint=ck)  # as if killed after n = 1
    assert json.loads(ck.read_text())["done"] == [1]
    resumed = ex.transfer(art, samples[:2], samples[3:], [1, 2], **kw, checkpoint=ck)
    assert _plain(resumed["methods"]) == _plain(ref["methods"])
    assert _plain(first["methods"]["ridge"][1]) == _plain(ref["methods"]["ridge"][1])
    other = ex.transfer(art, samples[:2], samples[3:], [1, 2], **{**kw, "seed": 4}, checkpoint=ck)
    assert _plain(other["methods"]) == _plain(
        ex.transfer(art, samples[:2], samples[3:], [1, 2], **{**kw, "seed": 4})["methods"])


def _plain(x):
    """As written to JSON (NaN → null, int keys → strings), for comparing results."""
    from equiglass.files import _finite

    return json.loads(json.dumps(_finite(x)))


# --------------------------------------------------------------------------- writing
def test_partial_file_of_a_killed_writer_is_replaced(tmp_path):
    out = tmp_path / "x.json"
    partial_path(out).write_text("half of something")  # what a SIGKILLed writer leaves
    write_json(out, {"a": 1})
    assert json.loads(out.read_text()) == {"a": 1}
    assert not partial_path(out).exists()


def test_disk_full_names_file_free_space_and_fix(tmp_path, monkeypatch):
    out = tmp_path / "r" / "x.json"

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(WriteError) as err:
        write_json(out, {"a": 1})
    msg = str(err.value)
    assert str(out) in msg and "No space left" in msg and "free there" in msg and "free disk space" in msg
    assert not out.exists() and not partial_path(out).exists()


def test_os_error_at_write_time_in_a_step_is_one_clear_line(tmp_path, liquid_256):
    """A real write failure (file-size limit, like a full quota): one message, nothing half-written."""
    gsd = tmp_path / "eq.gsd"
    write_gsd(gsd, liquid_256)
    out = tmp_path / "out" / "g.npz"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    settings = {"temperature": 1.0, "inputs": {"graph_cutoff": 2.0, "descriptors": {"l_values": [6]}}}
    res = run_cli("graphs", "--settings", json.dumps(settings), "--input", str(gsd), "--output", str(out),
                  preexec_fn=limit)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and str(out) in res.stderr and "free there" in res.stderr
    assert not out.exists() and not partial_path(out).exists()


def test_truncated_model_error_says_the_fix(tmp_path):
    from equiglass.artifact import load_artifact

    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match=r"model\.pt.*delete it and rebuild"):
        load_artifact(bad)


FIX_WORDS = ("rerun", "run ", "delete", "set ", "use ", "check", "lower", "raise", "increase", "pass ", "give",
             "convert", "install", "remove", "choose", "train", "regenerate", "make ", "free ", "point ", "add ",
             "fix", "rebuild", "rename", "select", "write", "move", "provide", "change", "edit", "list", "activate", "put ", "name ")


def _file_errors() -> list[tuple[str, int, str]]:
    """(module, line, text) of every InputError/ConfigError message that starts with a file path."""
    found = []
    for path in sorted((REPO / "src/equiglass").rglob("*.py")):
        tree = ast.parse(path.read_text())
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
                    "InputError", "ConfigError", "WriteError") and node.args):
                continue
            arg = node.args[0]
            if not isinstance(arg, ast.JoinedStr) or not arg.values or not isinstance(
                    arg.values[0], ast.FormattedValue):
                continue
            first = ast.unparse(arg.values[0].value)
            if first.split(".")[0] in ("p", "path", "source", "propensity_path", "graph_path", "f", "files",
                                        "source_file", "dynamics_json", "model_path", "ckpt", "iso_files[0]",
                                        "previous", "src", "file", "gsd", "pkl"):
                last = arg.values[-1]
                if isinstance(last, ast.FormattedValue) and ast.unparse(last.value) == "err":
                    continue  # adds the file name to an error that already says its fix
                text = "".join(v.value if isinstance(v, ast.Constant) else constants.get(
                    ast.unparse(v.value), "{}") for v in arg.values)
                found.append((path.name, node.lineno, text))
    return found


def test_every_error_that_names_a_file_says_the_fix():
    errors = _file_errors()
    assert len(errors) > 20
    missing = [f"{m}:{line}: {text}" for m, line, text in errors if not any(w in text.lower() for w in FIX_WORDS)]
    assert not missing, "errors naming a file without a fix:\n" + "\n".join(missing)


def test_make_run_shows_failed_logs():
    run_target = (REPO / "Makefile").read_text().split("\nrun:")[1].split("\n\n")[0]
    assert run_target.count("--show-failed-logs") >= 1
