"""The store's schema: named migrations, applied in order, each exactly once.

The rule that must hold: a migration is known by its name, never by its position in a list, and
is recorded in ``store_migrations`` in the same transaction that applies it. Stores written before
migrations had names recorded integer versions 1, 2, 3 in ``schema_migrations``; those versions map
to the first three names below (:data:`LEGACY_VERSIONS`), so such stores keep upgrading in place.

Tables (after every migration):

* ``releases`` — one row per (family, window): mechanism, bounds, sensitivity, scale, ρ, the (ε, δ)
  equivalent, the 95% half-width, ``n_cells``; ``threshold`` for partition selection (else NULL);
  ``window_kind`` "week" or "day".
* ``cells`` — one row per released cell: the family's dimension columns (others NULL), ``value``
  (noisy, clamped at 0), ``ci_low``/``ci_high`` (95%), ``includes_zero``, ``mechanism``, ``scale``,
  ``rho``, ``noisy_value`` (the unclamped OpenDP output before any post-processing: for a total row,
  the noisy total before projection; NULL in rows written before it was kept); ``is_total`` marks a
  family's total row (all dimension columns NULL; equals the sum of the family's other cells of the
  window). Open-vocabulary families (``model_family``) have rows
  only for the keys partition selection released.
* ``ledger`` — one row per budget charge: ``family``, window, ``period``, ``period_start`` (the
  privacy period the charge counts against), ``year`` (the calendar year that period starts in: a
  week that straddles 1 January counts against the year of its Monday), ``rho``, ``epsilon``,
  ``delta``, ``component`` ("cells" or "selection") and the caps in force, ``cap_period`` and
  ``cap_year``. (Stores from before ``year_to_date_from_weekly_values`` also hold "ytd_level" rows
  of the removed year-to-date tree: spend that happened, so it stays.)
* ``cumulative`` — year-to-date lines per category, post-processing of released cells (no budget):
  ``family``, ``year``, ``window_start``/``window_end`` (the week the line runs through),
  ``category``, ``noisy_value`` (the sum of the weekly unclamped ``cells.noisy_value`` of the
  family's released weeks starting in ``year`` up to that week), ``value`` (clamped at 0),
  ``ci_low``/``ci_high`` (95%), ``includes_zero``, ``mechanism``, ``scale`` (the sum's standard
  deviation, √Σσ²), ``n_weeks`` (weekly releases summed), ``computed_at``.
* ``audit`` — releases, refusals and other decisions. (``health``, the workers' exact operational totals,
  was dropped by ``drop_health_operational_metrics``: each worker serves them on its Prometheus endpoint.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from analytics.errors import StoreError

log = logging.getLogger(__name__)

_FIRST_DIMENSION_COLUMNS = (
    "category",
    "detection_stage",
    "action",
    "technique",
    "surface",
    "jurisdiction",
    "identity_verification",
    "account_age_bucket",
    "language",
    "model_family",
)
#: Dimensions a family may use; each is a nullable column of ``cells``.
DIMENSION_COLUMNS = (*_FIRST_DIMENSION_COLUMNS, "escalation_stage")


@dataclass(frozen=True)
class Migration:
    """One schema change: its permanent ``name`` (recorded in the store) and its SQL."""

    name: str
    sql: str


#: Every migration, in the order a new store applies them. Append; never rename, reorder or edit one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "releases_cells_ledger_audit",
        f"""
        CREATE TABLE releases (
            release_id VARCHAR PRIMARY KEY,
            family VARCHAR NOT NULL,
            window_start TIMESTAMPTZ NOT NULL,
            window_end TIMESTAMPTZ NOT NULL,
            released_at TIMESTAMPTZ NOT NULL,
            privacy_unit VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            mechanism VARCHAR NOT NULL,
            bound_k INTEGER NOT NULL,
            bound_l INTEGER NOT NULL,
            sensitivity_l2 DOUBLE NOT NULL,
            scale DOUBLE NOT NULL,
            rho DOUBLE NOT NULL,
            epsilon DOUBLE NOT NULL,
            delta DOUBLE NOT NULL,
            alpha DOUBLE NOT NULL,
            interval_half_width DOUBLE NOT NULL,
            n_cells INTEGER NOT NULL,
            UNIQUE (family, window_start)
        );
        CREATE TABLE cells (
            release_id VARCHAR NOT NULL,
            family VARCHAR NOT NULL,
            window_start TIMESTAMPTZ NOT NULL,
            window_end TIMESTAMPTZ NOT NULL,
            {", ".join(f"{c} VARCHAR" for c in _FIRST_DIMENSION_COLUMNS)},
            value DOUBLE NOT NULL,
            ci_low DOUBLE NOT NULL,
            ci_high DOUBLE NOT NULL,
            includes_zero BOOLEAN NOT NULL,
            mechanism VARCHAR NOT NULL,
            scale DOUBLE NOT NULL,
            rho DOUBLE NOT NULL
        );
        CREATE TABLE ledger (
            family VARCHAR NOT NULL,
            window_start TIMESTAMPTZ NOT NULL,
            window_end TIMESTAMPTZ NOT NULL,
            period VARCHAR NOT NULL,
            year INTEGER NOT NULL,
            rho DOUBLE NOT NULL,
            epsilon DOUBLE NOT NULL,
            delta DOUBLE NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (family, window_start)
        );
        CREATE TABLE audit (
            logged_at TIMESTAMPTZ NOT NULL,
            component VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            detail VARCHAR NOT NULL
        );
        """,
    ),
    # The escalation funnel's derived dimension; operational metrics for the data-health view.
    Migration(
        "escalation_stage_and_health",
        """
        ALTER TABLE cells ADD COLUMN escalation_stage VARCHAR;
        CREATE TABLE health (
            recorded_at TIMESTAMPTZ NOT NULL,
            worker VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            label VARCHAR NOT NULL,
            value DOUBLE NOT NULL
        );
        """,
    ),
    # The release engine: caps in force and accounting component on every ledger row; totals;
    # partition-selection thresholds; the continual (year-to-date) release's tree nodes and estimates.
    Migration(
        "release_engine_caps_totals_continual",
        """
        ALTER TABLE ledger ADD COLUMN component VARCHAR DEFAULT 'cells';
        ALTER TABLE ledger ADD COLUMN period_start TIMESTAMPTZ;
        ALTER TABLE ledger ADD COLUMN cap_period DOUBLE;
        ALTER TABLE ledger ADD COLUMN cap_year DOUBLE;
        UPDATE ledger SET period_start = window_start WHERE period_start IS NULL;
        ALTER TABLE cells ADD COLUMN is_total BOOLEAN DEFAULT false;
        ALTER TABLE releases ADD COLUMN threshold DOUBLE;
        ALTER TABLE releases ADD COLUMN window_kind VARCHAR DEFAULT 'week';
        CREATE TABLE tree_nodes (
            family VARCHAR NOT NULL,
            year INTEGER NOT NULL,
            level INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            window_start TIMESTAMPTZ NOT NULL,
            window_end TIMESTAMPTZ NOT NULL,
            category VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            scale DOUBLE NOT NULL,
            rho DOUBLE NOT NULL,
            PRIMARY KEY (family, year, level, idx, category)
        );
        CREATE TABLE cumulative (
            family VARCHAR NOT NULL,
            year INTEGER NOT NULL,
            window_start TIMESTAMPTZ NOT NULL,
            window_end TIMESTAMPTZ NOT NULL,
            category VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            ci_low DOUBLE NOT NULL,
            ci_high DOUBLE NOT NULL,
            includes_zero BOOLEAN NOT NULL,
            mechanism VARCHAR NOT NULL,
            scale DOUBLE NOT NULL,
            rho DOUBLE NOT NULL,
            n_nodes INTEGER NOT NULL,
            released_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (family, year, window_start, category)
        );
        """,
    ),
    # Year to date becomes post-processing: every released cell keeps its unclamped noisy value (the
    # OpenDP output itself), the year-to-date lines are sums of those, the tree's nodes go, and every
    # ledger row counts against the year its privacy period starts in.
    Migration(
        "year_to_date_from_weekly_values",
        """
        ALTER TABLE cells ADD COLUMN noisy_value DOUBLE;
        DROP TABLE IF EXISTS tree_nodes;
        DROP TABLE IF EXISTS cumulative;
        CREATE TABLE cumulative (
            family VARCHAR NOT NULL,
            year INTEGER NOT NULL,
            window_start TIMESTAMPTZ NOT NULL,
            window_end TIMESTAMPTZ NOT NULL,
            category VARCHAR NOT NULL,
            noisy_value DOUBLE NOT NULL,
            value DOUBLE NOT NULL,
            ci_low DOUBLE NOT NULL,
            ci_high DOUBLE NOT NULL,
            includes_zero BOOLEAN NOT NULL,
            mechanism VARCHAR NOT NULL,
            scale DOUBLE NOT NULL,
            n_weeks INTEGER NOT NULL,
            computed_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (family, year, window_start, category)
        );
        UPDATE ledger SET year = year(timezone('UTC', period_start))
            WHERE period_start IS NOT NULL AND year <> year(timezone('UTC', period_start));
        """,
    ),
    # Exact operational totals (events in per provider, rejects, drops, ...) move with one actor, so
    # they leave the analyst store: each worker serves them on its Prometheus endpoint instead.
    Migration("drop_health_operational_metrics", "DROP TABLE IF EXISTS health;"),
)

#: The integer versions stores recorded before migrations had names, and the migration each one was.
LEGACY_VERSIONS: dict[int, str] = {1: MIGRATIONS[0].name, 2: MIGRATIONS[1].name, 3: MIGRATIONS[2].name}

_NAMES_TABLE = """
CREATE TABLE IF NOT EXISTS store_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)
"""


def tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The names of the tables in the store."""
    return frozenset(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())


def applied(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the migrations recorded in the store, in the order they were applied."""
    if "store_migrations" not in tables(con):
        return []
    return [r[0] for r in con.execute("SELECT name FROM store_migrations ORDER BY applied_at, name").fetchall()]


def _adopt_legacy_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Record, by name, the migrations an older store recorded by integer version (``schema_migrations``)."""
    if "schema_migrations" not in tables(con):
        return
    for version, at in con.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall():
        name = LEGACY_VERSIONS.get(version)
        if name is None:
            raise StoreError(
                f"the store records schema version {version}, which this Flockview does not know "
                f"(known: {sorted(LEGACY_VERSIONS)}); was it written by a newer release?"
            )
        con.execute(
            "INSERT INTO store_migrations VALUES (?, ?) ON CONFLICT DO NOTHING", [name, at or datetime.now(UTC)]
        )


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration the store has not recorded yet, inside the caller's transaction.

    Returns:
        The names of the migrations applied now (empty when the store was up to date).
    """
    con.execute(_NAMES_TABLE)
    _adopt_legacy_versions(con)
    done = set(applied(con))
    now: list[str] = []
    for migration in MIGRATIONS:
        if migration.name not in done:
            con.execute(migration.sql)
            con.execute("INSERT INTO store_migrations VALUES (?, ?)", [migration.name, datetime.now(UTC)])
            now.append(migration.name)
    return now
