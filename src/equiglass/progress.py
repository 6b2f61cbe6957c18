"""Progress reporting for long steps: a rich bar on a terminal, periodic log lines otherwise.

Snakemake sends each rule's stderr to its log file, where a redrawn bar would be noise, so
off a terminal a line is printed at most every ``every_s`` seconds and once at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


class Reporter:
    """Call ``update(done, **info)``; ``info`` values are shown next to the bar."""

    def __init__(self, label: str, total: float, unit: str = "", every_s: float = 10.0) -> None:
        self.label, self.total, self.unit, self.every_s = label, float(total), unit, every_s
        self.t0 = time.perf_counter()
        self._last = self.t0
        self._tty = sys.stderr.isatty()
        self._progress: Progress | None = None
        self.done = 0.0
        if self._tty:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=self.total, info="")

    def update(self, done: float, **info: object) -> None:
        self.done = float(done)
        text = "  ".join(f"{k}={_fmt(v)}" for k, v in info.items())
        now = time.perf_counter()
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, info=text)
        elif now - self._last >= self.every_s:
            self._last = now
            frac = self.done / self.total if self.total else 1.0
            eta = (now - self.t0) * (1 - frac) / frac if frac > 0 else float("nan")
            print(
                f"[{self.label}] {100 * frac:5.1f}% ({self.done:.0f}/{self.total:.0f} {self.unit})"
                f" elapsed {now - self.t0:.0f}s eta {eta:.0f}s {text}",
                file=sys.stderr,
                flush=True,
            )

    def close(self, summary: str = "") -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elapsed = time.perf_counter() - self.t0
        print(f"[{self.label}] done in {elapsed:.1f}s {summary}".rstrip(), file=sys.stderr, flush=True)


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@contextmanager
def reporter(label: str, total: float, unit: str = "", every_s: float = 10.0) -> Iterator[Reporter]:
    rep = Reporter(label, total, unit, every_s)
    try:
        yield rep
    finally:
        if rep._progress is not None:
            rep._progress.stop()
            rep._progress = None
