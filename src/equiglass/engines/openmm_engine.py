"""OpenMM backend (PyPI ``openmm``, in-process; CUDA/OpenCL GPUs or the CPU, pip only).

Units: σ_AA = 1 nm, ε_AA = 1 kJ/mol and m = 1 Da, so OpenMM's time unit (1 ps) is τ and
lengths, energies, velocities and forces carry over as numbers. Only temperatures convert:
T [K] = T* / R with R = ``MOLAR_GAS_CONSTANT_R`` in kJ/(mol K).

The KA model is one ``CustomNonbondedForce`` (``CutoffPeriodic``, cutoff max r_c, no switching,
no long-range correction) with a per-particle type parameter t ∈ {0, 1}. The per-pair
coefficients 4εσ¹², 4εσ⁶, r_c and the shift V(r_c) enter the energy expression as the bilinear
form c(t1, t2) = c_AA + (c_AB − c_AA)(t1 + t2) + (c_BB − 2c_AB + c_AA) t1 t2, exact at the
four type pairs; ``step(rc - r)`` gives every pair its own cutoff. (``Discrete2DFunction``
tables give the same numbers but made the CPU platform 2.4× slower: 140 vs 340 steps/s at
N = 1000.) OpenMM manages its own neighbour list, so ``skin`` is unused.

Integrators: ``VerletIntegrator`` for ``nve`` and ``NoseHooverIntegrator`` (one Nosé–Hoover
chain of length 3, collision frequency 1/τ_T) for ``nvt``. Both are leapfrog schemes whose
stored velocities lag half a step, v(t − dt/2). The engine converts at its boundary, so it
reads and writes on-step velocities like the velocity-Verlet engines: it returns
v(t) = v(t − dt/2) + (dt/2) f(t)/m and stores v(t) − (dt/2) f(t)/m, which makes the leapfrog
positions those of velocity Verlet (NVE trajectories agree with LAMMPS to round-off). For
``nvt`` a ``CMMotionRemover`` is added so the chain counts 3N − 3 degrees of freedom, as LAMMPS
and HOOMD do; Nosé–Hoover scaling keeps a zero total momentum zero, so it changes nothing else.
The leapfrog thermostat controls the half-step kinetic energy, so the on-step kinetic
temperature reported here reads below target by dt²⟨|F_i|²⟩/(12 m) (measured 0.0029, i.e.
0.36 %, at T = 0.8, dt = 0.005); U and P agree with LAMMPS within errors.
Bussi's thermostat does not exist in OpenMM and is refused. Everything is deterministic (no
random numbers, hence no seeds).

OpenMM has no pressure or per-particle energy. Both come from the pair terms evaluated here in
float64 on a freud neighbour list of the current positions (O(N)): the virial
W = Σ_pairs r_ij·f_ij gives P = (2K/3 + W/3)/V, and each particle gets half of each pair energy.

Platforms: ``device="cpu"`` → CPU (``Threads`` = threads; Reference if CPU is missing),
``"gpu"`` → CUDA then OpenCL (mixed precision), ``"auto"`` → CUDA, OpenCL, then CPU. The
environment variable ``EQUIGLASS_OPENMM_PLATFORM`` forces a platform by name (e.g.
``Reference`` for double precision in tests). Positions are never wrapped by OpenMM; the engine
keeps the unwrapped coordinates and returns wrapped positions with image flags.
"""

from __future__ import annotations

import os

import numpy as np

from ..ka import KA, KobAndersen, minimum_image
from ..state import State
from .base import Engine, Thermo

PLATFORM_ENV = "EQUIGLASS_OPENMM_PLATFORM"

# Platforms tried in order for each device.
_CANDIDATES = {
    "cpu": ("CPU", "Reference"),
    "gpu": ("CUDA", "OpenCL"),
    "auto": ("CUDA", "OpenCL", "CPU", "Reference"),
}



def _pair_coefficient(values: np.ndarray) -> str:
    """Expression for a symmetric (2, 2) coefficient c[t1, t2] of the types t1, t2 ∈ {0, 1}."""
    c = np.asarray(values, dtype=np.float64)
    if c.shape != (2, 2) or not np.allclose(c, c.T, rtol=0, atol=0):
        raise ValueError(f"pair coefficients must be a symmetric 2×2 array, got {c}")
    aa, ab, bb = float(c[0, 0]), float(c[0, 1]), float(c[1, 1])
    return f"({aa!r} + ({ab - aa!r})*(t1 + t2) + ({bb - 2.0 * ab + aa!r})*t1*t2)"


def energy_expression(model: KobAndersen) -> str:
    """OpenMM energy expression of the shifted, per-pair-truncated KA pair potential."""
    eps, sig = model.eps, model.sig
    return (
        "step(rc - r) * (ir6 * (a * ir6 - b) - sh); ir6 = 1 / r^6;"
        f" a = {_pair_coefficient(4.0 * eps * sig**12)}; b = {_pair_coefficient(4.0 * eps * sig**6)};"
        f" rc = {_pair_coefficient(model.rcut)}; sh = {_pair_coefficient(model.energy_shift())}"
    )


def openmm_available() -> bool:
    try:
        import openmm  # noqa: F401
    except Exception:
        return False
    return True


def gas_constant() -> float:
    """R = k_B N_A in kJ/(mol K): T [K] = T* ε_AA / R with ε_AA = 1 kJ/mol."""
    from openmm import unit

    return float(unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin))


def platform_candidates(device: str) -> tuple[str, ...]:
    """Platform names to try for ``device`` (``EQUIGLASS_OPENMM_PLATFORM`` overrides)."""
    forced = os.environ.get(PLATFORM_ENV, "").strip()
    if forced:
        return (forced,)
    if device not in _CANDIDATES:
        raise ValueError(f"unknown device {device!r} for OpenMM (cpu, gpu or auto)")
    return _CANDIDATES[device]


class OpenMMEngine(Engine):
    """KA mixture in OpenMM. See :class:`equiglass.engines.base.Engine` for the interface."""

    name = "openmm"

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
        import openmm as mm

        self._mm = mm
        self._candidates = platform_candidates(device)
        self.platform_name: str | None = None
        self.system = mm.System()
        lx, ly, lz = (float(v) for v in self.box)
        self.system.setDefaultPeriodicBoxVectors(mm.Vec3(lx, 0, 0), mm.Vec3(0, ly, 0), mm.Vec3(0, 0, lz))
        for _ in range(self.n):
            self.system.addParticle(model.mass)
        force = mm.CustomNonbondedForce(energy_expression(model))
        force.addPerParticleParameter("t")
        force.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
        force.setCutoffDistance(model.max_rcut)
        force.setUseSwitchingFunction(False)
        force.setUseLongRangeCorrection(False)
        for t in self.types:
            force.addParticle([float(t)])
        self.system.addForce(force)
        self._cm_remover: int | None = None
        self._integrator: tuple | None = None
        self._context_spec: tuple | None = None
        self.context = None
        self.integrator = None
        self._image0 = state.image.copy()
        self._new_context(
            ("nve", None, 0.5, "nose-hoover"),
            positions=state.positions,
            velocities=state.velocities if state.velocities is not None else np.zeros((self.n, 3)),
            step=int(state.step),
        )
        self._integrator = None  # the default context integrates NVE but run() still asks for one

    # ----------------------------------------------------------------- helpers
    def _make_integrator(self, spec: tuple):
        kind, temperature, tau, _ = spec
        mm = self._mm
        if kind == "nve":
            return mm.VerletIntegrator(self.dt)
        return mm.NoseHooverIntegrator(temperature / gas_constant(), 1.0 / tau, self.dt)

    def _new_context(self, spec: tuple, positions: np.ndarray, velocities: np.ndarray, step: int) -> None:
        """(Re)build the Context for integrator ``spec``, trying the platforms in order."""
        mm = self._mm
        want_cm = spec[0] == "nvt"
        if want_cm and self._cm_remover is None:
            self._cm_remover = self.system.addForce(mm.CMMotionRemover(1))
        elif not want_cm and self._cm_remover is not None:
            self.system.removeForce(self._cm_remover)
            self._cm_remover = None
        errors = []
        for name in self._candidates:
            try:
                platform = mm.Platform.getPlatformByName(name)
            except Exception as err:
                errors.append(f"{name}: {err}")
                continue
            props = {}
            if name == "CPU":
                props["Threads"] = str(max(self.threads, 1))
            elif name in ("CUDA", "OpenCL", "HIP"):
                from ..devices import gpu_index

                props["Precision"] = "mixed"
                props["DeviceIndex"] = str(gpu_index())  # this process's GPU among the visible ones
            integrator = self._make_integrator(spec)
            try:
                context = mm.Context(self.system, integrator, platform, props)
            except Exception as err:
                errors.append(f"{name}: {err}")
                continue
            break
        else:
            found = [mm.Platform.getPlatform(k).getName() for k in range(mm.Platform.getNumPlatforms())]
            raise RuntimeError(
                f"no OpenMM platform of {list(self._candidates)} works for device={self.device!r} "
                f"(platforms present: {found}; {PLATFORM_ENV} forces one): " + "; ".join(errors)
            )
        self._candidates = (name,)  # later contexts use the same platform
        self.platform_name = name
        self.context, self.integrator = context, integrator
        self._context_spec = spec
        context.setPositions(np.ascontiguousarray(positions, dtype=np.float64))
        context.setStepCount(int(step))
        context.setTime(int(step) * self.dt)
        self.set_velocities(velocities)

    def _forces(self, st=None) -> np.ndarray:
        """Forces (N, 3) [ε_AA/σ_AA] from an OpenMM State (a fresh one if not given)."""
        from openmm import unit

        st = st if st is not None else self.context.getState(getForces=True)
        forces = st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
        return np.asarray(forces, dtype=np.float64)

    def _snapshot(self, energy: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
        """One OpenMM getState: unwrapped positions (relative to the input images), on-step
        velocities v(t) = v(t − dt/2) + (dt/2) f(t)/m (see module doc) and, when asked, the
        total potential energy [ε_AA] (else NaN)."""
        from openmm import unit

        st = self.context.getState(
            getPositions=True, getVelocities=True, getForces=True, getEnergy=energy, enforcePeriodicBox=False
        )
        pos = np.asarray(st.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=np.float64)
        half = st.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond)
        vel = np.asarray(half, dtype=np.float64) + (0.5 * self.dt / self.model.mass) * self._forces(st)
        u = st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole) if energy else float("nan")
        return pos, vel, float(u)

    def _pair_terms(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pairs i < j within r_c,αβ: (i, j, V_ij [ε_AA], r_ij·f_ij [ε_AA]) in float64.

        ``pos`` are wrapped positions (N, 3). Pairs come from a freud neighbour list (float32,
        with a margin); distances, energies and virials are recomputed here in float64 exactly
        as in ``ka.pair_energy_forces``.
        """
        import freud

        box, model = self.box, self.model
        fbox = freud.box.Box(Lx=float(box[0]), Ly=float(box[1]), Lz=float(box[2]))
        pts = np.ascontiguousarray(pos, dtype=np.float32)
        query = freud.locality.AABBQuery(fbox, pts)
        nl = query.query(pts, {"r_max": model.max_rcut + 1e-3, "exclude_ii": True}).toNeighborList()
        i = np.asarray(nl.query_point_indices, dtype=np.int64)
        j = np.asarray(nl.point_indices, dtype=np.int64)
        keep = i < j
        i, j = i[keep], j[keep]
        dr = minimum_image(pos[j] - pos[i], box)
        r2 = np.einsum("ij,ij->i", dr, dr)
        ti, tj = self.types[i], self.types[j]
        rc = model.rcut[ti, tj]
        inside = r2 < rc * rc
        i, j, r2, ti, tj = i[inside], j[inside], r2[inside], ti[inside], tj[inside]
        eps, sig = model.eps[ti, tj], model.sig[ti, tj]
        sr6 = (sig * sig / r2) ** 3
        energy = 4.0 * eps * (sr6 * sr6 - sr6) - model.energy_shift()[ti, tj]
        virial = 24.0 * eps * (2.0 * sr6 * sr6 - sr6)
        return i, j, energy, virial

    # ------------------------------------------------------------------- state
    @property
    def step(self) -> int:
        return int(self.context.getStepCount())

    def _state(self, energy: bool = False) -> tuple[State, float]:
        pos, vel, u = self._snapshot(energy)
        st = State(positions=pos, types=self.types, box=self.box, velocities=vel,
                   image=self._image0, step=self.step)
        return st.wrapped(), u

    def get_state(self) -> State:
        return self._state()[0]

    def set_positions(self, positions: np.ndarray, image: np.ndarray | None = None) -> None:
        velocities = self._snapshot()[1]
        self.context.setPositions(np.ascontiguousarray(positions, dtype=np.float64))
        self.set_velocities(velocities)  # the half-step offset depends on the forces
        self._image0 = (
            np.zeros((self.n, 3), np.int32) if image is None else np.asarray(image, np.int32).copy()
        )

    def set_velocities(self, velocities: np.ndarray) -> None:
        """Store on-step velocities v(t) as the leapfrog's v(t − dt/2) = v(t) − (dt/2) f(t)/m."""
        v = np.asarray(velocities, dtype=np.float64) - (0.5 * self.dt / self.model.mass) * self._forces()
        self.context.setVelocities(np.ascontiguousarray(v))

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
        if kind == "nvt":
            if temperature is None:
                raise ValueError("nvt needs a temperature")
            if thermostat == "bussi":
                raise ValueError(
                    "the OpenMM engine has no Bussi (stochastic velocity rescaling) thermostat: "
                    "set md.thermostat to 'nose-hoover', or use md.engine lammps or hoomd for bussi"
                )
            if thermostat != "nose-hoover":
                raise ValueError(f"unknown thermostat {thermostat!r} (nose-hoover or bussi)")
            if tau <= 0:
                raise ValueError(f"thermostat time tau must be > 0, got {tau}")
        elif kind != "nve":
            raise ValueError(f"unknown integrator {kind!r} (nve or nvt)")
        if (kind == "nve" and self._context_spec[0] != "nve") or (kind == "nvt" and spec != self._context_spec):
            pos, vel, _ = self._snapshot()
            self._new_context(spec, pos, vel, self.step)
        self._integrator = spec

    def run(self, steps: int) -> None:
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        if self._integrator is None:
            raise RuntimeError("call set_integrator() before run()")
        if steps:
            self.integrator.step(int(steps))

    def minimize(self, etol: float = 1e-12, ftol: float = 1e-8, max_steps: int = 100_000) -> float:
        """L-BFGS (``LocalEnergyMinimizer``) until the RMS force component is below ``ftol``
        [ε_AA/σ_AA] or after ``max_steps`` iterations; ``etol`` is not used by OpenMM."""
        velocities = self._snapshot()[1]
        self._mm.LocalEnergyMinimizer.minimize(self.context, float(ftol), int(max_steps))
        self.set_velocities(velocities)
        return self.thermo().potential_energy

    def thermo(self) -> Thermo:
        st, u = self._state(energy=True)
        ke = 0.5 * self.model.mass * float(np.sum(st.velocities**2))
        _, _, _, virial = self._pair_terms(st.positions)
        volume = float(np.prod(self.box))
        return Thermo(
            step=self.step,
            potential_energy=float(u) / self.n,
            kinetic_energy=ke / self.n,
            temperature=2.0 * ke / (3 * self.n - 3),
            pressure=(2.0 * ke + float(np.sum(virial))) / (3.0 * volume),
        )

    def energy_forces(self) -> tuple[float, np.ndarray]:
        from openmm import unit

        st = self.context.getState(getEnergy=True, getForces=True)
        return float(st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)), self._forces(st)

    def per_particle_energy(self) -> np.ndarray:
        i, j, energy, _ = self._pair_terms(self.get_state().positions)
        out = np.zeros(self.n)
        np.add.at(out, i, 0.5 * energy)
        np.add.at(out, j, 0.5 * energy)
        return out

    def close(self) -> None:
        self.context = None
        self.integrator = None
