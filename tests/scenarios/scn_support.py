"""Helpers for the scenarios tests: a local keep-alive HTTP server in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
PYTHON = sys.executable


@dataclass
class SupportServer:
    """Handle on ``support_server.py`` running in a subprocess."""

    base_url: str
    process: subprocess.Popen

    def get_json(self, path: str) -> dict:
        # A fresh connection each call (urllib does not keep alive).
        with urllib.request.urlopen(self.base_url + path, timeout=10) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())

    def accepted(self) -> int:
        """TCP connections the server accepted, this query excluded."""
        return int(self.get_json("/stats")["accepted"])


def start_support_server() -> SupportServer:
    """Start the server and wait for its ``PORT n`` line."""
    proc = subprocess.Popen(
        [PYTHON, str(HERE / "support_server.py")], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"support server did not start: {line!r}")
    return SupportServer(f"http://127.0.0.1:{int(line.split()[1])}", proc)
