"""A real headless Chromium (Debian's ``chromium``) driven over the DevTools protocol, for
tests of pages that live and change (import as ``from tests.browser import Chromium``).

``--dump-dom`` shows a page once; a live page must be watched in place: this opens one tab,
records every console message, script exception and network request the page makes, and
evaluates JavaScript in it. The protocol is JSON over a WebSocket (``websockets``' sync
client, already in the venv through uvicorn[standard]), so no browser-driver package is
needed. The flags forbid any network but loopback: everything else goes to a dead proxy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

__all__ = ["CHROMIUM", "OFFLINE_FLAGS", "Chromium"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# No network at all: a page that fetches anything off loopback fails loudly (loopback itself
# is never sent to a proxy).
OFFLINE_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--proxy-server=http://127.0.0.1:9",
]


class Chromium:
    """One headless Chromium with one tab under the test's control (use as a context manager)."""

    def __init__(self, profile_dir: Path, *, width: int = 1600, height: int = 1200, start_timeout_s: float = 60.0):
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed (scripts/install-system-tools installs it)")
        profile_dir.mkdir(parents=True, exist_ok=True)
        port_file = profile_dir / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [CHROMIUM, *OFFLINE_FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile_dir}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        deadline = time.monotonic() + start_timeout_s
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10, trust_env=False).json()
        page = next(t for t in targets if t["type"] == "page")
        self.ws: ClientConnection = connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def send(self, method: str, timeout_s: float = 60.0, **params: Any) -> dict[str, Any]:
        """Call one DevTools method; events arriving meanwhile are kept in :attr:`events`."""
        self._next_id += 1
        call = self._next_id
        self.ws.send(json.dumps({"id": call, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def navigate(self, url: str) -> None:
        """Open ``url`` in the tab."""
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the tab's viewport."""
        import base64

        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        return path

    def console_problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser-logged errors so far."""
        problems = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                problems.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                problems.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                problems.append(f"log {entry.get('level')}: {entry.get('text')} {entry.get('url', '')}")
        return problems

    def requested_urls(self) -> list[str]:
        """Every URL the tab asked the network for so far (documents, scripts, fetches, icons)."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        """Close the connection and the browser (bounded)."""
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
