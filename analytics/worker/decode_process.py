"""Verify and decode batches in a child process, outside the worker's interpreter lock.

In one process the decode thread and the state thread take turns at the interpreter lock: each
waits for the other about half of its time, and the worker used 1.2 of 2 cores. Here the child
runs :meth:`analytics.worker.decode.FastDecoder.decode_many` on its own core and the parent only
copies bytes in and columns out.

The bytes never go through a pipe (a pipe gives up the interpreter lock once per 64 KiB, and each
time waits to get it back): records are written into one anonymous shared file (``memfd``) and the
columns come back in another. The pipe carries a small pickled header each way: the records'
lengths and headers, and the columns' shapes, each record's count (``sizes``), provider totals and
the profiles the child had not numbered before. Profiles are numbered in the child (one dict for every
partition), so the parent turns numbers back into the same shared tuples.

The child reads its requests from standard input and exits when that closes, so it goes when its
parent goes, even after ``kill -9``. It answers exactly as :class:`FastDecoder` in the parent would:
the same registry (sent by the parent at the start, not read again from disk) and the same checks.
Anything the child fails at raises :class:`DecodeProcessError` in the parent, whose caller then
decodes in-process (:meth:`analytics.worker.runtime.WorkerRuntime.decode_ahead`).

Linux only (``os.memfd_create``); :func:`available` says whether it can run here.
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from analytics.worker.columns import MAX_PROFILES, EventBatch
from analytics.worker.decode import Decoded, FastDecoder, Record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import public_key_to_text

log = logging.getLogger("flockview.worker")

_LENGTH = struct.Struct("<Q")
CHUNK_BYTES = 16 << 20  # record bytes per request: bounds the shared files (a partition's batch can be far bigger)
ANSWER_TIMEOUT_S = 120.0  # a batch takes well under a second; a child this slow is stuck, and is replaced
_PAGE = mmap.PAGESIZE
# Columns in the order they are laid out in the shared output: name, dtype, values per event.
_COLUMNS = (
    ("t", np.float64, 1),
    ("actors", np.uint64, 2),
    ("ids", np.uint64, 2),
    ("profiles", np.int32, 1),
    ("partitions", np.int32, 1),
    ("seen", np.uint64, 2),
)

__all__ = ["DecodeProcess", "DecodeProcessError", "available"]


class DecodeProcessError(RuntimeError):
    """The decode process could not answer (it died, or raised); the caller decodes in-process."""


def available() -> bool:
    return hasattr(os, "memfd_create") and sys.platform.startswith("linux")


def _rounded(size: int) -> int:
    """``size`` rounded up to a power of two (at least a page), so a growing file is resized rarely."""
    return max(_PAGE, 1 << max(size - 1, 1).bit_length())


def _chunks(records: Sequence[Record], limit: int) -> list[Sequence[Record]]:
    """``records`` in runs of at most ``limit`` bytes of values (a bigger record alone), in order."""
    chunks: list[Sequence[Record]] = []
    start = size = 0
    for i, (value, _) in enumerate(records):
        n = len(value or b"")
        if size and size + n > limit:
            chunks.append(records[start:i])
            start, size = i, 0
        size += n
    chunks.append(records[start:])
    return chunks


def _send(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or None when the other side closed the pipe."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


class _Shared:
    """One end's view of a memfd that only ever grows."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.map: mmap.mmap | None = None

    def view(self, size: int) -> mmap.mmap:
        """A mapping of at least ``size`` bytes (the file must already be that long)."""
        if self.map is None or len(self.map) < size:
            if self.map is not None:
                self.map.close()
            self.map = mmap.mmap(self.fd, os.fstat(self.fd).st_size)
        return self.map

    def grow(self, size: int) -> mmap.mmap:
        """Make the file at least ``size`` bytes long, then :meth:`view` it."""
        if os.fstat(self.fd).st_size < max(size, 1):  # never empty: an empty file cannot be mapped
            os.ftruncate(self.fd, _rounded(size))
        return self.view(size)


class DecodeProcess:
    """``decode_many`` answered by a child process (see the module docstring). One caller at a time.

    Args:
        registry: the providers the parent accepts (their public keys go to the child).
        fields: the profile fields (:func:`analytics.worker.columns.profile_fields`).
    """

    def __init__(self, registry: ProviderRegistry, fields: Sequence[str]) -> None:
        if not available():
            raise DecodeProcessError("a decode process needs Linux (os.memfd_create)")
        self.fields = tuple(fields)
        self._registry = {name: public_key_to_text(key) for name, key in registry.keys.items()}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._profiles: list[tuple[object, ...]] = []
        self._start()

    def _start(self) -> None:
        self._in = _Shared(os.memfd_create("flockview-decode-in"))
        self._out = _Shared(os.memfd_create("flockview-decode-out"))
        self._profiles = []
        fds = (self._in.fd, self._out.fd)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from analytics.worker.decode_process import main; main()", *map(str, fds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=fds,
        )
        assert self._proc.stdin is not None
        _send(self._proc.stdin, (self._registry, self.fields))

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def decode_many(self, records: Sequence[Record], latest: float, partition: int | None = None) -> Decoded:
        """What :meth:`FastDecoder.decode_many` answers for ``records`` (delivered on ``partition``).

        Raises:
            DecodeProcessError: the child died or failed; the next call starts a new one.
        """
        with self._lock:
            if self._proc is None:
                self._start()
            try:
                answers = [self._ask(chunk, latest, partition) for chunk in _chunks(records, CHUNK_BYTES)]
            except DecodeProcessError:
                self._stop()
                raise
            except (OSError, ValueError, pickle.PickleError, EOFError) as exc:
                self._stop()
                raise DecodeProcessError(f"the decode process failed: {exc!r}") from exc
        if len(answers) == 1:
            return answers[0]
        return EventBatch.concat([batch for batch, _ in answers]), [n for _, sizes in answers for n in sizes]

    def _ask(self, records: Sequence[Record], latest: float, partition: int | None) -> Decoded:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        lengths = [-1 if value is None else len(value) for value, _ in records]
        size = sum(n for n in lengths if n > 0)
        shared = self._in.grow(size)
        at = 0
        for value, _ in records:
            if value:
                shared[at : at + len(value)] = value
                at += len(value)
        _send(proc.stdin, (lengths, [headers for _, headers in records], latest, partition))
        if not select.select([proc.stdout], [], [], ANSWER_TIMEOUT_S)[0]:
            raise DecodeProcessError(
                f"the decode process (pid {proc.pid}) did not answer within {ANSWER_TIMEOUT_S:.0f} s"
            )
        answer = _receive(proc.stdout)
        if answer is None:
            raise DecodeProcessError(f"the decode process (pid {proc.pid}) exited; code {proc.poll()}")
        if answer[0] == "error":
            raise DecodeProcessError(f"the decode process raised: {answer[1]}")
        _, n, renumbered, new_profiles, sizes, providers = answer
        if renumbered:
            self._profiles = []
        self._profiles.extend(new_profiles)
        columns = self._columns(n)
        profiles = list(map(self._profiles.__getitem__, columns["profiles"].tolist()))
        batch = EventBatch(
            columns["t"],
            columns["actors"],
            columns["ids"],
            profiles,
            Counter(providers),
            columns["partitions"],
            columns["seen"],
        )
        return batch, sizes

    def _columns(self, n: int) -> dict[str, np.ndarray]:
        if not n:
            return {name: np.zeros((0, width) if width > 1 else 0, dtype) for name, dtype, width in _COLUMNS}
        total = sum(np.dtype(dtype).itemsize * width * n for _, dtype, width in _COLUMNS)
        shared = self._out.view(total)
        columns, at = {}, 0
        for name, dtype, width in _COLUMNS:
            count = n * width
            array = np.frombuffer(shared, dtype, count, at).copy()  # the next answer overwrites the file
            columns[name] = array.reshape(n, width) if width > 1 else array
            at += array.nbytes
        return columns

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=5)  # it exits once its input closes (or at once, if it is stuck)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for shared in (getattr(self, "_in", None), getattr(self, "_out", None)):
            if shared is not None:
                if shared.map is not None:
                    shared.map.close()
                os.close(shared.fd)
        self._in = self._out = None  # type: ignore[assignment]

    def close(self) -> None:
        """Stop the child (it exits once its input closes)."""
        with self._lock:
            self._stop()


def serve(in_fd: int, out_fd: int, requests: IO[bytes], answers: IO[bytes]) -> None:
    """The child's loop: decode each request until the parent closes the pipe."""
    first = _receive(requests)
    if first is None:
        return
    public_keys, fields = first
    decoder = FastDecoder(ProviderRegistry.from_mapping(public_keys, source="the parent worker"), fields)
    numbers: dict[tuple[object, ...], int] = {}
    inputs, outputs = _Shared(in_fd), _Shared(out_fd)
    while (request := _receive(requests)) is not None:
        try:
            answer = _answer(decoder, numbers, inputs, outputs, *request)
        except Exception as exc:  # a bug: the parent logs it and decodes in-process
            log.exception("decoding in the decode process failed")
            answer = ("error", repr(exc))
        try:
            _send(answers, answer)
        except OSError:  # the parent gave up on this child (or is gone): nothing more to do
            return


def _answer(
    decoder: FastDecoder,
    numbers: dict[tuple[object, ...], int],
    inputs: _Shared,
    outputs: _Shared,
    lengths: list[int],
    headers: list[Sequence[tuple[str, bytes]] | None],
    latest: float,
    partition: int | None,
) -> tuple[Any, ...]:
    shared = inputs.view(sum(n for n in lengths if n > 0))
    records: list[Record] = []
    at = 0
    for length, head in zip(lengths, headers, strict=True):
        if length < 0:
            records.append((None, head))
        else:
            records.append((shared[at : at + length], head))
            at += length
    batch, sizes = decoder.decode_many(records, latest, partition)
    renumbered = len(numbers) > MAX_PROFILES  # the numbering starts again, in the parent too
    if renumbered:
        numbers.clear()
    first_new = len(numbers)
    get = numbers.get
    codes = np.fromiter(map(get, batch.profiles, [-1] * len(batch)), np.int32, len(batch))
    new_profiles: list[tuple[object, ...]] = []
    for i in np.nonzero(codes < 0)[0].tolist():
        profile = batch.profiles[i]
        number = get(profile)
        if number is None:
            number = numbers[profile] = first_new + len(new_profiles)
            new_profiles.append(profile)
        codes[i] = number
    arrays = [np.ascontiguousarray(a) for a in (batch.t, batch.actors, batch.ids, codes, batch.partitions, batch.seen)]
    out = outputs.grow(sum(a.nbytes for a in arrays))
    at = 0
    for array in arrays:
        if array.nbytes:  # an empty view cannot be cast
            out[at : at + array.nbytes] = memoryview(array.data).cast("B")  # no intermediate bytes copy
        at += array.nbytes
    return "ok", len(batch), renumbered, new_profiles, sizes, dict(batch.providers)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="[decode process %(process)d] %(levelname)s %(message)s")
    in_fd, out_fd = (int(a) for a in sys.argv[-2:])
    answers = os.fdopen(os.dup(1), "wb")  # the answers get standard output to themselves:
    os.dup2(2, 1)  # anything printed goes to standard error
    serve(in_fd, out_fd, sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
