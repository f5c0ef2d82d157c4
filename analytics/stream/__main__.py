"""``python -m analytics.stream``: run a worker configured as ``flockview worker`` is, without options.

Settings come from ``FLOCKVIEW_WORKER_*`` variables, then the ``[worker]`` table of ``flockview.toml``
(``$FLOCKVIEW_CONFIG`` or ``./flockview.toml``), then the defaults; a bad one is one ``error:`` line.
"""

import sys

from analytics.settings import WorkerSettings
from analytics.stream.app import run_worker
from ingest.errors import ConfigError

if __name__ == "__main__":
    try:
        settings = WorkerSettings()
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    run_worker(settings)
