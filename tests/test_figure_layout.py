"""Figure layouts a reader trips on: a colour-bar label running into the next panel, a caption far
below the axes. Geometry of the drawn figure (display units: pixels at the figure's dpi)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from equiglass.figures import ablations, pipeline, style


def content_bottom(fig, renderer) -> float:
    """Lowest drawn point of the axes (tick labels, x labels, colour bars included) [px]."""
    return min(ax.get_tightbbox(renderer).y0 for ax in fig.axes)


def caption_gap_inch(fig) -> float:
    """Space between the lowest axis element and the top of the caption [inch]."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (caption,) = [t for t in fig.texts if t.get_gid() == style.CAPTION_GID]
    return (content_bottom(fig, renderer) - caption.get_window_extent(renderer).y1) / fig.dpi


def colorbar_label_overlaps(fig) -> list[str]:
    """Colour-bar labels whose box meets another panel (its tick labels and axis labels)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
    panels = [ax for ax in fig.axes if ax not in bars]
    out = []
    for bar in bars:
        label = bar.yaxis.label
        if not label.get_text():
            continue
        box = label.get_window_extent(renderer)
        owner = bar._colorbar.mappable.axes
        out += [f"{label.get_text()!r} over {ax.get_title()!r}" for ax in panels
                if ax is not owner and box.overlaps(ax.get_tightbbox(renderer))]
    return out


@pytest.fixture
def snapshot_figure(tmp_path, monkeypatch):
    """The snapshot figure (true and predicted propensity side by side, a colour bar each) of a
    random 256-particle configuration, drawn and captioned as `equiglass figure snapshot` does."""
    rng = np.random.default_rng(0)
    n, box = 256, 6.0
    pos = rng.uniform(-box / 2, box / 2, size=(n, 3))
    types = (np.arange(n) >= 205).astype(np.int32)
    graphs = tmp_path / "graphs" / "T0.80"
    graphs.mkdir(parents=True)
    np.savez(graphs / "s000.npz", positions=pos, box=np.full(3, box))
    labels = ["Fs=0.9", "Fs=0.368"]
    np.savez(tmp_path / "prop.npz", propensity=rng.uniform(0.2, 0.6, size=(2, n)), types=types,
             metadata=json.dumps({"timescale_labels": labels, "kind": "displacement"}))
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"model": "se3gnn"}))
    np.savez(tmp_path / "eval.npz", **{"T0.80|s000|pred": rng.uniform(0.3, 0.4, size=(n, 2))})
    drawn = {}

    def keep(fig, output):
        style.place_captions(fig)
        drawn["fig"] = fig

    monkeypatch.setattr(pipeline, "savefig", keep)
    pipeline.fig_snapshot(tmp_path / "prop.npz", graphs / "s000.npz", ev, tmp_path / "snapshot.png",
                          caption="preset tiny: N=256, T=0.80, 1.00, 5 configurations per T, 4 replicas")
    yield drawn["fig"]
    style.plt.close(drawn["fig"])


def test_snapshot_colorbar_labels_stay_off_the_next_panel(snapshot_figure):
    assert len(snapshot_figure.axes) == 4  # two panels, two colour bars
    assert colorbar_label_overlaps(snapshot_figure) == []


def test_snapshot_caption_sits_under_the_axes(snapshot_figure):
    assert 0 < caption_gap_inch(snapshot_figure) < 0.3


def test_ablation_caption_and_notes(tmp_path, monkeypatch):
    """A two-panel ablation figure with a suptitle: the caption right under the axes, and the notes
    above the first and last settings inside their panel."""
    rows = [{"setting": s, "n_parameters": 1300, "rho_tau_alpha": r, "ci_tau_alpha": [r - 0.05, r + 0.05],
             "rho_shortest": r, "ci_shortest": [r - 0.02, r + 0.02],
             "delta_vs_reference_tau_alpha": [0.1, 0.03, 0.16], "delta_vs_reference_shortest": [0.02, 0.01, 0.04]}
            for s, r in (("1 layer", 0.1), ("2 layers", 0.0))]
    f = tmp_path / "ablation_depth.json"
    f.write_text(json.dumps({"study": "depth", "reference": "2 layers", "rows": rows}))
    drawn = {}
    monkeypatch.setattr(ablations, "savefig", lambda fig, output: (style.place_captions(fig), drawn.update(fig=fig)))
    ablations.fig_ablation(f, tmp_path / "a.png", caption="preset tiny")
    fig = drawn["fig"]
    try:
        assert 0 < caption_gap_inch(fig) < 0.3
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            frame = ax.get_window_extent(renderer)
            for note in ax.texts:
                b = note.get_window_extent(renderer)
                assert frame.x0 <= b.x0 and b.x1 <= frame.x1, note.get_text()
    finally:
        style.plt.close(fig)
