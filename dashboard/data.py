"""Cached, read-only loaders over :class:`analytics.store.ReadOnlyStore`.

Each loader's cache key includes a fingerprint of the store file and its write-ahead log (size and
modification time), so a new release shows at the next refresh; the TTL is a backstop for file
systems with coarse timestamps. Nothing here can write: the store is opened read-only per query.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from analytics.errors import FamilySpecError
from analytics.families import ReportFamily, load_families
from analytics.store import ReadOnlyStore

CACHE_TTL_SECONDS = 30

Fingerprint = tuple[int, ...]


def store_fingerprint(path: Path) -> Fingerprint:
    """Size and modification time of the store and its WAL; zeros for a file that does not exist."""
    parts: list[int] = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            stat = file.stat()
        except FileNotFoundError:
            parts += [0, 0]
        else:
            parts += [stat.st_mtime_ns, stat.st_size]
    return tuple(parts)


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _releases(path: str, version: Fingerprint) -> pd.DataFrame:
    # ``version`` only keys the cache: a changed file means a fresh read.
    return _utc(ReadOnlyStore(path).releases(), "window_start", "window_end", "released_at")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _cells(path: str, family: str, last_windows: int, version: Fingerprint) -> pd.DataFrame:
    # ``version`` only keys the cache: a changed file means a fresh read.
    sql = """
        SELECT * FROM cells WHERE family = ? AND window_start IN (
            SELECT window_start FROM releases WHERE family = ? ORDER BY window_start DESC LIMIT ?)
        ORDER BY window_start
    """
    return _utc(ReadOnlyStore(path).query(sql, [family, family, last_windows]), "window_start", "window_end")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _ledger(path: str, version: Fingerprint) -> pd.DataFrame:
    # ``version`` only keys the cache: a changed file means a fresh read.
    return _utc(ReadOnlyStore(path).ledger(), "window_start", "window_end", "recorded_at")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _query(path: str, sql: str, params: tuple[object, ...], version: Fingerprint) -> pd.DataFrame:
    # ``version`` only keys the cache: a changed file means a fresh read.
    return _utc(ReadOnlyStore(path).query(sql, list(params)), *TIME_COLUMNS)


TIME_COLUMNS = ("window_start", "window_end", "released_at", "recorded_at", "logged_at", "period_start")


def table_names(path: Path) -> frozenset[str]:
    """The tables in the store (empty for a missing file or a store with no schema yet).

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    frame = _query(str(path), "SELECT table_name FROM information_schema.tables", (), store_fingerprint(path))
    return frozenset(frame["table_name"]) if not frame.empty else frozenset()


def load_table(path: Path, table: str, where: str = "", params: tuple[object, ...] = ()) -> pd.DataFrame | None:
    """Rows of ``table`` (optionally filtered by a parameterised ``where``); None when the table is absent.

    Args:
        path: The store file.
        table: One of the store's table names (checked against the store, never interpolated blindly).
        where: An SQL condition with ``?`` placeholders, or empty for every row.
        params: The placeholders' values.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    if table not in table_names(path):
        return None
    sql = f'SELECT * FROM "{table}"' + (f" WHERE {where}" if where else "")
    return _query(str(path), sql, params, store_fingerprint(path))


def load_window_cells(path: Path, family: str, starts: tuple[pd.Timestamp, ...]) -> pd.DataFrame:
    """The released cells of ``family`` in the windows starting at ``starts``.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    if not starts:
        return pd.DataFrame()
    marks = ", ".join("?" for _ in starts)
    sql = f"SELECT * FROM cells WHERE family = ? AND window_start IN ({marks}) ORDER BY window_start"
    return _query(str(path), sql, (family, *(s.to_pydatetime() for s in starts)), store_fingerprint(path))


@st.cache_resource(show_spinner=False)
def family_catalog() -> dict[str, ReportFamily]:
    """The report families this installation defines (titles, dimensions, windows), by name.

    Empty when the families file is invalid: pages then fall back to the names in the store.
    """
    try:
        return {f.name: f for f in load_families()}
    except FamilySpecError:
        return {}


def load_releases(path: Path) -> pd.DataFrame:
    """Every release (one row per family and window), oldest first; empty for a missing or empty store.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    return _releases(str(path), store_fingerprint(path))


def load_cells(path: Path, family: str, last_windows: int) -> pd.DataFrame:
    """The released cells of ``family`` in its ``last_windows`` latest windows, oldest first.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    return _cells(str(path), family, last_windows, store_fingerprint(path))


def load_ledger(path: Path) -> pd.DataFrame:
    """The budget ledger, oldest window first; empty for a missing or empty store.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    return _ledger(str(path), store_fingerprint(path))
