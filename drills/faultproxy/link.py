"""One proxied TCP connection: two links (upstream and downstream), each a read → toxics → write pump.

Each link has a reader task (source → bounded queue, timestamping chunks as Toxiproxy does) and a
writer task that takes chunks in order and pushes each through the chain of toxics *as it is at
that moment*, so adding, updating or removing a toxic applies to the next data immediately.
An end of stream from the source half-closes the destination (after the chain has seen it);
the connection is closed when both links are done, or at once when a toxic closes/resets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
from collections.abc import Callable
from typing import Any

from drills.faultproxy.models import Stream
from drills.faultproxy.toxics import ActiveToxic, Chunk, LinkClosed, Stub

__all__ = ["Connection", "Link"]

_READ_SIZE = 32 * 1024  # Go's io.Copy buffer, which Toxiproxy reads with
_QUEUE_CHUNKS = 256  # read-ahead per link, so latency delays data without throttling it


class Link:
    """One direction of a connection and the per-connection state of its toxics."""

    def __init__(
        self,
        connection: Connection,
        stream: Stream,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ):
        self.connection = connection
        self.stream = stream
        self.reader = reader
        self.writer = writer
        self.stubs: dict[str, Stub] = {}
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=_QUEUE_CHUNKS)
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def max_hold_s(self) -> float:
        """Upper bound of every wait a toxic makes on this link."""
        return self.connection.max_hold_s

    def close_connection(self) -> None:
        """Close the whole connection gracefully (a toxic asked for it)."""
        self.connection.close()

    def reset_connection(self) -> None:
        """Reset the whole connection (a toxic asked for it)."""
        self.connection.close(reset=True)

    # Toxic bookkeeping -------------------------------------------------------------------

    def attach(self, toxic: ActiveToxic) -> Stub:
        """Start ``toxic`` on this link (new roll of its toxicity, state kept across updates)."""
        previous = self.stubs.pop(toxic.name, None)
        if previous is not None:
            previous.stop()
        stub = Stub(toxic, self, previous.state if previous is not None else None)
        self.stubs[toxic.name] = stub
        stub.start_watchdog()
        return stub

    def detach(self, name: str) -> None:
        """Stop the toxic named ``name`` on this link."""
        stub = self.stubs.pop(name, None)
        if stub is not None:
            stub.stop()

    def _stub(self, toxic: ActiveToxic) -> Stub:
        stub = self.stubs.get(toxic.name)
        if stub is None or stub.toxic is not toxic:
            stub = self.attach(toxic)
        return stub

    # Pumps -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader and writer tasks."""
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._read_loop()), loop.create_task(self._write_loop())]

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.reader.read(_READ_SIZE)
                if not data:
                    break
                await self._queue.put(Chunk(data, loop.time()))
        except OSError:
            pass  # a reset or broken source ends the stream like an EOF (as io.Copy does)
        await self._queue.put(None)

    async def _write_loop(self) -> None:
        try:
            while True:
                chunk = await self._queue.get()
                chain = self.connection.chain(self.stream)
                if chunk is None:
                    await self._push_eof(chain, 0)
                    return
                await self._push(chain, 0, chunk)
        except LinkClosed:
            return
        except OSError:
            self.connection.close()
        finally:
            for stub in self.stubs.values():
                stub.stop()

    def _next_live(self, chain: list[ActiveToxic], index: int) -> tuple[int, Stub | None]:
        while index < len(chain):
            # A toxic removed or replaced since this chunk's snapshot is skipped without touching
            # the stubs (its name may already belong to a newer toxic).
            if not chain[index].removed.is_set():
                stub = self._stub(chain[index])
                if stub.live:
                    return index, stub
            index += 1
        return index, None

    async def _push(self, chain: list[ActiveToxic], index: int, chunk: Chunk) -> None:
        index, stub = self._next_live(chain, index)
        if stub is None:
            await self._write(chunk.data)
            return
        next_index = index + 1
        await stub.on_chunk(chunk, functools.partial(self._push, chain, next_index))

    async def _push_eof(self, chain: list[ActiveToxic], index: int) -> None:
        index, stub = self._next_live(chain, index)
        if stub is None:
            self._write_eof()
            return
        next_index = index + 1
        await stub.on_eof(lambda: self._push_eof(chain, next_index))

    async def _write(self, data: bytes) -> None:
        if self.connection.closed:
            raise LinkClosed
        self.writer.write(data)
        await self.writer.drain()

    def _write_eof(self) -> None:
        if self.connection.closed:
            raise LinkClosed
        with contextlib.suppress(OSError, RuntimeError):
            if self.writer.can_write_eof():
                self.writer.write_eof()


class Connection:
    """A client connection proxied to its upstream, with its two links."""

    def __init__(
        self,
        chains: Callable[[Stream], list[ActiveToxic]],
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        max_hold_s: float,
    ):
        self._chains = chains
        self.max_hold_s = max_hold_s
        self.client_writer = client[1]
        self.upstream_writer = upstream[1]
        self.links = {
            Stream.UPSTREAM: Link(self, Stream.UPSTREAM, client[0], upstream[1]),
            Stream.DOWNSTREAM: Link(self, Stream.DOWNSTREAM, upstream[0], client[1]),
        }
        self.closed = False
        self._done = asyncio.Event()

    def chain(self, stream: Stream) -> list[ActiveToxic]:
        """The toxics of ``stream`` right now (a copy: the chain may change while a chunk flows)."""
        return list(self._chains(stream))

    async def run(self) -> None:
        """Pump both directions until both ends are closed (or the connection is closed)."""
        for link in self.links.values():
            for toxic in self.chain(link.stream):
                link.attach(toxic)
            link.start()
        writers = [link.tasks[1] for link in self.links.values()]
        waiter: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*writers, return_exceptions=True))
        closed: asyncio.Future[Any] = asyncio.ensure_future(self._done.wait())
        try:
            await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            self.close()
            await asyncio.gather(waiter, return_exceptions=True)

    def close(self, *, reset: bool = False) -> None:
        """Close both sides: gracefully (flush, FIN) or by reset (SO_LINGER 0 → RST). Idempotent."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client_writer, self.upstream_writer):
            if reset:
                _abort_with_rst(writer)
            else:
                writer.close()
        current = asyncio.current_task()
        for link in self.links.values():
            for stub in link.stubs.values():
                stub.stop()
            for task in link.tasks:
                if task is not current:
                    task.cancel()
        self._done.set()


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # Linger on, timeout 0: close() discards unsent data and sends RST (as Toxiproxy does).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
