"""The DuckDB store: releases, released cells with intervals, the budget ledger, and an audit trail.

Only noisy, post-processed values land here. DuckDB lets one process write a file, so the worker
opens the file for each short write transaction and closes it again, and readers (dashboard,
report) open it read-only per query; both retry while the other holds the lock. A reader therefore
always sees whole transactions: a release (its ``releases`` row, cells, ledger rows, tree nodes and
year-to-date line) appears all at once or not at all.

Tables (schema version 3):

* ``releases`` — one row per (family, window): mechanism, bounds, sensitivity, scale, ρ, the (ε, δ)
  equivalent, the 95% half-width, ``n_cells``; ``threshold`` for partition selection (else NULL);
  ``window_kind`` "week" or "day".
* ``cells`` — one row per released cell: the family's dimension columns (others NULL), ``value``
  (noisy, clamped at 0), ``ci_low``/``ci_high`` (95%), ``includes_zero``, ``mechanism``, ``scale``,
  ``rho``; ``is_total`` marks a family's total row (all dimension columns NULL; equals the sum of
  the family's other cells of the window). Open-vocabulary families (``model_family``) have rows
  only for the keys partition selection released.
* ``ledger`` — one row per budget charge: ``family`` (or ``family:ytd:L<level>`` for a level of the
  year-to-date tree), window, ``period``, ``period_start`` (the privacy period the charge counts
  against), ``year``, ``rho``, ``epsilon``, ``delta``, ``component`` ("cells", "selection",
  "ytd_level") and the caps in force, ``cap_period`` and ``cap_year``.
* ``cumulative`` — year-to-date estimates per category by continual release: ``family``, ``year``,
  ``window_start``/``window_end`` (the week the total runs through), ``category``, ``value``
  (clamped at 0), ``ci_low``/``ci_high`` (95%), ``includes_zero``, ``mechanism``, ``scale`` (the
  estimate's standard deviation), ``rho`` (the tree's charge per user-week), ``n_nodes`` (noisy tree
  nodes summed), ``released_at``.
* ``tree_nodes`` — the noisy nodes of the year-to-date tree (DP outputs, unclamped).
* ``audit`` — releases, refusals and other decisions; ``health`` — the worker's operational metrics.
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

log = logging.getLogger(__name__)
T = TypeVar("T")

_FIRST_DIMENSION_COLUMNS = (
    "category",
    "detection_stage",
    "action",
    "technique",
    "surface",
    "jurisdiction",
    "identity_verification",
    "account_age_bucket",
    "language",
    "model_family",
)
#: Dimensions a family may use; each is a nullable column of ``cells``.
DIMENSION_COLUMNS = (*_FIRST_DIMENSION_COLUMNS, "escalation_stage")

MIGRATIONS: list[str] = [
    # 1: the first schema
    f"""
    CREATE TABLE releases (
        release_id VARCHAR PRIMARY KEY,
        family VARCHAR NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ NOT NULL,
        released_at TIMESTAMPTZ NOT NULL,
        privacy_unit VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        mechanism VARCHAR NOT NULL,
        bound_k INTEGER NOT NULL,
        bound_l INTEGER NOT NULL,
        sensitivity_l2 DOUBLE NOT NULL,
        scale DOUBLE NOT NULL,
        rho DOUBLE NOT NULL,
        epsilon DOUBLE NOT NULL,
        delta DOUBLE NOT NULL,
        alpha DOUBLE NOT NULL,
        interval_half_width DOUBLE NOT NULL,
        n_cells INTEGER NOT NULL,
        UNIQUE (family, window_start)
    );
    CREATE TABLE cells (
        release_id VARCHAR NOT NULL,
        family VARCHAR NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ NOT NULL,
        {", ".join(f"{c} VARCHAR" for c in _FIRST_DIMENSION_COLUMNS)},
        value DOUBLE NOT NULL,
        ci_low DOUBLE NOT NULL,
        ci_high DOUBLE NOT NULL,
        includes_zero BOOLEAN NOT NULL,
        mechanism VARCHAR NOT NULL,
        scale DOUBLE NOT NULL,
        rho DOUBLE NOT NULL
    );
    CREATE TABLE ledger (
        family VARCHAR NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ NOT NULL,
        period VARCHAR NOT NULL,
        year INTEGER NOT NULL,
        rho DOUBLE NOT NULL,
        epsilon DOUBLE NOT NULL,
        delta DOUBLE NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (family, window_start)
    );
    CREATE TABLE audit (
        logged_at TIMESTAMPTZ NOT NULL,
        component VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        detail VARCHAR NOT NULL
    );
    """,
    # 2: the escalation funnel's derived dimension; operational metrics for the data-health view
    """
    ALTER TABLE cells ADD COLUMN escalation_stage VARCHAR;
    CREATE TABLE health (
        recorded_at TIMESTAMPTZ NOT NULL,
        worker VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        label VARCHAR NOT NULL,
        value DOUBLE NOT NULL
    );
    """,
    # 3: the release engine: caps in force and accounting component on every ledger row; totals;
    # partition-selection thresholds; the continual (year-to-date) release's tree nodes and estimates
    """
    ALTER TABLE ledger ADD COLUMN component VARCHAR DEFAULT 'cells';
    ALTER TABLE ledger ADD COLUMN period_start TIMESTAMPTZ;
    ALTER TABLE ledger ADD COLUMN cap_period DOUBLE;
    ALTER TABLE ledger ADD COLUMN cap_year DOUBLE;
    UPDATE ledger SET period_start = window_start WHERE period_start IS NULL;
    ALTER TABLE cells ADD COLUMN is_total BOOLEAN DEFAULT false;
    ALTER TABLE releases ADD COLUMN threshold DOUBLE;
    ALTER TABLE releases ADD COLUMN window_kind VARCHAR DEFAULT 'week';
    CREATE TABLE tree_nodes (
        family VARCHAR NOT NULL,
        year INTEGER NOT NULL,
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ NOT NULL,
        category VARCHAR NOT NULL,
        value DOUBLE NOT NULL,
        scale DOUBLE NOT NULL,
        rho DOUBLE NOT NULL,
        PRIMARY KEY (family, year, level, idx, category)
    );
    CREATE TABLE cumulative (
        family VARCHAR NOT NULL,
        year INTEGER NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ NOT NULL,
        category VARCHAR NOT NULL,
        value DOUBLE NOT NULL,
        ci_low DOUBLE NOT NULL,
        ci_high DOUBLE NOT NULL,
        includes_zero BOOLEAN NOT NULL,
        mechanism VARCHAR NOT NULL,
        scale DOUBLE NOT NULL,
        rho DOUBLE NOT NULL,
        n_nodes INTEGER NOT NULL,
        released_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (family, year, window_start, category)
    );
    """,
]


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    # "different configuration": in one process (the worker's report thread), a read-only connection
    # can't open while a write transaction holds the file; like another process's lock, it passes.
    return any(s in text for s in ("lock", "conflicting", "being used", "different configuration"))


def with_retry(fn: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Run ``fn``, retrying with jittered backoff while another process holds the file."""
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
    """The writing side. Opens the file only for the length of each transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
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

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        with self.transaction() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version not in done:
                    con.execute(sql)
                    con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, datetime.now(UTC)])
                    log.info("store %s migrated to schema version %d", self.path, version)
        return len(MIGRATIONS)

    def audit(self, component: str, action: str, detail: str) -> None:
        with self.transaction() as con:
            con.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", [datetime.now(UTC), component, action, detail])


class ReadOnlyStore:
    """The reading side for the dashboard and reports: a read-only connection per query."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file()

    def query(self, sql: str, params: list[object] | None = None) -> pd.DataFrame:
        if not self.exists():
            return pd.DataFrame()

        def run() -> pd.DataFrame:
            con = duckdb.connect(str(self.path), read_only=True)
            try:
                tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
                if "releases" not in tables:
                    return pd.DataFrame()
                return con.execute(sql, params or []).df()
            finally:
                con.close()

        return with_retry(run, f"reading {self.path}")

    def releases(self, family: str | None = None) -> pd.DataFrame:
        where, params = ("WHERE family = ?", [family]) if family else ("", [])
        return self.query(f"SELECT * FROM releases {where} ORDER BY window_start, family", params)

    def cells(self, family: str, window_start: datetime | None = None) -> pd.DataFrame:
        sql = "SELECT * FROM cells WHERE family = ?"
        params: list[object] = [family]
        if window_start is not None:
            sql += " AND window_start = ?"
            params.append(window_start)
        return self.query(sql + " ORDER BY window_start", params)

    def ledger(self) -> pd.DataFrame:
        return self.query("SELECT * FROM ledger ORDER BY window_start, family")

    def cumulative(self, family: str | None = None, year: int | None = None) -> pd.DataFrame:
        """Year-to-date estimates per category (empty before the first weekly release with one)."""
        clauses, params = [], []
        for column, value in (("family", family), ("year", year)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tables = self.query("SELECT table_name FROM information_schema.tables WHERE table_name = 'cumulative'")
        if tables.empty:
            return pd.DataFrame()
        return self.query(f"SELECT * FROM cumulative {where} ORDER BY year, window_start, category", params)
