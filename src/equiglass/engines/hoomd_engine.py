"""HOOMD-blue backend (conda-forge ``hoomd``, v4 and later API; GPU when available).

The KA model is ``hoomd.md.pair.LJ`` with per-pair ``r_cut`` and ``mode='shift'`` on a cell
neighbour list; NVT is ``hoomd.md.methods.ConstantVolume`` with an MTTK (Nosé–Hoover) or Bussi
thermostat, NVE the same method without thermostat, minimization ``hoomd.md.minimize.FIRE``.
HOOMD seeds are 16-bit: the engine folds ``seed`` into [0, 65535].
"""

from __future__ import annotations

import numpy as np

from ..ka import KA, TYPE_NAMES, KobAndersen
from ..state import State
from .base import Engine, Thermo


def _device(name: str):
    """HOOMD device; a GPU is chosen explicitly (``gpu_ids``) from this process's slot in the
    allocation (:func:`equiglass.devices.gpu_index`), so processes sharing GPUs spread over them."""
    import hoomd

    from ..devices import gpu_index, log_gpu

    if name == "cpu":
        return hoomd.device.CPU()
    if name == "gpu":
        index = gpu_index()
        device = hoomd.device.GPU(gpu_ids=[index])
        log_gpu("hoomd", index)
        return device
    try:  # auto
        index = gpu_index()
        device = hoomd.device.GPU(gpu_ids=[index])
    except Exception:
        return hoomd.device.CPU()
    log_gpu("hoomd", index)
    return device


class HoomdEngine(Engine):
    """KA mixture in HOOMD-blue. See :class:`equiglass.engines.base.Engine` for the interface."""

    name = "hoomd"

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
        import hoomd

        self._hoomd = hoomd
        self.sim = hoomd.Simulation(device=_device(device), seed=self.seed % 65536)
        self.sim.timestep = int(state.step)
        snap = hoomd.Snapshot(self.sim.device.communicator)
        if snap.communicator.rank == 0:
            snap.configuration.box = [*self.box.tolist(), 0.0, 0.0, 0.0]
            snap.particles.N = self.n
            snap.particles.types = list(TYPE_NAMES)
            snap.particles.typeid[:] = self.types
            snap.particles.position[:] = state.positions
            snap.particles.image[:] = state.image
            snap.particles.mass[:] = model.mass
            if state.velocities is not None:
                snap.particles.velocity[:] = state.velocities
        self.sim.create_state_from_snapshot(snap)
        self.sim.always_compute_pressure = True  # else the pressure is NaN when no method needs the virial
        self.nlist = hoomd.md.nlist.Cell(buffer=self.skin)
        self.lj = hoomd.md.pair.LJ(nlist=self.nlist, default_r_cut=model.max_rcut,
                                   mode="shift" if model.shift else "none")
        for i, j, eps, sig, rc in model.pairs():
            key = (TYPE_NAMES[i], TYPE_NAMES[j])
            self.lj.params[key] = {"epsilon": eps, "sigma": sig}
            self.lj.r_cut[key] = rc
        self.thermo_compute = hoomd.md.compute.ThermodynamicQuantities(filter=hoomd.filter.All())
        self.sim.operations.computes.append(self.thermo_compute)
        self.integrator = hoomd.md.Integrator(dt=self.dt, forces=[self.lj])
        self.sim.operations.integrator = self.integrator
        self._integrator: tuple | None = None

    # ------------------------------------------------------------------- state
    @property
    def step(self) -> int:
        return int(self.sim.timestep)

    def get_state(self) -> State:
        snap = self.sim.state.get_snapshot()
        return State(
            positions=np.array(snap.particles.position, dtype=np.float64),
            types=self.types,
            box=self.box,
            velocities=np.array(snap.particles.velocity, dtype=np.float64),
            image=np.array(snap.particles.image, dtype=np.int32),
            step=self.step,
        ).wrapped()

    def set_positions(self, positions: np.ndarray, image: np.ndarray | None = None) -> None:
        snap = self.sim.state.get_snapshot()
        snap.particles.position[:] = positions
        snap.particles.image[:] = 0 if image is None else image
        self.sim.state.set_snapshot(snap)

    def set_velocities(self, velocities: np.ndarray) -> None:
        snap = self.sim.state.get_snapshot()
        snap.particles.velocity[:] = velocities
        self.sim.state.set_snapshot(snap)

    # ------------------------------------------------------------- integration
    def set_integrator(
        self, kind: str, temperature: float | None = None, tau: float = 0.5, thermostat: str = "nose-hoover"
    ) -> None:
        spec = (kind, temperature, tau, thermostat)
        if spec == self._integrator:
            return
        md = self._hoomd.md
        everyone = self._hoomd.filter.All()
        if kind == "nve":
            method = md.methods.ConstantVolume(filter=everyone)
        elif kind == "nvt":
            if temperature is None:
                raise ValueError("nvt needs a temperature")
            if thermostat == "nose-hoover":
                th = md.methods.thermostats.MTTK(kT=temperature, tau=tau)
            elif thermostat == "bussi":
                th = md.methods.thermostats.Bussi(kT=temperature, tau=tau)
            else:
                raise ValueError(f"unknown thermostat {thermostat!r} (nose-hoover or bussi)")
            method = md.methods.ConstantVolume(filter=everyone, thermostat=th)
        else:
            raise ValueError(f"unknown integrator {kind!r} (nve or nvt)")
        self.integrator.methods.clear()
        self.integrator.methods.append(method)
        self._integrator = spec

    def run(self, steps: int) -> None:
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        if self._integrator is None:
            raise RuntimeError("call set_integrator() before run()")
        self.sim.run(int(steps))

    def minimize(self, etol: float = 1e-12, ftol: float = 1e-8, max_steps: int = 100_000) -> float:
        md = self._hoomd.md
        fire = md.minimize.FIRE(dt=self.dt, force_tol=ftol, angmom_tol=ftol, energy_tol=etol,
                                forces=[self.lj], methods=[md.methods.ConstantVolume(filter=self._hoomd.filter.All())])
        self.integrator.forces.remove(self.lj)
        self.sim.operations.integrator = fire
        done = 0
        while not fire.converged and done < max_steps:
            self.sim.run(100)
            done += 100
        fire.forces.remove(self.lj)
        self.integrator.forces.append(self.lj)
        self.sim.operations.integrator = self.integrator
        self.set_velocities(np.zeros((self.n, 3)))
        return self.thermo().potential_energy

    def _ensure_computed(self) -> None:
        if self._integrator is None:
            self.set_integrator("nve")
        self.sim.run(0)

    def thermo(self) -> Thermo:
        self._ensure_computed()
        tq = self.thermo_compute
        ke = float(tq.kinetic_energy)
        return Thermo(
            step=self.step,
            potential_energy=float(tq.potential_energy) / self.n,
            kinetic_energy=ke / self.n,
            temperature=2.0 * ke / (3 * self.n - 3),
            pressure=float(tq.pressure),
        )

    def energy_forces(self) -> tuple[float, np.ndarray]:
        self._ensure_computed()
        return float(np.sum(self.lj.energies)), np.array(self.lj.forces, dtype=np.float64)

    def per_particle_energy(self) -> np.ndarray:
        self._ensure_computed()
        return np.array(self.lj.energies, dtype=np.float64)

    def close(self) -> None:
        self.sim = None
