"""Connections to the DuckDB store: short write transactions, read-only readers, retries while locked.

DuckDB lets one process write a file, so the writer opens the file for each short transaction and
closes it again, and readers (dashboard, report, CLI) open it read-only per read; both retry while
the other holds the lock. The rule that must hold: whatever one transaction writes (a release's
``releases`` row, cells, ledger rows, tree nodes and year-to-date line) a reader sees all at once or
not at all. The SQL itself lives in the table modules (:mod:`analytics.store.releases` and others).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd

from analytics.errors import StoreError
from analytics.store import audit, ledger, releases, schema, tree

log = logging.getLogger(__name__)
T = TypeVar("T")

#: An open connection inside one transaction (write) or one read; the table modules take it first.
Connection = duckdb.DuckDBPyConnection


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    # "different configuration": in one process (the worker's report thread), a read-only connection
    # can't open while a write transaction holds the file; like another process's lock, it passes.
    return any(s in text for s in ("lock", "conflicting", "being used", "different configuration"))


def with_retry(fn: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Run ``fn``, retrying with jittered backoff while another process holds the file.

    Raises:
        StoreError: ``fn`` failed for another reason than a lock, or the lock outlasted ``timeout``.
    """
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            return fn()
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise StoreError(f"{what}: {exc}") from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)


class Store:
    """The writing side. Opens the file only for the length of each transaction; migrates on creation."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        con = with_retry(lambda: duckdb.connect(str(self.path)), f"opening {self.path} for writing")
        try:
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def migrate(self) -> tuple[str, ...]:
        """Apply pending migrations; returns the names of every migration the store now records."""
        with self.transaction() as con:
            for name in schema.migrate(con):
                log.info("store %s migrated: %s", self.path, name)
            return tuple(schema.applied(con))

    def audit(self, component: str, action: str, detail: str) -> None:
        """Append one decision to the audit trail, in a transaction of its own."""
        with self.transaction() as con:
            audit.insert(con, datetime.now(UTC), component, action, detail)


class ReadOnlyStore:
    """The reading side for the dashboard, the report and the CLI: a read-only connection per read.

    A missing file, or one with no schema yet, reads as empty frames, never as an error.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        """Whether the store file exists."""
        return self.path.is_file()

    def read(self, fn: Callable[[Connection], pd.DataFrame]) -> pd.DataFrame:
        """``fn`` on a read-only connection; an empty frame for a missing store or one with no releases table."""
        if not self.exists():
            return pd.DataFrame()

        def run() -> pd.DataFrame:
            con = duckdb.connect(str(self.path), read_only=True)
            try:
                if "releases" not in schema.tables(con):
                    return pd.DataFrame()
                return fn(con)
            finally:
                con.close()

        return with_retry(run, f"reading {self.path}")

    def query(self, sql: str, params: list[object] | None = None) -> pd.DataFrame:
        """Any SQL, read-only: for tests and ad-hoc inspection. Application code calls the typed readers."""
        return self.read(lambda con: con.execute(sql, params or []).df())

    def tables(self) -> frozenset[str]:
        """The store's table names (empty for a missing store or one with no schema yet)."""
        frame = self.read(lambda con: pd.DataFrame({"table_name": sorted(schema.tables(con))}))
        return frozenset(frame["table_name"]) if not frame.empty else frozenset()

    def releases(self, family: str | None = None) -> pd.DataFrame:
        """Every release (of ``family`` when given), by window then family."""
        return self.read(lambda con: releases.frame(con, family))

    def cells(self, family: str, window_start: datetime | None = None) -> pd.DataFrame:
        """The released cells of ``family`` (of one window when given), by window."""
        return self.read(lambda con: releases.cells(con, family, window_start))

    def cells_between(self, family: str, first_start: datetime, last_start: datetime) -> pd.DataFrame:
        """The released cells of ``family`` in the windows starting from ``first_start`` to ``last_start``."""
        return self.read(lambda con: releases.cells_between(con, family, first_start, last_start))

    def latest_cells(self, family: str, last_windows: int) -> pd.DataFrame:
        """The released cells of ``family`` in its ``last_windows`` latest released windows, oldest first."""
        return self.read(lambda con: releases.latest_cells(con, family, last_windows))

    def window_cells(self, family: str, starts: list[datetime]) -> pd.DataFrame:
        """The released cells of ``family`` in the windows starting at ``starts``, by window."""
        return self.read(lambda con: releases.window_cells(con, family, starts))

    def ledger(self) -> pd.DataFrame:
        """The budget ledger, by window then family."""
        return self.read(ledger.frame)

    def cumulative(self, family: str | None = None, year: int | None = None) -> pd.DataFrame:
        """Year-to-date estimates per category (empty before the first weekly release with one)."""
        return self.read(lambda con: tree.cumulative(con, family, year))

    def audit(self, actions: tuple[str, ...] = ()) -> pd.DataFrame:
        """The audit trail (only ``actions`` when given), newest first: releases, refusals and other decisions."""
        return self.read(lambda con: audit.frame(con, actions))
