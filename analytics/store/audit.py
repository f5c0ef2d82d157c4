"""The ``audit`` table: releases, refusals and other decisions, one line each, never a count of anything private."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

#: What the release step audits: a window of a family released, or refused (the detail says why).
RELEASED, RELEASE_REFUSED = "released", "release_refused"


def insert(con: duckdb.DuckDBPyConnection, at: datetime, component: str, action: str, detail: str) -> None:
    """Append one decision."""
    con.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", [at, component, action, detail])


def frame(con: duckdb.DuckDBPyConnection, actions: tuple[str, ...] = ()) -> pd.DataFrame:
    """The audit trail (only ``actions`` when given), newest first."""
    if not actions:
        return con.execute("SELECT * FROM audit ORDER BY logged_at DESC").df()
    marks = ", ".join("?" for _ in actions)
    return con.execute(f"SELECT * FROM audit WHERE action IN ({marks}) ORDER BY logged_at DESC", list(actions)).df()
