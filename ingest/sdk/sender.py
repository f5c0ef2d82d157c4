"""The SDK's background sender: batch queued events into signed records, deliver them, spool what fails.

One daemon thread per client. Each cycle it takes what ``emit()`` queued, groups the events by
partition (from the actor pseudonym), cuts each group into records bounded by event count and bytes,
serialises and signs each record once, and hands it to the transport. A record the broker does not
acknowledge (after the producer's own retries, within ``delivery_timeout_s``) goes to the disk spool.
While the broker is down, new records go straight to the spool; the sender probes the broker again
after an exponential backoff with full jitter, and once a probe succeeds it drains the spool, oldest
record first, while sending new records as usual.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.errors import FlockviewError
from ingest.sdk.queue import EventQueue, partition_records, resplit
from ingest.sdk.spool import Spool, SpooledRecord, SpoolError
from ingest.sdk.transport import SignedRecord, Transport, TransportError

log = logging.getLogger("flockview.sdk")
_MAX_EVENTS_PER_CYCLE = 100_000


class DeliveryError(FlockviewError, RuntimeError):
    """Events that could not be delivered or kept, reported to ``on_error`` (never raised by ``emit``).

    Attributes:
        kind: ``queue_full`` (dropped at emit), ``spool_full`` (dropped), ``send_failed`` (spooled, will
            be retried), ``spool_error`` (the spool could not be written; dropped).
        events: how many events it concerns.
    """

    def __init__(self, kind: str, events: int, detail: str) -> None:
        super().__init__(f"{kind}: {events} event(s): {detail}")
        self.kind, self.events, self.detail = kind, events, detail


@dataclass
class Counters:
    """Raw counters, updated under the sender's lock."""

    emitted: int = 0
    dropped_queue_full: int = 0
    dropped_spool_full: int = 0
    dropped_spool_error: int = 0
    delivered_events: int = 0
    delivered_records: int = 0
    send_errors: int = 0
    spooled_records: int = 0
    spooled_events: int = 0
    drained_records: int = 0


class Health:
    """Whether the broker is believed up, and when to probe it again (exponential backoff, full jitter)."""

    def __init__(self, first: float, cap: float, rng: random.Random | None = None) -> None:
        self.first, self.cap = first, cap
        self.up = True
        self.failures = 0
        self.next_probe = 0.0
        self._rng = rng or random.Random()

    def failed(self, now: float) -> None:
        self.up = False
        self.failures += 1
        ceiling = min(self.cap, self.first * 2 ** min(self.failures - 1, 30))
        self.next_probe = now + self._rng.uniform(self.first / 2, ceiling)

    def succeeded(self) -> None:
        self.up, self.failures = True, 0

    def may_send(self, now: float) -> bool:
        return self.up or now >= self.next_probe


class Sender:
    """Drains a client's queue in a background thread. See the module docstring.

    Args:
        queue: the :class:`ingest.sdk.queue.EventQueue` ``emit()`` puts events in.
        transport: where records go.
        spool: the disk spool, or None to drop what cannot be delivered.
        settings: the client's :class:`ingest.sdk.settings.SDKSettings`.
        on_error: called with a :class:`DeliveryError` (exceptions it raises are logged).
        on_space: called after the sender took events off a full queue.
    """

    def __init__(
        self,
        queue: EventQueue,
        provider: str,
        key: Ed25519PrivateKey,
        transport: Transport,
        spool: Spool | None,
        settings: Any,
        on_error: Callable[[DeliveryError], None] | None,
        on_space: Callable[[], None],
    ) -> None:
        self.queue, self.provider, self.transport, self.spool = queue, provider, transport, spool
        self.key = key
        self.s = settings
        self.on_error, self.on_space = on_error, on_space
        self.counters = Counters()
        self.health = Health(settings.retry_backoff_s, settings.retry_backoff_max_s)
        self.partitions = len(queue.lanes)
        #: Queued events worth a full record per partition: emit() wakes the sender at this length.
        self.wake_at = min(settings.batch_events * settings.partitions, settings.queue_size)
        self.lock = threading.Condition()
        self.wake = threading.Event()
        self.in_flight: dict[int, SignedRecord] = {}
        self.failed: deque[tuple[SignedRecord, Exception]] = deque()
        self.busy = False  # holding events taken off the queue
        self.flushing = 0  # threads waiting in flush(): partial records go out at once
        self.stopping = False
        self._linger = settings.linger_ms / 1000
        self._crowded = max(1, settings.queue_size // 2)  # from this length on, partial records go out at once
        self._send_partial_at = 0.0  # when the events gathering in partial records have waited long enough
        self.thread = threading.Thread(target=self._run, name=f"flockview-sdk-{provider}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self.wake.wait(0.01 if self.failed else max(0.0, self._send_partial_at - time.monotonic()))
            self.wake.clear()
            try:
                done = self._cycle()
            except Exception:  # a bug: keep the thread alive, the data stays queued or spooled
                log.exception("this is a bug: the Flockview sender cycle failed")
                done = False
                time.sleep(0.1)
            if done:
                return

    def _cycle(self) -> bool:
        """One pass; returns True when stopping and nothing is left to do.

        Full records go out as soon as they are full; what gathers in partial ones waits until the
        linger has passed since the last time partial records were sent (or a flush, or the stop, or
        the queue being half full: then waiting for full records would only make emit() drop or block).
        """
        while True:
            self._spool_failures()
            now = time.monotonic()
            everything = (
                self.stopping or self.flushing > 0 or now >= self._send_partial_at or len(self.queue) >= self._crowded
            )
            if everything:
                self._send_partial_at = now + self._linger
            if len(self.queue):
                self._send_queued(everything)
            self._drain_spool()  # between batches too, so a steady stream does not starve the spool
            if not (
                self.queue.has_full(self.s.batch_events)
                or len(self.queue) >= self._crowded
                or (len(self.queue) and (self.stopping or self.flushing))
            ):
                break  # a few events: let them gather for full records (emit() wakes us, or the linger ends)
        with self.lock:
            self.lock.notify_all()
            return self.stopping and not len(self.queue) and not self.failed

    def _send_queued(self, everything: bool) -> None:
        if not self.stopping and self.health.may_send(time.monotonic()):
            self._refresh_partitions()  # before taking: the queue's lanes follow the partition count
        with self.lock:
            self.busy = True
        try:
            groups = self.queue.take(self.s.batch_events, everything, _MAX_EVENTS_PER_CYCLE)
            self.on_space()
            try:
                for record in partition_records(
                    groups, self.partitions, self.provider, self.key, self.s.batch_events, self.s.batch_bytes
                ):
                    self._dispatch(record)
            except Exception:  # a bug; keep the events on disk rather than lose them
                log.exception("this is a bug: sending %d events failed; spooling them", sum(len(t) for _, t in groups))
                self._spool_groups(groups)
        finally:
            with self.lock:
                self.busy = False

    def _refresh_partitions(self) -> None:
        try:
            self.partitions = self.transport.connect()
        except TransportError as exc:
            self._mark_down(exc)
        self.queue.resize(self.partitions)

    def _dispatch(self, record: SignedRecord) -> None:
        """Send ``record`` if the broker may be up (waiting for an in-flight slot), else spool it."""
        while True:
            now = time.monotonic()
            if self.stopping or not self.health.may_send(now) or (not self.health.up and self.in_flight):
                self._to_spool(record, None)  # down, or a probe is already out
                return
            with self.lock:
                if len(self.in_flight) < self.s.max_in_flight_records:
                    record.sent_at = now
                    self.in_flight[id(record)] = record
                    break
                self.lock.wait(0.05)
            self._unblock(now)
        try:
            self.transport.send(record, functools.partial(self._done, record))
        except TransportError as exc:
            with self.lock:
                self.in_flight.pop(id(record), None)
            self._mark_down(exc)
            self._to_spool(record, exc)

    def _unblock(self, now: float) -> None:
        """While waiting for a slot: handle failures, and give up on a producer that stopped answering."""
        if self.failed:
            self._spool_failures()
            return
        with self.lock:
            oldest = min((r.sent_at for r in self.in_flight.values()), default=now)
        if now - oldest > self.s.delivery_timeout_s + 10:
            self._mark_down(TransportError(f"no answer from the producer for {now - oldest:.0f} s"))

    def _done(self, record: SignedRecord, exc: Exception | None) -> None:
        """The transport's verdict on a record (called from the producer's I/O thread)."""
        with self.lock:
            if self.in_flight.pop(id(record), None) is None:
                return  # already spooled at close
            if exc is None:
                self.counters.delivered_events += record.events
                self.counters.delivered_records += 1
                self.counters.drained_records += record.spool_name is not None
                self.health.succeeded()
            else:
                self.counters.send_errors += 1
                self.failed.append((record, exc))
            self.lock.notify_all()
        if exc is None and record.spool_name and self.spool is not None:
            self.spool.remove(record.spool_name)
        if exc is not None or record.spool_name is not None:
            self.wake.set()  # a failure to spool, or a drained record: the spool may send the next ones
        # A plain acknowledgement needs no extra cycle (flush() and a sender waiting for a slot are
        # woken by notify_all above): one wake-up per acknowledged record costs the caller's thread
        # an interpreter-lock hand-off each.

    def _mark_down(self, exc: Exception) -> None:
        now = time.monotonic()
        if self.health.up:
            self._report(DeliveryError("broker_unreachable", 0, f"{exc}; records go to the spool until it returns"))
        elif now < self.health.next_probe:
            return  # a record sent before the outage was noticed: no new information, no longer backoff
        self.health.failed(now)
        self.transport.reset()
        with self.lock:  # what the discarded producer held will never be reported on: spool it (at least once)
            stranded, self.in_flight = list(self.in_flight.values()), {}
            self.failed.extend((record, exc) for record in stranded)

    def _spool_failures(self) -> None:
        while self.failed:
            record, exc = self.failed.popleft()
            self._mark_down(exc)
            if record.spool_name is None:  # a spooled record that failed again simply stays in the spool
                self._to_spool(record, exc)

    def _to_spool(self, record: SignedRecord, exc: Exception | None) -> None:
        """Keep ``record`` on disk (if it is not there already), or drop and report it."""
        if record.spool_name is not None:
            return
        if self.spool is None or self.spool.max_bytes == 0:
            self.drop("dropped_spool_full", DeliveryError("spool_full", record.events, "spooling is disabled"))
            return
        try:
            name = self.spool.put(
                SpooledRecord(record.partition, record.partitions, record.provider, record.signature, record.value)
            )
        except SpoolError as exc_:
            self.drop("dropped_spool_error", DeliveryError("spool_error", record.events, str(exc_)))
            return
        if name is None:
            self.drop(
                "dropped_spool_full",
                DeliveryError(
                    "spool_full", record.events, f"the spool {self.spool.directory} holds {self.spool.max_bytes} bytes"
                ),
            )
            return
        with self.lock:
            self.counters.spooled_records += 1
            self.counters.spooled_events += record.events

    def drop(self, counter: str, error: DeliveryError) -> None:
        with self.lock:
            setattr(self.counters, counter, getattr(self.counters, counter) + error.events)
        self._report(error)

    def _report(self, error: DeliveryError) -> None:
        if self.on_error is None:
            log.warning("Flockview SDK: %s", error)
            return
        try:
            self.on_error(error)
        except Exception:
            log.exception("the on_error hook raised")

    def _drain_spool(self) -> None:
        """Send spooled records, oldest first: all free slots when the broker is up, one probe otherwise."""
        spool = self.spool
        if spool is None or not len(spool) or self.stopping:
            return
        if not self.health.may_send(time.monotonic()) or (not self.health.up and self.in_flight):
            return
        self._refresh_partitions()
        if not self.health.may_send(time.monotonic()):
            return
        with self.lock:
            out = {r.spool_name for r in self.in_flight.values() if r.spool_name}
            free = self.s.max_in_flight_records - len(self.in_flight) if self.health.up else 1
        for name in spool.names(exclude=out, limit=max(free, 0)):
            spooled = spool.read(name)
            if spooled is None:
                continue
            if spooled.partitions == self.partitions:
                self._dispatch(
                    SignedRecord(
                        spooled.partition,
                        spooled.partitions,
                        spooled.provider,
                        spooled.value,
                        spooled.signature,
                        spooled.value.count(b'"event_id"'),
                        name,
                    )
                )
                continue
            for record in resplit(
                spooled, self.partitions, self.provider, self.key, self.s.batch_events, self.s.batch_bytes
            ):
                self._to_spool(record, None)  # the re-batched records are on disk before the old one goes
            spool.remove(name)

    # -- called from the client's threads -------------------------------------------------------

    def idle(self, include_spool: bool) -> bool:
        """Nothing queued, nothing in flight, nothing failed (and, optionally, nothing spooled)."""
        spooled = include_spool and self.spool is not None and len(self.spool) > 0
        return not (len(self.queue) or self.busy or self.in_flight or self.failed or spooled)

    def flush(self, timeout: float | None, include_spool: bool = True) -> bool:
        """Wait until :meth:`idle`; False if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            self.flushing += 1
            try:
                self.wake.set()
                while not self.idle(include_spool):
                    remaining = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                    if remaining <= 0:
                        return False
                    self.lock.wait(remaining)
                    self.wake.set()
                return True
            finally:
                self.flushing -= 1

    def stop(self, timeout: float) -> bool:
        """Deliver what it can within ``timeout``, spool the rest, stop the thread and the transport.

        Returns True if everything was delivered. After the timeout the thread spools instead of
        sending; it is given a grace of ``max_block_s`` beyond the timeout, the longest any of its
        producer calls blocks, so that nothing it holds is left in memory.
        """
        deadline = time.monotonic() + timeout
        delivered = self.flush(timeout, include_spool=False)
        self.stopping = True
        self.wake.set()
        self.thread.join(max(0.0, deadline - time.monotonic()) + 2 * self.s.max_block_s + 1.0)
        if self.thread.is_alive():
            log.error("this is a bug: the Flockview sender did not stop; events it holds may be lost")
        self.transport.close(max(0.1, deadline - time.monotonic()))
        with self.lock:
            leftovers, self.in_flight = list(self.in_flight.values()), {}
        for record in leftovers:
            self._to_spool(record, None)
        self._spool_failures()
        self._spool_queue()
        if self.spool is not None:
            self.spool.unlock()
        return delivered and not leftovers and (self.spool is None or len(self.spool) == 0)

    def _spool_queue(self) -> None:
        """At close, whatever is still queued (the sender did not get to it in time) goes to the spool."""
        self._spool_groups(self.queue.take(1, True, None))

    def _spool_groups(self, groups: list[tuple[int, list[str]]]) -> None:
        for record in partition_records(
            groups, self.partitions, self.provider, self.key, self.s.batch_events, self.s.batch_bytes
        ):
            self._to_spool(record, None)
