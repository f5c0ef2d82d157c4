"""A dashboard-style reader process reads the store in a loop while a writer process releases windows."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from analytics.store import Store

WRITER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from analytics.families import load_families
    from analytics.privacy.budget import RhoBudget
    from analytics.privacy.release import BudgetPolicy, Releaser
    from analytics.store import Store
    from analytics.windows import ClosedWindow, Window

    path, n = Path(sys.argv[1]), int(sys.argv[2])
    families = load_families()
    releaser = Releaser(Store(path), families, BudgetPolicy(rho_year=RhoBudget(100.0)))
    first = datetime(2026, 1, 5, tzinfo=UTC)
    for i in range(n):
        window = Window(first + timedelta(days=7 * i), first + timedelta(days=7 * (i + 1)))
        counts = {f.name: {key: 500 + i for key in f.keys} for f in families}
        counts["events_by_model_family"] = {("acme-large",): 5000}
        statuses = {o.status for o in releaser.release(ClosedWindow(window, counts))}
        assert statuses == {"released"}, statuses
    """)

READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from analytics.store import ReadOnlyStore

    reader, stop = ReadOnlyStore(Path(sys.argv[1])), Path(sys.argv[2])
    # One statement, one snapshot: every release must have all its cells, its ledger row and (for the
    # family with a year-to-date line) its cumulative rows; and what was seen must never disappear.
    check = '''
        SELECT (SELECT count(*) FROM releases) AS releases,
               (SELECT count(*) FROM releases r WHERE r.n_cells <>
                    (SELECT count(*) FROM cells c WHERE c.release_id = r.release_id)
                 OR NOT EXISTS (SELECT 1 FROM ledger l WHERE l.family = r.family
                                AND l.window_start = r.window_start)) AS torn,
               (SELECT count(*) FROM releases r WHERE r.family = 'events_by_category' AND
                    (SELECT count(*) FROM cumulative u WHERE u.family = r.family
                     AND u.window_start = r.window_start) <> 17) AS torn_ytd
    '''
    reads, errors, torn, last, seen = 0, [], 0, 0, []
    while not stop.exists() or reads < 5:
        try:
            row = reader.query(check)
        except Exception as exc:
            errors.append(repr(exc))
            continue
        reads += 1
        if row.empty:
            continue
        n = int(row["releases"].iloc[0])
        torn += int(row["torn"].iloc[0]) + int(row["torn_ytd"].iloc[0])
        if n < last:
            errors.append(f"releases went from {last} to {n}")
        last = n
        seen.append(n)
    print(json.dumps({"reads": reads, "errors": errors, "torn": torn, "distinct": len(set(seen)), "last": last}))
    """)


@pytest.mark.integration
def test_reader_process_reads_consistently_while_writer_process_releases(tmp_path: Path) -> None:
    path = tmp_path / "flockview.duckdb"
    Store(path)  # migrated before either process starts, as the worker does on start
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        writer = subprocess.run(
            [sys.executable, "-c", WRITER, str(path), "3"], capture_output=True, text=True, timeout=300
        )
        assert writer.returncode == 0, writer.stderr[-2000:]
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    families = 10
    assert result["errors"] == [] and result["torn"] == 0
    assert result["last"] == 3 * families and result["reads"] >= 5
    assert result["distinct"] >= 2  # the reader saw the store at more than one point of the writer's run
