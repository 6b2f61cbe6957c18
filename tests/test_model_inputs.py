"""One model-input path: the pipeline (files) and prediction (memory) give bit-identical inputs."""

from __future__ import annotations

import gsd.fl
import numpy as np
import pytest

from equiglass.dataset import load_sample
from equiglass.formats.configurations import read_configurations
from equiglass.formats.gsd_files import read_gsd, write_gsd
from equiglass.model_inputs import InputSettings, as_stored, minimize
from equiglass.predict import model_sample
from equiglass.steps.inputs import step_graph, step_inherent

RECORD = {"graph_cutoff": 2.0, "md": {"skin": 0.3}, "minimizer": {"ftol": 1e-5},
          "descriptors": {"l_values": [4, 6], "radial_max": 2.0, "coarse_grain": True, "coarse_grain_cutoff": 1.5}}


@pytest.mark.parametrize("positions", ["thermal", "inherent"])
def test_pipeline_and_prediction_build_identical_inputs(tmp_path, liquid_256, positions):
    record = {**RECORD, "positions": positions, "local_energy": True}
    settings = {"temperature": 1.0, "inputs": record}
    state = liquid_256.wrapped()
    state.log = {"equiglass/temperature": np.array([1.0])}
    eq = tmp_path / "equilibrated.gsd"
    write_gsd(eq, state)
    # the pipeline: (inherent rule ->) graphs rule -> the sample training reads
    src = eq
    if positions == "inherent":
        src = tmp_path / "inherent.gsd"
        step_inherent(settings, eq, src)
        with gsd.fl.open(str(src), "r") as f:  # a per-particle field as OVITO reads particle properties
            assert f.read_chunk(0, "log/particles/potential_energy").shape == (256,)
    step_graph(settings, src, tmp_path / "graph.npz")
    trained = load_sample(tmp_path / "graph.npz")
    # prediction: the same file read as a user's configuration, inputs built in memory
    info = {"inputs": InputSettings.from_record(record).record()}
    art = {"family": "ridge", "info": info, "n_descriptors": trained.descriptors.shape[1]}
    predicted = model_sample(read_configurations(eq)[0].wrapped(), art, {})
    for key in ("src", "dst", "vec", "types", "box"):
        np.testing.assert_array_equal(getattr(trained.graph, key), getattr(predicted.graph, key), err_msg=key)
    np.testing.assert_array_equal(trained.descriptors, predicted.descriptors)
    assert trained.descriptor_names == predicted.descriptor_names and "local_energy" in predicted.descriptor_names
    np.testing.assert_array_equal(np.asarray(trained.extra, np.float32), predicted.extra)


def test_as_stored_is_what_a_gsd_file_gives_back(tmp_path, liquid_256):
    final, energy, u = minimize(liquid_256, InputSettings().md_settings())
    assert energy.shape == (256,) and abs(energy.sum() / 256 - u) < 1e-6  # U_IS/N from the per-particle sum
    write_gsd(tmp_path / "is.gsd", final)
    np.testing.assert_array_equal(read_gsd(tmp_path / "is.gsd").positions, as_stored(final).positions)


def test_old_model_files_get_the_settings_they_were_trained_with():
    s = InputSettings.from_record({"positions": "inherent", "graph_cutoff": 2.0, "descriptors": {}})
    assert s.md_settings().engine == "lammps" and s.minimizer == {}
