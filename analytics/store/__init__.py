"""The DuckDB store: the only package that imports ``duckdb``, and the only place SQL against its schema is written.

Only noisy, post-processed values land here. Writers hold one short transaction
(:meth:`Store.transaction`) and call the table modules' typed functions inside it; readers use
:class:`ReadOnlyStore`.

Modules:
    database: ``Store`` (short write transactions), ``ReadOnlyStore`` (readers), ``with_retry``.
    schema: the named migrations, ``DIMENSION_COLUMNS`` and the table catalogue.
    releases: the ``releases`` and ``cells`` tables.
    ledger: the ``ledger`` table (budget charges and the caps in force).
    tree: the ``cumulative`` table (year-to-date lines, sums of weekly released values).
    audit: the audit trail (releases, refusals and other decisions).
"""

from analytics.store import audit, ledger, releases, schema, tree
from analytics.store.database import Connection, ReadOnlyStore, Store, with_retry
from analytics.store.schema import DIMENSION_COLUMNS, MIGRATIONS, Migration

__all__ = [
    "DIMENSION_COLUMNS",
    "MIGRATIONS",
    "Connection",
    "Migration",
    "ReadOnlyStore",
    "Store",
    "audit",
    "ledger",
    "releases",
    "schema",
    "tree",
    "with_retry",
]
