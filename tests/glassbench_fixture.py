"""A tiny GlassBench made by this project's own MD, in GlassBench's exact layout.

Layout facts and where they were read (the archive itself, Zenodo record 10118191, cannot be
downloaded here):

- one zip, ``GlassBench.zip``, whose 3D Kob–Andersen data are one tarball per temperature,
  ``GlassBench/KA_models/T0.44.tar.gz`` …: public inventories of the record's zip64 central
  directory (entry roots ``GlassBench/KA_models``, ``GlassBench/KA_results`` …; members
  ``KA_models/T0.44.tar.gz`` … ``T0.64.tar.gz``);
- each tarball holds ``T0.44/train/`` and ``T0.44/test/`` with ``N4096T0.44_<i>.npz``, i = 1–400
  in train/ and 401–500 in test/: the same inventories, and the paths the EIGNN repository's
  loader opens (github.com/xjiang-hnu/EIGNN, ``Training and Test with EIGNN_Cage.ipynb``:
  ``T0.{split}/train/N4096T0.{split}_{i}.npz``, ``…/test/…``, i in 401–500);
- keys ``types`` [N] with 1 = A and 2 = B (that loader one-hot encodes ``types - 1`` into two
  classes and counts NA = 3277 of 4096 for the A mask), ``initial_positions``,
  ``initial_positions_inherent``, ``initial_positions_cage`` [N, 3] (wrapped into [-L/2, L/2),
  box L = (N/1.2)^(1/3): the inventories measured it), ``md_prop`` and ``bb_prop`` [n_times, N]
  (GlassBench's own figure script, KA_results, assigns ``data['md_prop']`` into an (NT, N)
  array; the EIGNN loader transposes it);
- test files also hold ``BOTAN``, ``CAGE``, ``GlassMLP``, ``SE3`` (models' predictions) and
  ``SBO``, ``SBO_CG``, ``DEN``, ``EPOT``, ``PSI6`` (descriptors): the inventories list these
  keys and the EIGNN repository's results/pcc_all_044.csv scores the same names. Their array
  orientation was not found in a public source: here predictions are [n_times, N] as md_prop,
  descriptors [N] (the reader accepts [n_times, N], [N, n_times] and [N]).

What is not GlassBench: N (256 here), the number of files, and the physics: the configurations
are a short NVT chain at each folder's temperature, ``md_prop`` the mean displacement over two
NVE replicas at ten log-spaced times from 0.01 to 2 τ (standing in for GlassBench's grid, which
the files do not store), ``bb_prop`` the fraction of neighbours (r < 1.4) farther than 1.8 at
those times, and the deposited "predictions" ``md_prop`` plus Gaussian noise of known size.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np

PREDICTION_NOISE = {"BOTAN": 0.3, "CAGE": 1.0, "GlassMLP": 0.7, "SE3": 0.5}  # noise / std of md_prop
DESCRIPTORS = ("SBO", "SBO_CG", "DEN", "EPOT", "PSI6")


def _bond_breaking(r0: np.ndarray, frames: list[np.ndarray], box: np.ndarray) -> np.ndarray:
    """Fraction of each particle's neighbours at t = 0 (r < 1.4) farther than 1.8 at each frame: (n_t, N)."""
    def dist(x: np.ndarray) -> np.ndarray:
        d = x[:, None, :] - x[None, :, :]
        d -= box * np.round(d / box)
        return np.sqrt((d * d).sum(-1))

    d0 = dist(r0)
    nb = (d0 < 1.4) & (d0 > 0)
    count = np.maximum(nb.sum(1), 1)
    return np.stack([((dist(x) > 1.8) & nb).sum(1) / count for x in frames])


def _configuration_files(temperature: float, ids: list[int], n: int, rng: np.random.Generator,
                         test: bool) -> dict[int, dict[str, np.ndarray]]:
    """GlassBench arrays of ``ids`` consecutive configurations of one short NVT chain at ``temperature``."""
    from equiglass.iso import iso_replica
    from equiglass.md import MDSettings, Phase, equilibration_phases, initial_state, run_phases
    from equiglass.state import wrap_positions

    md = MDSettings()
    state, _ = run_phases(initial_state(n, 1.2, 3), equilibration_phases(temperature, 2.0, melt_time=2.0), md,
                          seed=int(rng.integers(1 << 30)), label="fixture", minimize_first=True)
    steps = np.unique(np.round(np.logspace(np.log10(0.01), np.log10(2.0), 10) / md.dt).astype(int))
    assert len(steps) == 10
    out = {}
    for i in ids:
        state, _ = run_phases(state, [Phase("chain", temperature, 1.0, 1.0)], md, seed=int(rng.integers(1 << 30)),
                              label="fixture")
        box = state.box
        disp, frames = [], []
        for _ in range(2):  # two replicas
            traj: list = []
            d, _ = iso_replica(state, temperature, steps, md, seed=int(rng.integers(1 << 30)), trajectory=traj)
            disp.append(d)
            frames.append([f.unwrapped() for f in traj])
        md_prop = np.mean(disp, axis=0)
        bb = np.mean([_bond_breaking(state.positions, f, box) for f in frames], axis=0)
        with md.engine_for(state, 0) as eng:
            eng.minimize()
            inherent = eng.get_state().positions
        cage = np.mean(frames[0][:4], axis=0)  # positions averaged over the shortest times
        arrays = {
            "types": (state.types + 1).astype(np.int64),  # GlassBench: 1 = A, 2 = B
            "initial_positions": wrap_positions(state.positions, box),
            "initial_positions_inherent": wrap_positions(inherent, box),
            "initial_positions_cage": wrap_positions(cage, box),
            "md_prop": md_prop,
            "bb_prop": bb,
        }
        if test:
            sd = md_prop.std(axis=1, keepdims=True)
            for key, noise in PREDICTION_NOISE.items():
                arrays[key] = (md_prop + noise * sd * rng.normal(size=md_prop.shape)).astype(np.float32)
            for key in DESCRIPTORS:
                arrays[key] = rng.normal(size=n).astype(np.float32)  # stand-ins of the right shape
        out[i] = arrays
    return out


def make_glassbench_zip(dest: Path, temps: tuple[str, ...] = ("0.44", "0.64"), n: int = 256,
                        train: tuple[int, ...] = (1, 2, 3, 4), test: tuple[int, ...] = (401, 402, 403),
                        seed: int = 0) -> Path:
    """Write ``dest`` (a zip in GlassBench's layout, see the module docstring); returns it."""
    rng = np.random.default_rng(seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("GlassBench/README", "tiny GlassBench-layout fixture made by equiglass's tests\n")
        for T in temps:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for part, ids in (("train", train), ("test", test)):
                    files = _configuration_files(float(T), list(ids), n, rng, part == "test")
                    for i, arrays in files.items():
                        raw = io.BytesIO()
                        np.savez(raw, **arrays)
                        info = tarfile.TarInfo(f"T{T}/{part}/N{n}T{T}_{i}.npz")
                        info.size = raw.getbuffer().nbytes
                        raw.seek(0)
                        tar.addfile(info, raw)
            zf.writestr(f"GlassBench/KA_models/T{T}.tar.gz", buf.getvalue())
    return dest
