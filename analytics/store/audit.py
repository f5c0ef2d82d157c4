"""The ``audit`` table: releases, refusals and other decisions, one line each, never a count of anything private."""

from __future__ import annotations

from datetime import datetime

import duckdb


def insert(con: duckdb.DuckDBPyConnection, at: datetime, component: str, action: str, detail: str) -> None:
    """Append one decision."""
    con.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", [at, component, action, detail])
