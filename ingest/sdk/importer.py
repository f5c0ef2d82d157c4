"""Import a JSONL file of events through the SDK: validate each line, send the good ones, keep the bad ones.

Each line is one JSON object with the fields of :meth:`ingest.Client.emit`: ``user_id`` is the
provider's *raw* user id, which the SDK pseudonymises like any other event (it never leaves the
process); ``occurred_at`` is an ISO 8601 time with a timezone (default: the import time). A line that
is not a JSON object or fails validation is written to the rejects file as
``{"line": N, "error": "...", "text": "the original line"}`` and reported with its line number. The
rejects file holds the original lines, raw user ids included, so it stays with the provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ingest.errors import ConfigError, SchemaError


@dataclass
class ImportSummary:
    """What an import did."""

    lines: int = 0
    blank: int = 0
    queued: int = 0
    rejected: int = 0
    dropped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # the first few (line number, reason)
    delivered: bool | None = None  # set by the caller after flushing

    MAX_ERRORS_KEPT = 20


class Emitter(Protocol):
    """What the importer needs of a client (``ingest.Client`` has it)."""

    def emit_dict(self, fields: dict[str, Any]) -> bool: ...


def _check(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SchemaError(f"expected a JSON object, got {type(data).__name__}")
    return data


def import_jsonl(
    path: Path, client: Emitter, rejects: Path, progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """Validate and emit every line of ``path``; bad lines go to ``rejects`` (created only if needed).

    Args:
        path: the JSONL file.
        client: an SDK client (its ``emit_dict`` validates, pseudonymises and queues).
        rejects: where rejected lines are written.
        progress: called with the number of bytes read after each line.

    Raises:
        ConfigError: ``path`` cannot be read.
    """
    summary = ImportSummary()
    out: IO[str] | None = None
    try:
        source = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with source:
            for number, raw in enumerate(source, start=1):
                summary.lines += 1
                if progress is not None:
                    progress(len(raw))
                if not raw.strip():
                    summary.blank += 1
                    continue
                try:
                    queued = client.emit_dict(_check(raw))
                except SchemaError as exc:
                    out = out or rejects.open("w", encoding="utf-8")
                    _reject(summary, out, number, raw, str(exc))
                    continue
                summary.queued += queued
                summary.dropped += not queued
    finally:
        if out is not None:
            out.close()
    return summary


def _reject(summary: ImportSummary, out: IO[str], number: int, raw: bytes, reason: str) -> None:
    summary.rejected += 1
    if len(summary.errors) < summary.MAX_ERRORS_KEPT:
        summary.errors.append((number, reason))
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    out.write(json.dumps({"line": number, "error": reason, "text": text}, ensure_ascii=False) + "\n")
