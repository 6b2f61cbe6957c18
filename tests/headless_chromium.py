"""A headless Chromium driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), with the standard library only.

Protocol: https://chromedevtools.github.io/devtools-protocol/ (Target.attachToTarget with
``flatten``: page commands carry the ``sessionId``).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    return next((path for name in NAMES if (path := shutil.which(name))), None)


def install_chromium() -> str:
    """Chromium's path, installed with apt-get (Debian's ``chromium``) if missing; raises
    RuntimeError with the reason where that cannot be done here (no apt-get, not root)."""
    if found := find_chromium():
        return found
    if not shutil.which("apt-get"):
        raise RuntimeError("no chromium on PATH and no apt-get to install it (install Debian's `chromium`)")
    if os.geteuid() != 0:
        raise RuntimeError("no chromium on PATH and not root (run: sudo apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    res = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
    if res.returncode != 0:  # stale package lists: update them once
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=600)
        res = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
    if res.returncode != 0 or not find_chromium():
        raise RuntimeError(f"apt-get install chromium failed (exit {res.returncode}): {res.stderr.strip()[-500:]}")
    return find_chromium() or ""


class Browser:
    """One headless Chromium; ``with Browser(exe) as b: page = b.new_page()``."""

    def __init__(self, executable: str, width: int = 1600, height: int = 1000):
        self.profile = tempfile.mkdtemp(prefix="equiglass-chromium-")
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        # the child's ends moved to 10 and above, so that putting them on 3 and 4 clobbers nothing
        ends = []
        for fd in (to_child, from_child):
            ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD, 10))
            os.close(fd)
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"]
        # Chromium reads commands from file descriptor 3 and writes replies and events to 4
        shell = f'exec "$0" "$@" 3<&{ends[0]} 4>&{ends[1]} {ends[0]}<&- {ends[1]}>&-'
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: Chromium never blocks on it
        self.process = subprocess.Popen(["bash", "-c", shell, *args], pass_fds=tuple(ends),
                                        stdout=subprocess.DEVNULL, stderr=self._stderr)
        for fd in ends:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # already gone
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # ------------------------------------------------------------------------- messages
    def _read(self, deadline: float) -> dict[str, Any] | None:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    self._stderr.seek(0)
                    err = self._stderr.read().decode(errors="replace")
                    raise RuntimeError(f"chromium closed the DevTools pipe: {err[-2000:]}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while (reply := self._read(deadline)) is not None:
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(f"{method}: no reply in {timeout} s")

    def wait_event(self, method: str, session: str | None = None, timeout: float = 60) -> dict[str, Any]:
        """The first event ``method`` (of ``session``) not yet seen by a wait."""
        deadline = time.monotonic() + timeout
        while True:
            for k, ev in enumerate(self.events):
                if ev.get("method") == method and (session is None or ev.get("sessionId") == session) \
                        and not ev.get("_seen"):
                    ev["_seen"] = True
                    return self.events[k]
            ev = self._read(deadline)
            if ev is None:
                raise TimeoutError(f"no {method} in {timeout} s")
            self.events.append(ev)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        return page


class Page:
    """A tab: navigate, evaluate JavaScript, and the errors it reported."""

    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        return self.browser.send(method, params, self.session, timeout)

    def open(self, path: Path, timeout: float = 120) -> None:
        """Load a local file and wait for its load event."""
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.browser.wait_event("Page.loadEventFired", self.session, timeout)

    def evaluate(self, expression: str, timeout: float = 120) -> Any:
        """Value of a JavaScript expression (promises awaited); JavaScript exceptions raise."""
        res = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                             "returnByValue": True}, timeout)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JavaScript error: {json.dumps(res['exceptionDetails'])[:2000]}")
        return res["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """The visible part of the tab as PNG."""
        import base64

        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"]))

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads) of this tab."""
        out = []
        for ev in self.browser.events:
            if ev.get("sessionId") != self.session:
                continue
            p = ev.get("params", {})
            if ev.get("method") == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"uncaught: {d.get('exception', {}).get('description') or d.get('text')}")
            elif ev.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                         for a in p.get("args", [])))
            elif ev.get("method") == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log ({p['entry'].get('source')}): {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out
