"""Cached, read-only loaders over :class:`analytics.store.ReadOnlyStore`: the dashboard's only way to the store.

Each loader's cache key includes a fingerprint of the store file and its write-ahead log (size and
modification time), so a new release shows at the next refresh; the TTL is a backstop for file
systems with coarse timestamps. Nothing here can write, and no SQL is written here: every read is one
of the store's typed readers, on a connection opened read-only per read.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from analytics.errors import FamilySpecError
from analytics.families import ReportFamily, load_families
from analytics.store import ReadOnlyStore, audit

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


TIME_COLUMNS = ("window_start", "window_end", "released_at", "recorded_at", "logged_at", "period_start")


# Each loader below is cached on (path, arguments, fingerprint): ``version`` only keys the cache, so a
# changed file means a fresh read. The SQL is the store's (analytics.store); these only choose a reader.


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _releases(path: str, version: Fingerprint) -> pd.DataFrame:
    return _utc(ReadOnlyStore(path).releases(), *TIME_COLUMNS)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _cells(path: str, family: str, last_windows: int, version: Fingerprint) -> pd.DataFrame:
    return _utc(ReadOnlyStore(path).latest_cells(family, last_windows), *TIME_COLUMNS)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _window_cells(path: str, family: str, starts: tuple[datetime, ...], version: Fingerprint) -> pd.DataFrame:
    return _utc(ReadOnlyStore(path).window_cells(family, list(starts)), *TIME_COLUMNS)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _ledger(path: str, version: Fingerprint) -> pd.DataFrame:
    return _utc(ReadOnlyStore(path).ledger(), *TIME_COLUMNS)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _cumulative(path: str, family: str, year: int, version: Fingerprint) -> pd.DataFrame:
    return _utc(ReadOnlyStore(path).cumulative(family, year), *TIME_COLUMNS)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _refusals(path: str, version: Fingerprint) -> pd.DataFrame:
    return _utc(ReadOnlyStore(path).audit((audit.RELEASE_REFUSED,)), *TIME_COLUMNS)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _tables(path: str, version: Fingerprint) -> frozenset[str]:
    return ReadOnlyStore(path).tables()


def table_names(path: Path) -> frozenset[str]:
    """The tables in the store (empty for a missing file or a store with no schema yet).

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    return _tables(str(path), store_fingerprint(path))


def load_year_to_date(path: Path, family: str, year: int) -> pd.DataFrame | None:
    """The year-to-date lines of ``family`` in ``year`` (sums of its weekly releases); None on a store without them.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    if "cumulative" not in table_names(path):
        return None
    return _cumulative(str(path), family, year, store_fingerprint(path))


def load_refusals(path: Path) -> pd.DataFrame:
    """Refused releases from the audit trail (``logged_at``, ``detail`` naming family, window and cap), newest first.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    return _refusals(str(path), store_fingerprint(path))


def load_window_cells(path: Path, family: str, starts: tuple[pd.Timestamp, ...]) -> pd.DataFrame:
    """The released cells of ``family`` in the windows starting at ``starts``.

    Raises:
        analytics.errors.StoreError: The file is not a readable DuckDB store, or stayed locked.
    """
    if not starts:
        return pd.DataFrame()
    return _window_cells(str(path), family, tuple(s.to_pydatetime() for s in starts), store_fingerprint(path))


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
