"""The ``cumulative`` table: year-to-date lines per category, sums of the weekly released noisy values.

The rule that must hold: a line is post-processing of released cells only (their unclamped
``noisy_value``), never of an exact count, so it costs no budget. A family's lines of one year are
replaced as a whole, in the transaction of the weekly release that changed them, so a reader never
sees a year half recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime

import duckdb
import pandas as pd

from analytics.store import schema


@dataclass(frozen=True)
class CumulativeRow:
    """One year-to-date line of one category, in ``cumulative``'s column order."""

    family: str
    year: int
    window_start: datetime
    window_end: datetime
    category: str
    noisy_value: float
    value: float
    ci_low: float
    ci_high: float
    includes_zero: bool
    mechanism: str
    scale: float
    n_weeks: int
    computed_at: datetime


_COLUMNS = ", ".join(f.name for f in fields(CumulativeRow))


def weekly_values(con: duckdb.DuckDBPyConnection, family: str, first: datetime, last: datetime) -> pd.DataFrame:
    """The released weekly values of ``family`` for windows starting in ``[first, last)``, oldest first.

    Columns: ``window_start``, ``window_end``, ``category``, ``noisy`` (the unclamped OpenDP output;
    the clamped ``value`` for cells written before ``noisy_value`` was kept) and ``scale``.
    """
    sql = """
        SELECT window_start, window_end, category, coalesce(noisy_value, value) AS noisy, scale
        FROM cells WHERE family = ? AND window_start >= ? AND window_start < ? AND NOT coalesce(is_total, false)
        ORDER BY window_start, category
    """
    return con.execute(sql, [family, first, last]).df()


def replace_year(con: duckdb.DuckDBPyConnection, family: str, year: int, rows: Sequence[CumulativeRow]) -> None:
    """Replace every year-to-date line of ``family`` in ``year`` with ``rows``."""
    con.execute("DELETE FROM cumulative WHERE family = ? AND year = ?", [family, year])
    if rows:
        marks = ", ".join("?" for _ in fields(CumulativeRow))
        con.executemany(f"INSERT INTO cumulative ({_COLUMNS}) VALUES ({marks})", [astuple(r) for r in rows])


def cumulative(con: duckdb.DuckDBPyConnection, family: str | None = None, year: int | None = None) -> pd.DataFrame:
    """Year-to-date lines (of ``family``, of ``year``, when given); empty on a store without the table."""
    if "cumulative" not in schema.tables(con):
        return pd.DataFrame()
    clauses, params = [], []
    for column, value in (("family", family), ("year", year)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return con.execute(f"SELECT * FROM cumulative {where} ORDER BY year, window_start, category", params).df()
