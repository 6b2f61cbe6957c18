"""A light login node: the workflow parses and plans with Snakemake, PyYAML and jsonschema only.

The dry runs below execute in a Python whose ``sitecustomize`` makes torch, LAMMPS, freud, HOOMD,
OpenMM, e3nn, SciPy, GSD and matplotlib unimportable, and NumPy/pandas unimportable from the
workflow and the package (the SLURM executor plugin itself imports pandas, so those two stay
importable for Snakemake's own modules).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_workflow import copy_workflow, job_counts

from conftest import REPO

BLOCKER = '''
import os
import sys

SRC = os.environ["EQUIGLASS_BLOCK_SRC"]
HEAVY = {"torch", "lammps", "freud", "hoomd", "openmm", "e3nn", "scipy", "gsd", "matplotlib", "ase", "ovito"}
SOFT = {"numpy", "pandas"}


def _from_workflow():
    """Whether the import comes from the package (anywhere up the stack) or a Snakefile/.smk."""
    f, first = sys._getframe(2), True
    while f is not None:
        name = f.f_code.co_filename
        if not name.startswith("<frozen"):
            if name.startswith(SRC):
                return True
            if first and (name.endswith(".smk") or name.endswith("Snakefile")):
                return True
            first = False
        f = f.f_back
    return False


class _Block:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in HEAVY or (top in SOFT and _from_workflow()):
            raise ImportError(f"{name} is not installed on this login node")
        return None


sys.meta_path.insert(0, _Block())
'''


@pytest.fixture
def login_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env.update(PYTHONPATH=f"{site}:{REPO / 'src'}", EQUIGLASS_BLOCK_SRC=str(REPO / "src"),
               EQUIGLASS_SKIP_PYTHON_CHECK="1",  # what a login node that only plans sets (README)
               PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
               SLURM_ACCOUNT="myacct", EQUIGLASS_CPU_PARTITION="cpuq", EQUIGLASS_GPU_PARTITION="gpuq")
    return env


def test_the_blocker_blocks(login_env):
    """Control: under the blocker torch cannot be imported, nor NumPy from the package."""
    for code in ("import torch", "import equiglass.files"):
        res = subprocess.run([sys.executable, "-c", code], env=login_env, capture_output=True, text=True)
        assert res.returncode != 0 and "not installed on this login node" in res.stderr, code
    ok = subprocess.run([sys.executable, "-c", "import equiglass.plan, equiglass.settings, equiglass.devices"],
                        env=login_env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("profile", [[], ["--profile", "profiles/slurm"]], ids=["local", "slurm-profile"])
def test_workflow_plans_without_torch_lammps_freud_numpy(tmp_path, login_env, profile):
    work = copy_workflow(tmp_path / "w")
    res = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", *profile, "--configfile",
                          "presets/tiny.yaml"], cwd=work, env=login_env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    counts = job_counts(res.stdout)
    assert counts["equilibrate"] > 0 and counts["train"] > 0 and counts["evaluate"] > 0
