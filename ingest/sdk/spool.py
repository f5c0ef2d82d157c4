"""The SDK's disk spool: signed records the broker could not take, kept until it can.

One file per record, written crash-safely: the bytes go to a temporary file, which is fsynced and
then renamed into place (and the directory fsynced), so after a crash a spool file is either
complete or absent. Each file is framed and checksummed::

    magic "FVSPOOL1" | u32 partition | u32 partition count | u32 len(provider) | provider
    | u32 len(signature) | signature | u32 len(value) | value | u32 CRC-32 of everything before it

A file that fails the check (a disk fault, not a crash) is moved aside with a ``.bad`` suffix and
reported, never sent. File names sort in spool order, so records drain oldest first. The spool is
bounded in bytes; a record that does not fit is refused and counted by the caller.
"""

from __future__ import annotations

import builtins
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import FlockviewError

log = logging.getLogger(__name__)
MAGIC = b"FVSPOOL1"
SUFFIX = ".rec"
_U32 = struct.Struct(">I")


class SpoolError(FlockviewError, OSError):
    """A spool file is corrupt, or the spool directory cannot be used."""


@dataclass(frozen=True)
class SpooledRecord:
    """A signed record waiting in the spool."""

    partition: int
    partitions: int  # the partition count the record was batched for
    provider: str
    signature: bytes
    value: bytes

    def encode(self) -> bytes:
        provider = self.provider.encode("utf-8")
        body = b"".join(
            (
                MAGIC,
                _U32.pack(self.partition),
                _U32.pack(self.partitions),
                _U32.pack(len(provider)),
                provider,
                _U32.pack(len(self.signature)),
                self.signature,
                _U32.pack(len(self.value)),
                self.value,
            )
        )
        return body + _U32.pack(zlib.crc32(body))

    @classmethod
    def decode(cls, data: bytes) -> SpooledRecord:
        """Parse a spool file's bytes.

        Raises:
            SpoolError: wrong magic, truncated, or the checksum does not match.
        """
        if len(data) < len(MAGIC) + 4 or not data.startswith(MAGIC):
            raise SpoolError("not a Flockview spool file (bad magic)")
        body, (crc,) = data[:-4], _U32.unpack(data[-4:])
        if zlib.crc32(body) != crc:
            raise SpoolError("spool file checksum does not match (truncated or corrupted)")
        try:
            pos = len(MAGIC)
            partition, partitions = _U32.unpack_from(body, pos)[0], _U32.unpack_from(body, pos + 4)[0]
            pos += 8
            fields = []
            for _ in range(3):
                (size,) = _U32.unpack_from(body, pos)
                fields.append(body[pos + 4 : pos + 4 + size])
                pos += 4 + size
        except struct.error:
            raise SpoolError("spool file is truncated") from None
        if pos != len(body):
            raise SpoolError("spool file has trailing bytes")
        return cls(partition, partitions, fields[0].decode("utf-8"), fields[1], fields[2])


class Spool:
    """A bounded directory of spooled records, safe to use from several threads of one process.

    Args:
        directory: where the files live; created on the first write.
        max_bytes: the most bytes the spool may hold; :meth:`put` refuses a record beyond that.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seq = 0
        self._sizes: dict[str, int] = {}
        self._lock_fd: int | None = None
        if self.directory.is_dir():
            for path in self.directory.glob(f"*{SUFFIX}"):
                self._sizes[path.name] = path.stat().st_size
            for tmp in self.directory.glob("*.tmp"):  # a write a crash interrupted: never renamed, so never acked
                tmp.unlink(missing_ok=True)

    def lock(self) -> None:
        """Claim the directory for this client: two clients draining one spool would send records twice.

        Raises:
            SpoolError: another live client (in this or another process) holds the spool.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot use the spool directory {self.directory}: {exc}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SpoolError(
                f"the spool {self.directory} is in use by another Flockview client; give each client its own spool_dir"
            ) from None

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._sizes)

    def put(self, record: SpooledRecord) -> str | None:
        """Write ``record`` durably; returns its name, or None when the spool is full.

        Raises:
            SpoolError: the directory cannot be written, or another client holds it.
        """
        if self._lock_fd is None:
            self.lock()  # claimed on first use, so a client that never spools leaves no directory
        data = record.encode()
        with self._lock:
            if self.bytes + len(data) > self.max_bytes:
                return None
            self._seq += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:08d}{SUFFIX}"
            self._sizes[name] = len(data)
        try:
            self._write(name, data)
        except OSError as exc:
            with self._lock:
                self._sizes.pop(name, None)
            raise SpoolError(f"cannot write to the spool {self.directory}: {exc}") from None
        return name

    def _write(self, name: str, data: builtins.bytes) -> None:  # the builtin: this class has a bytes()
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f"{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / name)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def names(self, exclude: set[str] | frozenset[str] = frozenset(), limit: int | None = None) -> list[str]:
        """Spooled record names, oldest first."""
        with self._lock:
            names = sorted(n for n in self._sizes if n not in exclude)
        return names[:limit] if limit is not None else names

    def read(self, name: str) -> SpooledRecord | None:
        """The record called ``name``; a corrupt file is moved aside (``.bad``) and None returned."""
        path = self.directory / name
        try:
            return SpooledRecord.decode(path.read_bytes())
        except (SpoolError, OSError) as exc:
            log.error("spool file %s is unusable and was set aside: %s", path, exc)
            with self._lock:
                self._sizes.pop(name, None)
            if path.exists():
                path.replace(path.with_suffix(".bad"))
            return None

    def remove(self, name: str) -> None:
        """Forget a record once the broker has acknowledged it."""
        with self._lock:
            self._sizes.pop(name, None)
        (self.directory / name).unlink(missing_ok=True)
