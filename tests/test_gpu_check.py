"""scripts/gpu-check.sh: its --cpu dry run (what runs on a GPU machine, on the CPU at tiny sizes),
the freud-free radius graph it builds, and the LZMA repacking of the wheels it carries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from conftest import REPO
from equiglass.models import cueq_tp
from equiglass.models.common import radius_graph

sys.path.insert(0, str(REPO / "scripts"))
import gpu_wheels


def test_cpu_dry_run(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    res = subprocess.run(["bash", "scripts/gpu-check.sh", "--cpu", "--out", str(tmp_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = {(r["check"], r["backend"]): r for r in report["rows"]}
    assert report["cpu_dry_run"] and "| check | size | backend | result | note |" in res.stdout
    assert (tmp_path / "gpu_check.md").read_text().count("\n|") == len(report["rows"]) + 2
    for label in ("quick (mul 8, l_max 2, 3 layers)", "paper preset"):
        fused = rows[(f"SE(3) {label} training", "fused")]
        assert fused["status"] == "ok" and fused["value"] > 0
        cueq = rows[(f"SE(3) {label} training", "cuEquivariance")]
        if cueq_tp.available():  # its PyTorch path on the CPU
            assert cueq["status"] == "ok" and "method naive" in cueq["note"]
        else:
            assert cueq["status"] == "skipped" and cueq["note"]
    assert rows[("Bapst training", "PyTorch")]["value"] > 0
    md = rows[("OpenMM KA (NVE, dt 0.005)", "CPU")]
    assert md["status"] in ("ok", "skipped") and (md["status"] == "skipped" or md["value"] > 0)
    assert rows[("CUDA (SE(3), Bapst, OpenMM)", "CUDA")]["status"] == "skipped"
    tests = rows[("pytest -m gpu", "")]
    assert tests["status"] == "ok" and "test_cueq.py" in tests["size"] and "skipped" in tests["note"]


def test_radius_graph_equals_freud_graph():
    from equiglass.graphs import build_graph
    from equiglass.state import State

    rng = np.random.default_rng(0)
    box = np.array([6.0, 6.5, 7.0])
    pos = rng.uniform(-1.0, 8.0, size=(300, 3))  # some outside the box: minimum image
    g = build_graph(State(pos, rng.integers(0, 2, 300), box), 2.0)
    src, dst, vec = radius_graph(torch.as_tensor(pos), torch.as_tensor(box), 2.0, block=1000)
    order = np.lexsort((g.src, g.dst))
    assert np.array_equal(dst.numpy(), g.dst[order]) and np.array_equal(src.numpy(), g.src[order])
    np.testing.assert_allclose(vec.numpy(), g.vec[order], atol=1e-5)
    with pytest.raises(ValueError, match="half the box"):
        radius_graph(torch.as_tensor(pos), torch.as_tensor(box), 3.5)


def test_wheels_repacked_with_lzma_keep_every_member(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    members = {"demo/__init__.py": b"x = 1\n" * 1000, "demo/lib.so": bytes(range(256)) * 400,
               "demo-1.0.dist-info/RECORD": b"demo/__init__.py,,\n"}
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, data)
    gpu_wheels.repack_lzma(wheel)
    with zipfile.ZipFile(wheel) as z:
        assert z.testzip() is None
        assert {i.filename: z.read(i) for i in z.infolist()} == members
        assert all(i.compress_type == zipfile.ZIP_LZMA and i.external_attr >> 16 == 0o755 for i in z.infolist())
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"skipped": {"cuequivariance-ops": "70 MiB over"}}))
    assert gpu_wheels.skipped_note(tmp_path) == "cuequivariance-ops: 70 MiB over"
