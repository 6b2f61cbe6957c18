"""Readers of published datasets: real Bapst samples, synthetic files in the exact layouts, bad files."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from conftest import shared_data
from equiglass.dataset import load_propensity
from equiglass.files import InputError
from equiglass.formats.gsd_files import read_gsd
from equiglass.formats.published import read_bapst, read_glassbench, scan_dataset, write_imported


def bapst_dict(n=20, n_traj=4, with_targets=False, rng=None):
    rng = rng or np.random.default_rng(0)
    box = np.full(3, 6.0)
    pos = rng.uniform(0, 6.0, (n, 3))
    time = np.linspace(0, 100, 169).tolist()
    idx = [10, 20, 30, 40, 50, 60, 70, 80, 90, 35]
    traj = [rng.normal(pos[None], 0.1 * (k + 1), (n_traj, n, 3)) for k in range(10)]
    d = {"positions": pos, "types": np.array([0] * (n - 4) + [1] * 4, np.int32), "box": box, "time": time,
         "time_indices": idx, "is_values": np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 1 / math.e]),
         "metadata": {"temperature": 0.5, "pressure": 1.0, "fluid": "Kob Andersen"},
         "trajectory_target_positions": traj}
    if with_targets:
        d["targets"] = [np.linalg.norm(t - pos[None], axis=-1).mean(0) for t in traj]
    return d


def test_real_bapst_large_sample():
    s = read_bapst(shared_data("bapst/test_large.pickle"))
    assert s.state.n == 4096 and s.temperature == 0.44
    assert s.propensity.shape == (10, 4096)
    assert s.state.box[0] == pytest.approx(15.0433, abs=1e-4)
    assert s.state.density == pytest.approx(1.2032, abs=1e-3)  # never assume exactly 1.2
    assert np.all(np.abs(s.state.positions) <= s.state.box[0] / 2)
    assert 5000 < s.tau_alpha < 6500
    assert s.labels[9] == "Fs=0.368"


def test_real_bapst_small_sample_targets_from_trajectories():
    s = read_bapst(shared_data("bapst/test_small.pickle"))
    assert s.propensity.shape == (10, 20)
    assert np.all(s.propensity > 0) and np.all(np.diff(s.propensity.mean(1)[:9]) > 0)


def test_targets_computed_equal_stored(tmp_path):
    d = bapst_dict(with_targets=True)
    with open(tmp_path / "a.pickle", "wb") as fh:
        pickle.dump(d, fh)
    d.pop("targets")
    with open(tmp_path / "b.pickle", "wb") as fh:
        pickle.dump(d, fh)
    np.testing.assert_allclose(read_bapst(tmp_path / "a.pickle").propensity, read_bapst(tmp_path / "b.pickle").propensity)


@pytest.mark.parametrize("damage", ["missing_key", "truncated", "wrong_shape", "nan", "not_dict"])
def test_bad_bapst_files(tmp_path, damage):
    d = bapst_dict()
    f = tmp_path / "bad.pickle"
    if damage == "missing_key":
        d.pop("box")
    elif damage == "wrong_shape":
        d["types"] = d["types"][:-1]
    elif damage == "nan":
        d["positions"][3, 1] = np.nan
    payload = pickle.dumps([1, 2] if damage == "not_dict" else d)
    f.write_bytes(payload[: len(payload) // 2] if damage == "truncated" else payload)
    with pytest.raises(InputError, match=r"bad\.pickle"):
        read_bapst(f)


def glassbench_file(folder, i, n=64, orient="N_first", rng=None):
    rng = rng or np.random.default_rng(i)
    box = (n / 1.2) ** (1 / 3)
    folder.mkdir(parents=True, exist_ok=True)
    prop = rng.uniform(0, 1, (n, 10))
    temp = folder.parent.name[1:] if folder.parent.name.startswith("T0.") else "0.44"
    f = folder / f"N{n}T{temp}_{i}.npz"
    np.savez(f, types=np.array([0] * (n - 13) + [1] * 13), initial_positions=rng.uniform(0, box, (n, 3)),
             initial_positions_inherent=rng.uniform(0, box, (n, 3)),
             initial_positions_cage=rng.uniform(0, box, (n, 3)),
             md_prop=prop if orient == "N_first" else prop.T, bb_prop=prop)
    return f, prop


@pytest.mark.parametrize("orient", ["N_first", "times_first"])
def test_glassbench_layout(tmp_path, orient):
    f, prop = glassbench_file(tmp_path / "T0.44" / "train", 1, orient=orient)
    s = read_glassbench(f)
    np.testing.assert_allclose(s.propensity, prop.T)
    assert s.temperature == 0.44 and s.times[6] == 4120.0
    assert s.state.density == pytest.approx(1.2)
    inh = read_glassbench(f, positions="inherent")
    assert not np.allclose(inh.state.positions, s.state.positions)
    with pytest.raises(InputError, match="positions"):
        read_glassbench(f, positions="quenched")


def test_glassbench_scan_and_write(tmp_path):
    for i in (1, 2, 10):
        glassbench_file(tmp_path / "gb" / "T0.44" / "train", i)
    glassbench_file(tmp_path / "gb" / "T0.44" / "test", 401)
    found = scan_dataset("glassbench", tmp_path / "gb")
    assert list(found) == ["0.44"]
    assert [p.split("_")[-1] for p in found["0.44"]["train"]] == ["1.npz", "2.npz", "10.npz"]
    assert len(found["0.44"]["test"]) == 1
    s = read_glassbench(found["0.44"]["test"][0])
    write_imported(s, tmp_path / "c.gsd", tmp_path / "p.npz")
    st = read_gsd(tmp_path / "c.gsd")
    np.testing.assert_allclose(st.positions, s.state.positions, atol=1e-5)
    p = load_propensity(tmp_path / "p.npz")
    np.testing.assert_allclose(p["propensity"], s.propensity)


def test_glassbench_bad_files(tmp_path):
    f, _ = glassbench_file(tmp_path / "T0.44" / "train", 1)
    data = dict(np.load(f))
    data["md_prop"] = data["md_prop"][:-1]
    bad = tmp_path / "T0.44" / "train" / "N64T0.44_2.npz"
    np.savez(bad, **data)
    with pytest.raises(InputError, match="md_prop"):
        read_glassbench(bad)
    (tmp_path / "T0.44" / "train" / "N64T0.44_3.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(InputError, match="N64T0.44_3"):
        read_glassbench(tmp_path / "T0.44" / "train" / "N64T0.44_3.npz")
    with pytest.raises(InputError, match="data.path"):
        scan_dataset("glassbench", tmp_path / "nowhere")


def test_glassbench_types_one_two_and_tau_alpha_label(tmp_path):
    """GlassBench stores types 1 (A) / 2 (B) (the EIGNN loader one-hot encodes types - 1); the time at τ_α
    of each built-in grid is labelled 1tau_a."""
    f, prop = glassbench_file(tmp_path / "T0.50" / "test", 401)
    data = dict(np.load(f))
    data["types"] = data["types"] + 1
    data["md_prop"] = prop.T  # [n_times, N], as GlassBench's own scripts read it
    np.savez(f, **data)
    s = read_glassbench(f)
    assert s.state.types.tolist() == (data["types"] - 1).tolist() and (s.state.types == 0).sum() == 51
    assert s.times[6] == 217.0 and s.labels[6] == "1tau_a" and s.labels[0] == "t=0.108"
    assert s.tau_alpha == 217.0
    np.testing.assert_allclose(s.propensity, prop.T)


@pytest.mark.parametrize("shape", ["times_first", "N_first", "per_particle"])
def test_glassbench_deposited_predictions(tmp_path, shape):
    from equiglass.formats.published import read_glassbench_predictions

    f, prop = glassbench_file(tmp_path / "T0.44" / "test", 401)
    data = dict(np.load(f))
    pred = {"times_first": prop.T, "N_first": prop, "per_particle": prop[:, 0]}[shape]
    np.savez(f, **data, SE3=pred.astype(np.float32))
    got = read_glassbench_predictions(f, ["SE3", "BOTAN"])
    assert "BOTAN" not in got and got["SE3"].shape == (10, 64)
    want = prop.T if shape != "per_particle" else np.broadcast_to(prop[:, 0], (10, 64))
    np.testing.assert_allclose(got["SE3"], want, rtol=1e-6)
    np.savez(f, **data, SE3=prop[:5])
    with pytest.raises(InputError, match="'SE3' has shape"):
        read_glassbench_predictions(f, ["SE3"])


def test_glassbench_plan_names_missing_files_and_reads_present_ones(tmp_path):
    from equiglass.formats.published import plan_glassbench

    for i in (1, 2, 3):
        glassbench_file(tmp_path / "T0.44" / "train", i)
    glassbench_file(tmp_path / "T0.44" / "test", 401)
    glassbench_file(tmp_path / "T0.64" / "train", 1)  # too few: planned for download again
    found, fetch = plan_glassbench(tmp_path, ["0.44", "0.64"], 64, {"0.44": 3, "0.64": 2}, 1)
    assert fetch == ["0.64"]
    assert found["0.44"]["train"][-1].endswith("T0.44/train/N64T0.44_3.npz")
    assert found["0.64"]["train"] == [str(tmp_path / "T0.64" / "train" / f"N64T0.64_{i}.npz") for i in (1, 2)]
    assert found["0.64"]["test"] == [str(tmp_path / "T0.64" / "test" / "N64T0.64_401.npz")]
    found, fetch = plan_glassbench(tmp_path, ["0.44", "0.64"], 64, {"0.44": 3, "0.64": 2}, 1, can_fetch=False)
    assert fetch == [] and len(found["0.64"]["train"]) == 1  # what is there, as before


def _zip_of_tarballs(path, members):
    """A zip with one tar.gz per temperature: {zip member: {tar member: bytes}}."""
    import io
    import tarfile
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, files in members.items():
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for fname, payload in files.items():
                    info = tarfile.TarInfo(fname)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
            zf.writestr(name, buf.getvalue())
    return path


def test_fetch_verifies_and_unpacks(tmp_path):
    import hashlib

    from equiglass.fetch import FetchError, place_verified, unpack_temperature

    src = _zip_of_tarballs(tmp_path / "dl.zip", {"GlassBench/KA_models/T0.44.tar.gz": {
        "T0.44/train/N4T0.44_1.npz": b"one", "T0.44/test/N4T0.44_401.npz": b"two", "T0.44/train/N4T0.44_2.npz": b"x"}})
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    with pytest.raises(FetchError, match="data.fetch.md5"):
        place_verified(src, tmp_path / "kept.zip", "0" * 32)
    with pytest.raises(FetchError, match="data.fetch.size"):
        place_verified(src, tmp_path / "kept.zip", md5, src.stat().st_size + 1)
    assert not (tmp_path / "kept.zip").exists()
    rec = place_verified(src, tmp_path / "kept.zip", md5, src.stat().st_size)
    assert rec["md5_checked"] and (tmp_path / "kept.zip").read_bytes() == src.read_bytes()
    out = tmp_path / "data"
    wanted = ["T0.44/train/N4T0.44_1.npz", "T0.44/test/N4T0.44_401.npz"]
    written = unpack_temperature(tmp_path / "kept.zip", "GlassBench/KA_models/T0.44.tar.gz", wanted, out)
    assert sorted(written) == sorted(str(out / w) for w in wanted)
    assert (out / wanted[1]).read_bytes() == b"two" and not (out / "T0.44/train/N4T0.44_2.npz").exists()
    with pytest.raises(FetchError, match="1 expected files are not in it"):
        unpack_temperature(tmp_path / "kept.zip", "GlassBench/KA_models/T0.44.tar.gz", ["T0.44/train/N4T0.44_9.npz"],
                           out)
    with pytest.raises(FetchError, match="fix data.fetch.member"):
        unpack_temperature(tmp_path / "kept.zip", "GlassBench/KA_models/T0.50.tar.gz", wanted, out)
