"""The ``health`` table: the workers' operational metrics, totals per interval (never per actor).

The rule that must hold: every row is a system total or a gauge, labelled at most by provider,
reject reason or report family; nothing here is broken down by an event's dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd

from analytics.store import schema

#: One metric value: (recorded_at, worker, metric, label, value).
HealthRow = tuple[datetime, str, str, str, float]


def insert(con: duckdb.DuckDBPyConnection, rows: Sequence[HealthRow]) -> int:
    """Append metric rows; returns how many."""
    if rows:
        con.executemany("INSERT INTO health VALUES (?, ?, ?, ?, ?)", list(rows))
    return len(rows)


def frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every metric row; empty on a store written before the table existed."""
    if "health" not in schema.tables(con):
        return pd.DataFrame()
    return con.execute("SELECT * FROM health").df()
