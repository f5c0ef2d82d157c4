"""A worker whose release step is wrapped by a test sink: the tests' only way to see pre-noise counts.

Run as ``python tests/integration/sink_worker.py OUT_DIR`` with ``FLOCKVIEW_WORKER_*`` settings in
the environment. Every whole window goes through the real :class:`Releaser` (OpenDP, DuckDB release
log) and then one JSON line per window is appended to ``OUT_DIR/<pid>.jsonl``: the window, the
release statuses and the exact counts the release step received. This file is not part of the
package: a deployed worker has no way to reach exact counts.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from analytics.settings import WorkerSettings
from analytics.stream.app import build_worker, prepare, run_app, serve_metrics
from analytics.windows import ClosedWindow


def main(out_dir: Path) -> None:
    settings = WorkerSettings()
    prepare(settings)
    out = out_dir / f"{os.getpid()}.jsonl"
    holder: dict[str, object] = {}

    def sink(closed: ClosedWindow) -> None:
        outcomes = holder["runtime"].releaser.release(closed)  # type: ignore[attr-defined]
        line = {
            "start": closed.window.start.isoformat(),
            "end": closed.window.end.isoformat(),
            "statuses": sorted({o.status for o in outcomes}),
            "counts": {f: sorted([list(c), n] for c, n in cells.items()) for f, cells in closed.counts.items()},
        }
        with out.open("a") as fh:
            fh.write(json.dumps(line) + "\n")

    app, runtime = build_worker(settings, release_sink=sink)
    holder["runtime"] = runtime
    serve_metrics(runtime)
    run_app(app, settings)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
