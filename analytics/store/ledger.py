"""The ``ledger`` table: one row per budget charge, with the caps in force when it was written.

The rule that must hold: a charge is written in the same transaction as the release it pays for,
after the caps were checked against :func:`spent_in_period` and :func:`spent_in_year` read in that
same transaction, so two releases never both fit into the last of a cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime

import duckdb
import pandas as pd


@dataclass(frozen=True)
class LedgerRow:
    """One row of ``ledger``: one family's charge; ``year`` is the year its privacy period (``period_start``) starts in."""

    family: str
    window_start: datetime
    window_end: datetime
    period: str
    year: int
    rho: float
    epsilon: float
    delta: float
    recorded_at: datetime
    component: str
    period_start: datetime
    cap_period: float
    cap_year: float


_COLUMNS = ", ".join(f.name for f in fields(LedgerRow))


def spent_in_period(con: duckdb.DuckDBPyConnection, period_start: datetime) -> float:
    """ρ charged so far against the privacy period starting at ``period_start``."""
    row = con.execute("SELECT coalesce(sum(rho), 0) FROM ledger WHERE period_start = ?", [period_start]).fetchone()
    return float(row[0]) if row else 0.0


def spent_in_year(con: duckdb.DuckDBPyConnection, year: int) -> float:
    """ρ charged so far against calendar year ``year``."""
    row = con.execute("SELECT coalesce(sum(rho), 0) FROM ledger WHERE year = ?", [year]).fetchone()
    return float(row[0]) if row else 0.0


def insert(con: duckdb.DuckDBPyConnection, rows: Sequence[LedgerRow]) -> None:
    """Write ledger rows."""
    if not rows:
        return
    marks = ", ".join("?" for _ in fields(LedgerRow))
    con.executemany(f"INSERT INTO ledger ({_COLUMNS}) VALUES ({marks})", [list(astuple(r)) for r in rows])


def frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The whole ledger, by window then family."""
    return con.execute("SELECT * FROM ledger ORDER BY window_start, family").df()
