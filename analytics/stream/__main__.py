"""``python -m analytics.stream``: run a worker configured from ``FLOCKVIEW_WORKER_*`` variables."""

from analytics.settings import WorkerSettings
from analytics.stream.app import run_worker

if __name__ == "__main__":
    run_worker(WorkerSettings())
