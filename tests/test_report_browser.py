"""The tiny run's results/report.html as a reader sees it: opened in a real headless Chromium
(Debian's ``chromium``, installed with apt-get where this runs as root; skipped with the reason
elsewhere), every figure shown the way the report's own result buttons show it must decode to a
non-empty image, and the console must stay free of errors."""

from __future__ import annotations

import pytest
from headless_chromium import Browser, install_chromium

pytestmark = pytest.mark.xdist_group("tiny_run")  # the worker that has the tiny run

# shows every category of the menu, then every image result as its eye button does
# (app.setView with the result's data URI), and reports the <img> the report rendered for it
SHOW_EVERY_FIGURE = """
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  for (const category of Object.keys(categories)) { app.showCategory(category); await sleep(50); }
  const out = [];
  for (const [path, entry] of Object.entries(results)) {
    if (!entry.mime_type.startsWith("image/")) continue;
    app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
    let img;
    for (let i = 0; i < 500 && !(img && img.complete); i++) {
      await sleep(10);
      img = [...document.querySelectorAll("#app img")].find(x => x.getAttribute("src") === entry.data_uri);
    }
    if (img) { try { await img.decode(); } catch (e) {} }
    const box = img ? img.getBoundingClientRect() : {width: 0, height: 0};
    out.push({path, shown: !!img, complete: !!img && img.complete, naturalWidth: img ? img.naturalWidth : 0,
              width: box.width, height: box.height});
  }
  return out;
})()
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return install_chromium()
    except RuntimeError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def shown(chromium, tiny_report):
    """(figures as the report showed them, the errors the page reported)."""
    with Browser(chromium) as browser:
        page = browser.new_page()
        page.open(tiny_report)
        ready = page.evaluate("typeof app === 'object' && document.querySelector('#app').children.length > 0")
        figures = page.evaluate(SHOW_EVERY_FIGURE) if ready else []
        return ready, figures, page.errors()


def test_report_app_starts_without_errors(shown):
    ready, _, errors = shown
    assert ready, "the report's app did not render into #app"
    assert errors == [], "the browser console reported:\n" + "\n".join(errors)


def test_every_figure_renders(shown):
    _, figures, _ = shown
    names = {f["path"].rsplit("/", 1)[-1] for f in figures}
    for name in ("dynamics.png", "rho_vs_time.png", "training_curves.png", "snapshot_T0.80.png", "transfer.png",
                 "generalization_matrix.png", "interpretability_map.png", "ablation_lmax.png", "learning_curves.png"):
        assert name in names, f"{name} is not in the report"
    broken = [f for f in figures if not (f["shown"] and f["complete"] and f["naturalWidth"] > 0 and f["width"] > 0)]
    assert not broken, f"figures that did not render: {broken}"


def test_without_chromium_the_reason_is_given(monkeypatch):
    """Where Chromium is missing and cannot be installed, the tests skip saying why."""
    import headless_chromium as H

    monkeypatch.setattr(H, "find_chromium", lambda: None)
    monkeypatch.setattr(H.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="no apt-get"):
        H.install_chromium()
    monkeypatch.setattr(H.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(H.os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeError, match="not root"):
        H.install_chromium()
