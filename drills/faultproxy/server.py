"""Run the fault proxy: the HTTP API and every proxy on one asyncio event loop.

:class:`FaultProxyServer` is the in-process entry point for drill runners::

    server = FaultProxyServer("127.0.0.1", 0)     # port 0: pick a free port
    server.start()                                # own event loop in a daemon thread
    client = ToxiproxyClient(server.api_url)
    ...
    server.stop()                                 # closes the API, listeners, connections

Inside an event loop that is already running, use ``await server.start_async()`` /
``await server.stop_async()`` instead: the API and proxies then run as tasks of that loop
(keep the loop free to run them; blocking calls in it would stall the proxied traffic).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Generator, Iterable
from pathlib import Path

import uvicorn

from drills.faultproxy.api import create_app
from drills.faultproxy.errors import FaultProxyApiError
from drills.faultproxy.models import ProxySpec, parse_proxy_spec
from drills.faultproxy.proxy import FaultProxySettings, ProxyRegistry
from kernel.allowlist import Allowlist, is_loopback_host
from kernel.errors import ConfigError, ConfigProblem, TargetNotAllowed

__all__ = ["FaultProxyServer", "load_proxy_config"]


def load_proxy_config(path: Path) -> list[ProxySpec]:
    """Read a Toxiproxy ``-config`` file (a JSON list of proxies); errors name file and field."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc.strerror}")]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), exc.lineno, "", f"invalid JSON: {exc.msg}")]) from None
    if not isinstance(body, list):
        raise ConfigError([ConfigProblem(str(path), 1, "", "expected a JSON list of proxies")])
    specs, problems = [], []
    for index, item in enumerate(body):
        try:
            specs.append(parse_proxy_spec(item, where=f" at proxy {index + 1}"))
        except FaultProxyApiError as exc:
            problems.append(ConfigProblem(str(path), None, f"[{index}]", exc.message))
    if problems:
        raise ConfigError(problems)
    return specs


class _ApiServer(uvicorn.Server):
    """uvicorn without its signal handling: Ctrl-C belongs to the drill runner, whose cleanup
    still needs the API to remove faults; the owner stops the server explicitly."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _cancel_remaining() -> None:
    """Cancel what is left on the loop (connection handlers winding down) and let it finish."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class FaultProxyServer:
    """A Toxiproxy-compatible fault proxy (HTTP API + TCP proxies) run in-process.

    ``allow_hosts`` / ``allowlist`` name upstream hosts other than loopback that proxies may
    forward to; ``allow_public_listen`` lets the API and proxies listen off loopback;
    ``max_hold_s`` bounds every hold (``timeout`` 0, huge latencies); ``config`` is a list
    of proxies (or a path to a Toxiproxy config JSON file) created at start.
    """

    def __init__(
        self,
        api_host: str = "127.0.0.1",
        api_port: int = 8474,
        *,
        allowlist: Allowlist | None = None,
        allow_hosts: Iterable[str] = (),
        allow_public_listen: bool = False,
        max_hold_s: float = 300.0,
        config: Path | list[ProxySpec] | None = None,
    ):
        if not allow_public_listen and not is_loopback_host(api_host):
            raise TargetNotAllowed(
                f"fault proxy API host {api_host!r} is not a loopback address; use --allow-public-listen to allow it"
            )
        if max_hold_s <= 0:
            raise ValueError(f"max_hold_s must be > 0, got {max_hold_s}")
        self.api_host = api_host
        self.api_port = api_port
        self.settings = FaultProxySettings(
            allowlist=allowlist or Allowlist(allow_hosts),
            allow_public_listen=allow_public_listen,
            max_hold_s=max_hold_s,
        )
        self._config = load_proxy_config(config) if isinstance(config, Path) else list(config or [])
        self.registry: ProxyRegistry | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def api_url(self) -> str:
        """Base URL of the HTTP API (with the real port once started)."""
        host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
        return f"http://{host}:{self.api_port}"

    # In an existing event loop -------------------------------------------------------------

    async def start_async(self) -> None:
        """Start the API and the configured proxies as tasks of the running loop."""
        registry = ProxyRegistry(self.settings)
        try:
            if self._config:
                await registry.populate(self._config)
        except FaultProxyApiError as exc:
            await registry.close()
            raise ConfigError([ConfigProblem("proxies config", None, "", exc.message)]) from None
        sock = socket.socket(socket.AF_INET6 if ":" in self.api_host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.api_host, self.api_port))
            sock.listen(128)
        except OSError:
            sock.close()
            await registry.close()
            raise
        self.api_port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(registry), log_level="warning", access_log=False, lifespan="off")
        server = _ApiServer(config)
        self.registry, self._uvicorn = registry, server
        self._serve_task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._serve_task.done():
                await registry.close()
                self._serve_task.result()  # re-raise why uvicorn stopped
                raise RuntimeError("fault proxy API stopped while starting")
            await asyncio.sleep(0.01)

    async def stop_async(self) -> None:
        """Stop the API, every listener and every connection. Idempotent."""
        if self._uvicorn is not None and self._serve_task is not None:
            self._uvicorn.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._serve_task), timeout=5)
            except TimeoutError:
                self._uvicorn.force_exit = True
                await asyncio.gather(self._serve_task, return_exceptions=True)
        if self.registry is not None:
            await self.registry.close()
        self._uvicorn = self._serve_task = None

    # In a thread of its own -----------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start in a daemon thread with its own event loop; return once the API answers."""
        if self._thread is not None:
            raise RuntimeError("fault proxy server already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # noqa: BLE001 - whatever failed is handed to the caller of start(), which re-raises it
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                loop.run_until_complete(_cancel_remaining())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="dientap-faultproxy", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"fault proxy did not start within {timeout} s")
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread started by :meth:`start` (closes the API, listeners, connections)."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = self._loop = None

    def __enter__(self) -> FaultProxyServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
