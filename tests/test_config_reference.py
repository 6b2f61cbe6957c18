"""docs/configuration.md: generated from the schema and the rules, and kept current."""

from __future__ import annotations

import pytest

from conftest import REPO
from equiglass import config_reference as C
from equiglass import rerun_map as R

PAGE = REPO / "docs" / "configuration.md"


@pytest.fixture(scope="module")
def page() -> str:
    return C.render(REPO)


@pytest.fixture(scope="module")
def rows(page) -> dict[str, list[str]]:
    """Key -> the cells of its table row."""
    out = {}
    for line in page.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0].strip("`")] = cells
    return out


def reruns(rows, key: str) -> set[str]:
    return {r.strip("`") for r in rows[key][4].split(", ")} - {"—"}


def test_committed_reference_is_current(page):
    assert PAGE.exists(), f"docs/configuration.md is missing: run `{C.COMMAND}`"
    assert PAGE.read_text() == page, (
        f"docs/configuration.md is stale (the schema, the model registry or the rules changed): run `{C.COMMAND}` "
        "(or `make docs`) and commit the result")


def test_every_schema_key_has_a_row(rows):
    keys = {e.key for e in C.entries(C.schema())}
    assert keys == set(rows)
    for key in ("system.n_particles", "md.dt", "inputs.minimizer.ftol", "models.se3gnn.l_max", "cluster.max_runtime",
                "training.per_model", "ablations.levers"):
        assert key in rows, key


def test_types_units_and_defaults(rows):
    assert rows["system.n_particles"][1:4] == ["integer ≥ 256", "", "`1000`"]
    assert rows["md.dt"][1:4] == ["number > 0 ≤ 0.01", "τ", "`0.005`"]
    assert rows["system.density"][2] == "σ_AA⁻³"
    assert rows["equilibration.duration_tau_alpha"][2] == "τ_α"
    assert rows["cluster.max_runtime"][2] == "min"
    assert rows["inputs.local_energy"][2] == ""  # a switch: the [epsilon_AA] in its description is not its unit
    assert rows["temperatures"][3] == "required"
    assert rows["md.engine"][1].startswith("one of: `lammps`")
    assert rows["training.max_time_s"][1] == "number > 0 or null"


def test_reruns_follow_the_rules(rows):
    assert {"equilibrate", "isoconfigurational", "inherent", "graphs", "train"} <= reruns(rows, "md.dt")
    assert reruns(rows, "training.epochs") == {"train", "train_seed", "ablation_train", "ablation_train_seed"}
    # ablation seeds add replicate jobs and re-run what reads them all; the test temperatures re-evaluate
    assert reruns(rows, "ablations.seeds") == {"compare", "ablation_study"}
    assert reruns(rows, "ablations.test_temperatures") == {"ablation_evaluate", "ablation_evaluate_seed",
                                                           "ablation_study"}
    # more training seeds add replicate jobs (train_seed, evaluate_seed) and re-run what reads them all,
    # never the models already trained (replicate 0: same settings, same path)
    assert reruns(rows, "training.seeds") == {"table", "compare", "figure_rho", "generalization", "summary"}
    assert reruns(rows, "system.density") == {"equilibrate"}
    assert reruns(rows, "equilibration.melt_time") == {"equilibrate"}
    assert "interpret" in reruns(rows, "figures.snapshot_slab")
    assert reruns(rows, "predict.force") == {"predict"}
    assert "isoconfigurational" in reruns(rows, "isoconfigurational.write_trajectory")  # an alias (ISO[...])
    assert "interpret" in reruns(rows, "experiments.interpret.model_set")  # through the rule's input
    assert "figure_scatter" in reruns(rows, "preset")  # captions
    for key in ("cluster.max_runtime", "cluster.retries", "cluster.gpu_partition"):
        assert not reruns(rows, key), key  # requests only


def test_a_helper_the_map_does_not_know_is_an_error():
    names = {"what_was_run", "new_helper"}
    builders, keys = R.params_reads('caption=what_was_run(),\nsettings=S.dumps(S.train(config, w.model)),',
                                    names, {})
    assert builders == {"train"} and "preset" in keys
    with pytest.raises(ValueError, match="new_helper"):
        R.params_reads("extra=new_helper(w.T),", names, {})


def test_builder_perturbation_finds_what_a_builder_reads():
    cfg = C.full_config(REPO)
    changed = {key: [R.with_value(cfg, key, value)] for key, value in
               (("md.dt", 0.004), ("seeds.replicas", 99), ("cluster.retries", 7))}
    reads = R.builder_reads(cfg, changed)
    assert reads["equilibrate"] == {"md.dt"}
    assert reads["isoconfigurational"] == {"md.dt", "seeds.replicas"}
    assert reads["evaluate"] == set()
