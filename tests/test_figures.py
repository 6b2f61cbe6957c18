"""Figures: one entry (`equiglass figure KIND`) for every kind; every module's imports resolve."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import equiglass
from equiglass.figures import KINDS, draw
from equiglass.files import InputError


def test_every_module_imports():
    """Lazy imports inside functions are not checked by ruff: import every module and resolve them."""
    import ast
    from pathlib import Path

    root = Path(equiglass.__file__).parent
    for info in pkgutil.walk_packages(equiglass.__path__, "equiglass."):
        if info.name.endswith(("hoomd_engine", "openmm_engine", "__main__")):
            continue  # optional engines; the command-line entry
        mod = importlib.import_module(info.name)
        tree = ast.parse(Path(mod.__file__).read_text())
        package = info.name if info.ispkg else info.name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if "hoomd" in target or "openmm" in target:
                    continue
                importlib.import_module(target)
    assert root.exists()


def test_every_kind_has_its_function():
    for name, kind in KINDS.items():
        mod = importlib.import_module(f"equiglass.figures.{kind.module}")
        assert callable(getattr(mod, kind.function)), name


def test_wrong_kind_or_output_count_is_refused(tmp_path):
    with pytest.raises(InputError, match="choose from"):
        draw("histogram", ["x"], [str(tmp_path / "a.png")])
    with pytest.raises(InputError, match="2 PNG"):
        draw("generalization", ["g.json"], [str(tmp_path / "a.png")])


def test_cli_lists_the_kinds():
    res = subprocess.run([sys.executable, "-m", "equiglass", "figure", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and all(k in res.stdout for k in KINDS)


def test_no_citation_of_the_developers_spec():
    """Users never see the developers' specification: code, outputs and docs cite primary sources."""
    from conftest import REPO

    hits = []
    for path in REPO.rglob("*"):
        if any(part in (".git", ".venv", "results", "logs", ".snakemake", "__pycache__") for part in path.parts):
            continue
        if path.is_file() and path.suffix in (".py", ".smk", ".md", ".rst", ".yaml", ".toml", ".txt", ""):
            text = path.read_text(errors="ignore")
            if "SPEC" + ".md" in text:
                hits.append(str(path.relative_to(REPO)))
    assert not hits, hits


def test_rho_vs_time_legend_names_the_published_line(tmp_path, monkeypatch):
    """The published SE(3) line is drawn on the panel of the nearest temperature only, but the legend
    (beside the last panel) must still name it."""
    import json

    from equiglass.figures import pipeline

    results = {t: {"times": [0.1, 1.0], "metrics": {"A": {"pearson": [0.4, 0.3], "pearson_sem": [0.01, 0.02]}}}
               for t in ("0.60", "0.80")}
    f = tmp_path / "ridge.json"
    f.write_text(json.dumps({"model": "ridge", "train_set": "T0.60", "results": results}))
    drawn = {}
    monkeypatch.setattr(pipeline, "savefig", lambda fig, output: drawn.setdefault("fig", fig))
    pipeline.fig_rho_vs_time([str(f)], tmp_path / "rho.png")
    legend = drawn["fig"].axes[-1].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert any(lab.startswith("published SE(3)-GNN") for lab in labels), labels
    assert sum("ridge" in lab for lab in labels) == 1  # one entry per curve, not one per panel
