"""Store migrations: named, applied once; stores that recorded integer versions upgrade in place; readers cope."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from analytics.errors import StoreError
from analytics.store import MIGRATIONS, ReadOnlyStore, Store
from analytics.store.schema import LEGACY_VERSIONS

NAMES = tuple(m.name for m in MIGRATIONS)


def _legacy_store(path: Path, versions: int) -> None:
    """A store as written before migrations had names: the first ``versions`` migrations, numbered."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        for version in range(1, versions + 1):
            con.execute(next(m.sql for m in MIGRATIONS if m.name == LEGACY_VERSIONS[version]))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, datetime.now(UTC)])
        start, end = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
        con.execute(
            "INSERT INTO ledger (family, window_start, window_end, period, year, rho, epsilon, delta, recorded_at) "
            "VALUES ('events_by_category', ?, ?, '2026-W10', 2026, 0.005, 0.4, 1e-6, ?)",
            [start, end, end],
        )


def test_migrations_have_unique_names() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert set(LEGACY_VERSIONS.values()) <= set(NAMES)


def test_a_new_store_records_every_migration_by_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "new.duckdb")
    assert store.migrate() == NAMES
    recorded = ReadOnlyStore(store.path).query("SELECT name FROM store_migrations ORDER BY name")
    assert sorted(recorded["name"]) == sorted(NAMES)
    assert "schema_migrations" not in ReadOnlyStore(store.path).tables()


def test_schema_2_store_migrates_and_keeps_its_ledger(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _legacy_store(path, versions=2)
    assert ReadOnlyStore(path).cumulative().empty  # a reader on the old schema gets nothing, not an error
    assert Store(path).migrate() == NAMES
    ledger = ReadOnlyStore(path).ledger()
    assert len(ledger) == 1
    row = ledger.iloc[0]
    assert row["component"] == "cells" and row["period_start"] == row["window_start"]
    assert ledger[["cap_period", "cap_year"]].isna().all().all()  # caps unknown for rows written before v3
    tables = ReadOnlyStore(path).tables()
    assert {"releases", "cells", "ledger", "audit", "cumulative"} <= tables and "tree_nodes" not in tables
    Store(path)  # migrating again is a no-op
    names = ReadOnlyStore(path).query("SELECT name FROM store_migrations")
    assert sorted(names["name"]) == sorted(NAMES)
    versions = ReadOnlyStore(path).query("SELECT version FROM schema_migrations ORDER BY version")
    assert list(versions["version"]) == [1, 2]  # the old record is left as it was


def test_schema_3_store_is_up_to_date_and_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    _legacy_store(path, versions=3)
    store = Store(path)  # adopts versions 1-3 by name and applies nothing
    assert store.migrate() == NAMES
    assert len(ReadOnlyStore(path).ledger()) == 1


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    _legacy_store(path, versions=3)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (4, ?)", [datetime.now(UTC)])
    with pytest.raises(StoreError, match="schema version 4"):
        Store(path)


def test_year_to_date_migration_drops_the_tree_and_moves_charges_to_the_year_their_week_starts_in(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tree.duckdb"
    _legacy_store(path, versions=3)
    week = datetime(2025, 12, 29, tzinfo=UTC)  # Monday; its week straddles 1 January 2026
    day = datetime(2026, 1, 1, tzinfo=UTC)
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'America/Los_Angeles'")  # the year must be read in UTC, not the session's zone
        con.execute(
            "INSERT INTO ledger (family, window_start, window_end, period, year, rho, epsilon, delta, recorded_at, "
            "component, period_start) VALUES ('daily', ?, ?, '2026-01-01', 2026, 0.001, 0.1, 1e-6, ?, 'cells', ?)",
            [day, datetime(2026, 1, 2, tzinfo=UTC), day, week],
        )
    Store(path).migrate()
    reader = ReadOnlyStore(path)
    assert "tree_nodes" not in reader.tables()
    ledger = reader.ledger().set_index("family")
    assert ledger.loc["daily", "year"] == 2025  # the day belongs to the user-week that starts in 2025
    assert ledger.loc["events_by_category", "year"] == 2026
    columns = reader.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'cells'")
    assert "noisy_value" in set(columns["column_name"])
    assert reader.cumulative().empty
