"""The ``releases`` and ``cells`` tables: one row per released family and window, and its noisy cells.

The rule that must hold: a family's window is released at most once (``release_id`` is the primary
key and ``(family, window_start)`` is unique), and its row and cells are written in the caller's one
transaction together with the ledger charge that paid for them.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from datetime import datetime

import duckdb
import pandas as pd


@dataclass(frozen=True)
class ReleaseRow:
    """One row of ``releases``: what a release states about its noise, its bounds and its cost."""

    release_id: str
    family: str
    window_start: datetime
    window_end: datetime
    released_at: datetime
    privacy_unit: str
    metric: str
    mechanism: str
    bound_k: int
    bound_l: int
    sensitivity_l2: float
    scale: float
    rho: float
    epsilon: float
    delta: float
    alpha: float
    interval_half_width: float
    n_cells: int
    threshold: float | None
    window_kind: str


_RELEASE_COLUMNS = ", ".join(f.name for f in fields(ReleaseRow))


def exists(con: duckdb.DuckDBPyConnection, release_id: str) -> bool:
    """Whether ``release_id`` was released already."""
    return bool(con.execute("SELECT 1 FROM releases WHERE release_id = ?", [release_id]).fetchall())


def insert(con: duckdb.DuckDBPyConnection, row: ReleaseRow) -> None:
    """Write one release's row."""
    marks = ", ".join("?" for _ in fields(ReleaseRow))
    con.execute(f"INSERT INTO releases ({_RELEASE_COLUMNS}) VALUES ({marks})", list(astuple(row)))


def insert_cells(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> int:
    """Write a release's cells (columns named as in ``cells``); returns how many."""
    con.register("new_cells", frame)
    try:
        con.execute(f"INSERT INTO cells ({', '.join(frame.columns)}) SELECT * FROM new_cells")
    finally:
        con.unregister("new_cells")
    return len(frame)


def starts_between(con: duckdb.DuckDBPyConnection, family: str, start: datetime, end: datetime) -> list[datetime]:
    """Starts of the released windows of ``family`` that begin in ``[start, end)``."""
    rows = con.execute(
        "SELECT window_start FROM releases WHERE family = ? AND window_start >= ? AND window_start < ?",
        [family, start, end],
    ).fetchall()
    return [r[0] for r in rows]


def frame(con: duckdb.DuckDBPyConnection, family: str | None = None) -> pd.DataFrame:
    """Every release (of ``family`` when given), by window then family."""
    where, params = ("WHERE family = ?", [family]) if family else ("", [])
    return con.execute(f"SELECT * FROM releases {where} ORDER BY window_start, family", params).df()


def cells(con: duckdb.DuckDBPyConnection, family: str, window_start: datetime | None = None) -> pd.DataFrame:
    """The cells of ``family`` (of the window starting at ``window_start`` when given), by window."""
    sql = "SELECT * FROM cells WHERE family = ?"
    params: list[object] = [family]
    if window_start is not None:
        sql += " AND window_start = ?"
        params.append(window_start)
    return con.execute(sql + " ORDER BY window_start", params).df()


def cells_between(
    con: duckdb.DuckDBPyConnection, family: str, first_start: datetime, last_start: datetime
) -> pd.DataFrame:
    """The cells of ``family`` in windows starting from ``first_start`` to ``last_start`` (both included)."""
    sql = "SELECT * FROM cells WHERE family = ? AND window_start >= ? AND window_start <= ?"
    return con.execute(sql, [family, first_start, last_start]).df()


def latest_cells(con: duckdb.DuckDBPyConnection, family: str, last_windows: int) -> pd.DataFrame:
    """The cells of ``family`` in its ``last_windows`` latest released windows, oldest first."""
    sql = """
        SELECT * FROM cells WHERE family = ? AND window_start IN (
            SELECT window_start FROM releases WHERE family = ? ORDER BY window_start DESC LIMIT ?)
        ORDER BY window_start
    """
    return con.execute(sql, [family, family, last_windows]).df()


def window_cells(con: duckdb.DuckDBPyConnection, family: str, starts: list[datetime]) -> pd.DataFrame:
    """The cells of ``family`` in the windows starting at ``starts``, by window."""
    if not starts:
        return pd.DataFrame()
    marks = ", ".join("?" for _ in starts)
    sql = f"SELECT * FROM cells WHERE family = ? AND window_start IN ({marks}) ORDER BY window_start"
    return con.execute(sql, [family, *starts]).df()
