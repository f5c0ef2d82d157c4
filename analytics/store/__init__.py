"""The DuckDB store: the only package that imports ``duckdb``. Only noisy, post-processed values land here.

Modules:
    database: ``Store`` (short write transactions), ``ReadOnlyStore`` (readers), retries, migrations.
"""

from analytics.store.database import DIMENSION_COLUMNS, MIGRATIONS, ReadOnlyStore, Store, with_retry

__all__ = ["DIMENSION_COLUMNS", "MIGRATIONS", "ReadOnlyStore", "Store", "with_retry"]
