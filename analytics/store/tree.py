"""The continual release's tables: ``tree_nodes`` (noisy nodes of the year-to-date tree) and ``cumulative``.

The rule that must hold: only noisy values land here (the nodes' exact partial sums stay in the
worker's private state), written in the transaction of the weekly release that completed them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime

import duckdb
import pandas as pd

from analytics.store import schema


@dataclass(frozen=True)
class NodeRow:
    """One noisy node value of one category, in ``tree_nodes``' column order."""

    family: str
    year: int
    level: int
    idx: int
    window_start: datetime
    window_end: datetime
    category: str
    value: float
    scale: float
    rho: float


@dataclass(frozen=True)
class CumulativeRow:
    """One year-to-date estimate of one category, in ``cumulative``'s column order."""

    family: str
    year: int
    window_start: datetime
    window_end: datetime
    category: str
    value: float
    ci_low: float
    ci_high: float
    includes_zero: bool
    mechanism: str
    scale: float
    rho: float
    n_nodes: int
    released_at: datetime


def insert_nodes(con: duckdb.DuckDBPyConnection, rows: Sequence[NodeRow]) -> None:
    """Write noisy tree nodes."""
    if rows:
        con.executemany("INSERT INTO tree_nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [astuple(r) for r in rows])


def node_values(con: duckdb.DuckDBPyConnection, family: str, year: int) -> list[tuple[int, int, str, float]]:
    """Every stored node of ``family``'s tree for ``year``: (level, index, category, noisy value)."""
    rows = con.execute(
        "SELECT level, idx, category, value FROM tree_nodes WHERE family = ? AND year = ?", [family, year]
    ).fetchall()
    return [(int(level), int(idx), str(category), float(value)) for level, idx, category, value in rows]


def insert_cumulative(con: duckdb.DuckDBPyConnection, rows: Sequence[CumulativeRow]) -> None:
    """Write one week's year-to-date line."""
    if rows:
        con.executemany(
            "INSERT INTO cumulative VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [astuple(r) for r in rows]
        )


def cumulative(con: duckdb.DuckDBPyConnection, family: str | None = None, year: int | None = None) -> pd.DataFrame:
    """Year-to-date estimates (of ``family``, of ``year``, when given); empty on a store without the table."""
    if "cumulative" not in schema.tables(con):
        return pd.DataFrame()
    clauses, params = [], []
    for column, value in (("family", family), ("year", year)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return con.execute(f"SELECT * FROM cumulative {where} ORDER BY year, window_start, category", params).df()
