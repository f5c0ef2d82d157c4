"""Store migrations: an existing schema-2 store upgrades in place and keeps its rows; readers cope."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from analytics.store import MIGRATIONS, ReadOnlyStore, Store


def _schema_2_store(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        for version, sql in enumerate(MIGRATIONS[:2], start=1):
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, datetime.now(UTC)])
        start, end = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
        con.execute(
            "INSERT INTO ledger VALUES ('events_by_category', ?, ?, '2026-W10', 2026, 0.005, 0.4, 1e-6, ?)",
            [start, end, end],
        )


def test_schema_2_store_migrates_and_keeps_its_ledger(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _schema_2_store(path)
    assert ReadOnlyStore(path).cumulative().empty  # a reader on the old schema gets nothing, not an error
    assert Store(path).migrate() == len(MIGRATIONS) == 3
    ledger = ReadOnlyStore(path).ledger()
    assert len(ledger) == 1
    row = ledger.iloc[0]
    assert row["component"] == "cells" and row["period_start"] == row["window_start"]
    assert ledger[["cap_period", "cap_year"]].isna().all().all()  # caps unknown for rows written before v3
    tables = set(ReadOnlyStore(path).query("SELECT table_name FROM information_schema.tables")["table_name"])
    assert {"releases", "cells", "ledger", "audit", "health", "cumulative", "tree_nodes"} <= tables
    Store(path)  # migrating again is a no-op
    versions = ReadOnlyStore(path).query("SELECT version FROM schema_migrations ORDER BY version")
    assert list(versions["version"]) == [1, 2, 3]
