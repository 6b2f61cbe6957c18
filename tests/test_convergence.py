"""Verdicts qualified by how the networks trained, and claim 3 against its untrained control."""

from __future__ import annotations

import json

import numpy as np

from equiglass.experiments import control_comparison, probe_r2_per_configuration
from equiglass.steps.convergence import combine_seeds, describe, qualify, training_status
from equiglass.steps.summary import _claim3


def _model(tmp_path, name, training, history):
    d = tmp_path / name
    d.mkdir(parents=True)
    (d / "model.json").write_text(json.dumps({"family": name.split("/")[0], "info": {"training": training}}))
    keys = list(history[0])
    (d / "history.csv").write_text("\n".join([",".join(keys)] + [",".join(str(r[k]) for k in keys)
                                                                  for r in history]) + "\n")
    return d / "model.json"


def test_a_per_timescale_baseline_that_never_learned(tmp_path):
    hist = [{"timescale": ts, "epoch": e, "train_loss": 1e3 / e, "val_rho_A": v}
            for ts, vs in (("a", [0.01, 0.06]), ("b", [0.2, 0.1])) for e, v in enumerate(vs, 1)]
    f = _model(tmp_path, "bapst/T0.60", {"per_timescale": True, "timescales": ["a", "b"], "epochs_run": [2, 2],
                                         "epochs": 40, "best_epoch": [2, 1],
                                         "stop_reason": ["early stopping (no improvement for 1 epochs)"] * 2}, hist)
    st = training_status(f, f.with_name("history.csv"))
    assert st["model"] == "bapst@T0.60" and not st["learned"] and st["flattened"]
    assert [c["best_val_rho_A"] for c in st["curves"]] == [0.06, 0.2]
    assert qualify("supported", None, st) == "unresolved (bapst did not learn within this budget)"
    assert qualify("unresolved", None, st) == "unresolved"


def test_a_network_correlated_only_by_its_initial_structure_did_not_learn(tmp_path):
    """Validation rho 0.2 at the first epoch but a training loss that never fell below the mean's (1)."""
    f = _model(tmp_path, "bapst/T0.60", {"epochs_run": 3, "epochs": 40, "best_epoch": 1,
                                         "stop_reason": "early stopping (no improvement for 2 epochs)"},
               [{"epoch": e, "train_loss": v, "val_rho_A": r} for e, v, r in ((1, 1e4, 0.21), (2, 3.0, 0.1), (3, 1.2, 0.0))])
    st = training_status(f, f.with_name("history.csv"))
    assert not st["learned"] and st["curves"][0]["min_train_loss"] == 1.2


def test_a_model_still_improving_and_a_closed_form_fit(tmp_path):
    f = _model(tmp_path, "se3gnn/T0.60", {"epochs_run": 3, "epochs": 3, "best_epoch": 3, "stop_reason": "max epochs"},
               [{"epoch": e, "train_loss": 1 - 0.05 * e, "val_rho_A": 0.1 * e} for e in (1, 2, 3)])
    se3 = training_status(f, f.with_name("history.csv"))
    assert se3["learned"] and not se3["flattened"]
    ridge = training_status(_model(tmp_path, "ridge/T0.60", {}, [{"epoch": 1, "val_rho_A": 0.4}]))
    assert ridge["learned"] and ridge["flattened"] and not ridge["iterative"]
    assert qualify("supported", ridge, se3) == "unresolved (se3gnn was still improving within this budget)"
    assert qualify("contradicted", se3, ridge) == "contradicted at this budget (se3gnn was still improving)"
    assert qualify("supported", se3, ridge) == "supported"


def test_a_verdict_against_a_model_one_of_whose_seeds_did_not_learn(tmp_path):
    """training.seeds = 3: replicate r's record lies in <set>/seed<r>/; a model learned only if every seed did."""
    good = {"epochs_run": 5, "epochs": 40, "best_epoch": 3, "stop_reason": "early stopping (no improvement)"}
    hist = [{"epoch": e, "train_loss": 1 - 0.2 * e, "val_rho_A": 0.1 * e} for e in (1, 2, 3)]
    bad = [{"epoch": e, "train_loss": 1.5, "val_rho_A": 0.01} for e in (1, 2, 3)]
    files = [_model(tmp_path, "bapst/T0.60", good, hist), _model(tmp_path, "bapst/T0.60/seed1", good, hist),
             _model(tmp_path, "bapst/T0.60/seed2", good, bad)]
    sts = [training_status(f, f.with_name("history.csv")) for f in files]
    assert [s["model"] for s in sts] == ["bapst@T0.60"] * 3 and [s["replicate"] for s in sts] == [0, 1, 2]
    assert "bapst@T0.60 seed replicate 2: did not learn" in describe(sts[2])
    both = combine_seeds(sts)["bapst@T0.60"]
    assert both["n_seeds"] == 3 and not both["learned"] and both["flattened"]
    assert qualify("supported", None, both) == "unresolved (bapst did not learn within this budget: 1 of 3 seeds)"
    assert combine_seeds(sts[:2])["bapst@T0.60"]["learned"] and qualify("supported", None, combine_seeds(sts[:2])[
        "bapst@T0.60"]) == "supported"


def test_leave_one_configuration_out_probe_and_control():
    rng = np.random.default_rng(0)
    ys, xt, xc = [], [], []
    for _ in range(5):
        y = rng.normal(size=(200, 1))
        ys.append(y)
        xt.append(np.hstack([y + 0.3 * rng.normal(size=(200, 1)), rng.normal(size=(200, 3))]))  # informative
        xc.append(rng.normal(size=(200, 4)))                                                     # noise
    r2 = probe_r2_per_configuration(xt, ys)
    assert r2.shape == (5, 1) and (r2 > 0.8).all()
    out = control_comparison(xt, xc, ys, ["q6"])["q6"]
    assert out["ci"][0] > 0.7 and len(out["r2_control"]) == 5


def _interpret(delta_ci):
    return {"descriptors": ["q6", "local energy"],
            "layers": [{"probe_r2": [0.1, 0.1]},
                       {"probe_r2": [0.3, 0.72], "best_abs_correlation": [0.4, 0.6], "best_abs_correlation_ci": {}}],
            "untrained_control": {"probe_r2": {"q6": 0.2, "local energy": 0.55},
                                  "trained_vs_control": {"local energy": {"delta": sum(delta_ci) / 2,
                                                                          "ci": list(delta_ci)}}}}


def test_claim3_needs_the_trained_layer_to_beat_the_untrained_one():
    assert _claim3(_interpret((0.05, 0.2)))[1] == "supported"
    assert _claim3(_interpret((-0.02, 0.3)))[1].startswith("unresolved (the untrained architecture does as well")
    assert _claim3(_interpret((-0.3, -0.1)))[1].startswith("contradicted")
