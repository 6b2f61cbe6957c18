"""One rule for matching timescale labels (evaluation of subset models, the generalization table)."""

import pytest

from equiglass.timescales import aligned, match_timescales

GRID = ["Fs=0.9", "Fs=0.7", "Fs=0.368"]


def test_a_subset_is_matched_by_label():
    assert match_timescales(["Fs=0.9", "Fs=0.368"], GRID) == [0, 2]
    assert aligned([0.5, 0.3], ["Fs=0.9", "Fs=0.368"], GRID) == [0.5, None, 0.3]


def test_temperature_dependent_labels_are_matched_by_position():
    assert match_timescales(["t=1", "t=10", "t=100"], ["t=2", "t=20", "t=200"]) is None
    assert aligned([1, 2, 3], ["t=1", "t=10", "t=100"], ["t=2", "t=20", "t=200"]) == [1, 2, 3]
    assert match_timescales(GRID, GRID) is None


def test_neither_is_an_error():
    with pytest.raises(ValueError, match="not among"):
        match_timescales(["t=1", "t=10"], GRID)
