"""What each toxic does to the data of one link (one direction of one connection).

A link pushes every chunk it reads through the chain of toxics of its direction, in the order
they were added. Each toxic gets the chunk and an ``emit`` callback for the next stage, so a
toxic can delay (latency, bandwidth), split (slicer), truncate (limit_data), hold (timeout) or
drop the connection (reset_peer, limit_data, timeout). Semantics follow Toxiproxy's
``toxics/*.go``; every wait is interruptible (removing or updating a toxic releases what it
holds, like Toxiproxy's ``Interrupt``) and bounded by ``max_hold_s``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from drills.faultproxy.models import (
    BandwidthAttributes,
    LatencyAttributes,
    LimitDataAttributes,
    ResetPeerAttributes,
    SlicerAttributes,
    SlowCloseAttributes,
    Stream,
    TimeoutAttributes,
    ToxicAttributes,
)

__all__ = ["Chunk", "LinkClosed", "ActiveToxic", "Stub", "ToxicLink", "slice_offsets"]

# Toxics model randomness of the network (jitter, slicing, toxicity), not secrets.
_rng = random.Random()  # nosec B311


@dataclass
class Chunk:
    """Bytes read from one side, with the loop time they were read (latency counts from it)."""

    data: bytes
    ts: float


class LinkClosed(Exception):
    """Raised inside a link once a toxic closed or reset its connection; unwinds the pump."""


class ToxicLink(Protocol):
    """What a toxic may do to the connection its link belongs to."""

    stubs: dict[str, Stub]

    @property
    def max_hold_s(self) -> float:
        """The longest a toxic may hold data back (seconds)."""

    def close_connection(self) -> None:
        """Close both sides gracefully (FIN), after flushing what was written."""

    def reset_connection(self) -> None:
        """Reset both sides (SO_LINGER 0, so the peers see ECONNRESET)."""


Emit = Callable[[Chunk], Awaitable[None]]
EmitEof = Callable[[], Awaitable[None]]


@dataclass
class ActiveToxic:
    """A toxic installed on a proxy. An update replaces the object, so ``removed`` marks both."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: ToxicAttributes
    removed: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, object]:
        """The toxic as Toxiproxy shows it."""
        return {
            "attributes": self.attributes.model_dump(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream.value,
            "toxicity": self.toxicity,
        }


@dataclass
class _StubState:
    """Per-connection state a toxic keeps across chunks (survives an update of the toxic)."""

    bytes_sent: int = 0  # limit_data
    next_free: float = 0.0  # bandwidth: loop time when the link may send again


class Stub:
    """One toxic on one link: whether its toxicity roll hit, its state, interruptible waits."""

    def __init__(self, toxic: ActiveToxic, link: ToxicLink, state: _StubState | None = None):
        self.toxic = toxic
        self.link = link
        # Toxiproxy rolls once each time a toxic starts on a link (link start, add, update).
        self.active = toxic.toxicity >= 1.0 or _rng.random() < toxic.toxicity
        self.state = state or _StubState()
        self.watchdog: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        """The roll hit and the toxic is still installed."""
        return self.active and not self.toxic.removed.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (at most ``max_hold_s``); False if the toxic was removed meanwhile."""
        if self.toxic.removed.is_set():
            return False
        seconds = min(seconds, self.link.max_hold_s)
        if seconds <= 0:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self.toxic.removed.wait()
        except TimeoutError:
            return True
        return False

    def start_watchdog(self) -> None:
        """Start the toxic's own timer on this link (only ``timeout`` has one)."""
        if self.live and self.toxic.type == "timeout":
            self.watchdog = asyncio.get_running_loop().create_task(self._timeout_watchdog())

    def stop(self) -> None:
        """Stop the toxic's timer (the toxic was removed or the link ended)."""
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None

    async def _timeout_watchdog(self) -> None:
        attributes = cast(TimeoutAttributes, self.toxic.attributes)
        # timeout 0 holds "forever" in Toxiproxy; here at most max_hold_s, then closes.
        seconds = attributes.timeout / 1000 if attributes.timeout > 0 else self.link.max_hold_s
        if await self.sleep(seconds):
            self.link.close_connection()

    async def on_chunk(self, chunk: Chunk, emit: Emit) -> None:
        """Apply the toxic to one chunk, passing what survives to ``emit``."""
        handler = _CHUNK_HANDLERS.get(self.toxic.type)
        if handler is None:
            await emit(chunk)
        else:
            await handler(self, chunk, emit)

    async def on_eof(self, emit_eof: EmitEof) -> None:
        """Apply the toxic to the end of the stream (the source closed its side)."""
        kind = self.toxic.type
        if kind == "slow_close":
            attributes = cast(SlowCloseAttributes, self.toxic.attributes)
            await self.sleep(attributes.delay / 1000)
        elif kind == "timeout":
            await self._hold()
        elif kind == "reset_peer":
            # Toxiproxy's reset_peer fires on any input, the end of stream included.
            await self._reset_after_timeout()
        await emit_eof()

    async def _hold(self) -> None:
        # The watchdog closes the connection at the timeout; until then (or until the toxic is
        # removed, which releases the data as in Toxiproxy) nothing passes. Bounded for safety.
        stub: Stub | None = self
        while stub is not None:
            if await stub.sleep(self.link.max_hold_s):
                self.link.close_connection()
                raise LinkClosed
            # Released: removed (let the data go) or updated (hold on under the new version).
            successor = self.link.stubs.get(self.toxic.name)
            if successor is not None and successor is not stub and successor.toxic.type == "timeout" and successor.live:
                stub = successor  # held on
            else:
                stub = None

    async def _reset_after_timeout(self) -> None:
        attributes = cast(ResetPeerAttributes, self.toxic.attributes)
        if await self.sleep(attributes.timeout / 1000):
            self.link.reset_connection()
            raise LinkClosed


async def _latency(stub: Stub, chunk: Chunk, emit: Emit) -> None:
    attributes = cast(LatencyAttributes, stub.toxic.attributes)
    delay_ms = attributes.latency
    if attributes.jitter > 0:
        # Same distribution as Toxiproxy: latency + [-jitter, jitter).
        delay_ms += _rng.randrange(2 * attributes.jitter) - attributes.jitter
    # Counted from when the chunk was read, so a stream of chunks is delayed, not throttled.
    sleep = delay_ms / 1000 - (asyncio.get_running_loop().time() - chunk.ts)
    if sleep > 0:
        await stub.sleep(sleep)
    await emit(Chunk(chunk.data, chunk.ts + sleep))


async def _bandwidth(stub: Stub, chunk: Chunk, emit: Emit) -> None:
    attributes = cast(BandwidthAttributes, stub.toxic.attributes)
    if attributes.rate <= 0:
        await emit(chunk)
        return
    bytes_per_s = attributes.rate * 1000
    piece_size = attributes.rate * 100  # Toxiproxy sends large chunks in 100 ms pieces
    loop = asyncio.get_running_loop()
    data = chunk.data
    while data:
        piece, data = data[:piece_size], data[piece_size:]
        now = loop.time()
        start = max(now, stub.state.next_free)
        stub.state.next_free = start + len(piece) / bytes_per_s
        if not await stub.sleep(stub.state.next_free - now):
            await emit(Chunk(piece + data, chunk.ts))  # removed: flush, drop nothing
            return
        await emit(Chunk(piece, chunk.ts))


def slice_offsets(size: int, average: int, variation: int) -> list[tuple[int, int]]:
    """Split ``size`` bytes into pieces of about ``average`` ± ``variation`` (Toxiproxy's algorithm)."""
    pieces: list[tuple[int, int]] = []
    pending = [(0, size)]
    while pending:
        start, end = pending.pop()
        if (end - start) - average <= variation:
            pieces.append((start, end))
            continue
        offset = _rng.randrange(2 * variation) - variation if variation > 0 else 0
        mid = start + (end - start) // 2 + offset
        pending.append((mid, end))
        pending.append((start, mid))
    return pieces


async def _slicer(stub: Stub, chunk: Chunk, emit: Emit) -> None:
    attributes = cast(SlicerAttributes, stub.toxic.attributes)
    for start, end in slice_offsets(len(chunk.data), attributes.average_size, attributes.size_variation):
        await emit(Chunk(chunk.data[start:end], chunk.ts))
        if end < len(chunk.data) and not await stub.sleep(attributes.delay / 1_000_000):
            await emit(Chunk(chunk.data[end:], chunk.ts))
            return


async def _limit_data(stub: Stub, chunk: Chunk, emit: Emit) -> None:
    attributes = cast(LimitDataAttributes, stub.toxic.attributes)
    remaining = max(attributes.bytes - stub.state.bytes_sent, 0)
    data = chunk.data[:remaining]
    if data:
        await emit(Chunk(data, chunk.ts))
        stub.state.bytes_sent += len(data)
    if stub.state.bytes_sent >= attributes.bytes:
        stub.link.close_connection()
        raise LinkClosed


async def _timeout(stub: Stub, chunk: Chunk, emit: Emit) -> None:
    await stub._hold()
    await emit(chunk)


async def _reset_peer(stub: Stub, chunk: Chunk, emit: Emit) -> None:
    await stub._reset_after_timeout()
    await emit(chunk)


_CHUNK_HANDLERS: dict[str, Callable[[Stub, Chunk, Emit], Awaitable[None]]] = {
    "latency": _latency,
    "bandwidth": _bandwidth,
    "slicer": _slicer,
    "limit_data": _limit_data,
    "timeout": _timeout,
    "reset_peer": _reset_peer,
}
