"""Batches of a Faust stream that fill while the previous batch is processed, acked only once processed.

Faust's ``stream.take_events`` stops filling its buffer while the agent handles a batch, and acks a
batch's events as soon as the agent asks for the next one. The worker wants the opposite on both
counts: the event loop should gather batch *k + 1* while the state thread counts batch *k* (the
two overlap, since the counting thread often waits outside the interpreter lock, in signature
checks, numpy and SQLite), and an event must not be acked (so its offset committed) before the
state that counted it is durable. :class:`PipelinedBatches` does both: it fills one buffer at a
time, hands a full (or timed-out) buffer to the agent at once, and acks a batch's events only when
the agent says that batch is done, in order.

This uses the same stream hooks as ``take_events`` (a processor that appends to the buffer and the
passive drainer that drives it), so Faust's flow control and rebalancing behave as for ``take``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import faust
from faust.types import EventT

__all__ = ["PipelinedBatches"]


class PipelinedBatches:
    """Batches of at most ``max_events`` events from ``stream``, or fewer after ``within`` seconds.

    Usage::

        batches = PipelinedBatches(stream, 500, 0.5)
        async for events in batches:   # an empty list when nothing came within ``within``
            ...                        # start processing; the next batch fills meanwhile
            await batches.done(events)  # once processed: ack them (offsets may now be committed)
    """

    def __init__(self, stream: faust.StreamT, max_events: int, within: float) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1 (got {max_events})")
        self.stream, self.max_events, self.within = stream, max_events, within
        self._buffer: list[EventT] = []
        self._full = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    async def _add(self, value: Any) -> Any:
        """The stream processor: every event passes through here on its way to the buffer."""
        event = self.stream.current_event
        if event is None:  # pragma: no cover - Faust sets it before running processors
            raise RuntimeError("Faust gave a value without its event")
        self._buffer.append(event)
        if len(self._buffer) >= self.max_events:
            self._full.set()
            self._space.clear()
            # Until the agent takes the buffer. Faust's Stream has wait(); StreamT, the type it declares, does not.
            await self.stream.wait(self._space)  # type: ignore[attr-defined]
        return value

    async def __aiter__(self) -> AsyncIterator[list[EventT]]:
        stream = self.stream
        acks = stream.enable_acks
        stream.enable_acks = False  # events are acked in done(), once processed
        stream.add_processor(self._add)
        stream._enable_passive(aiter(stream.channel))  # type: ignore[attr-defined]  # as take_events does
        try:
            while not stream.should_stop:
                # Stream has wait_for_stopped(); StreamT, the type Faust declares, does not.
                await stream.wait_for_stopped(self._full, timeout=self.within)  # type: ignore[attr-defined]
                if not self._buffer:
                    yield []  # nothing came within the time: the agent may settle what it has in flight
                    continue
                events, self._buffer = self._buffer, []
                self._full.clear()
                self._space.set()  # the next batch starts filling now
                yield events
        finally:
            stream.enable_acks = acks
            stream._processors.remove(self._add)  # type: ignore[attr-defined]  # Stream's, not in StreamT

    async def done(self, events: Sequence[EventT]) -> None:
        """Ack ``events`` (a batch this iterator gave, once it is processed and its state committed)."""
        for event in events:
            await self.stream.ack(event)
