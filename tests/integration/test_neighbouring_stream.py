"""The neighbouring-stream test: one extra actor changes nothing an analyst can read but DP outputs.

The real path runs twice, each time on a fresh embedded broker: the provider SDK sends stream S
(or S plus one extra actor at its maximum contribution: K cells x L events in every report family,
and more, which bounding cuts), a real worker process counts it and releases it through the real
``Releaser`` into DuckDB. The only seam is ``noiseless_worker.py``: OpenDP's sampled noise is zero,
everything else (calibration, scales, intervals, ledger) is the shipped code.

Then, for the two stores:

* every table and every column is identical, except the DP outputs and wall-clock times listed in
  :data:`NOT_COMPARED`, each with why. A table or column added later is compared unless it is listed.
* the DP outputs moved by at most what the ledger charged: for each Gaussian release, the change
  ``Δ`` of its cells has ``‖Δ‖₂`` equal to the family's declared L2 sensitivity (the extra actor is at
  its maximum; noise is zero) and ``‖Δ‖²/(2σ²) ≤ ρ`` charged.
* every dashboard page (AppTest) and the weekly report (Markdown) render identically from store S
  and from store S' whose tables that agree outside :data:`NOT_COMPARED` are given S's DP outputs:
  pages and report show nothing that depends on the extra actor but DP outputs (nothing from
  another source, such as worker metrics, and no table that differs).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import pkgutil
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

import dashboard.views
from analytics.families import ReportFamily, load_families
from analytics.privacy.bounding import ContributionBounder
from analytics.reporting.build import weekly_report_markdown
from analytics.stream.app import ensure_summaries_topic
from analytics.windows import window_of
from ingest.contract.events import parse_event
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.topics import actor_partition_hash, partition_of
from ingest.devtools.broker import EmbeddedBroker, terminate
from ingest.sdk.admin import ensure_topics
from ingest.sdk.client import Client

pytestmark = pytest.mark.integration

WINDOW_S = 7.0
LATENESS_S = 1.0
PARTITIONS = 2
NOISELESS_WORKER = Path(__file__).with_name("noiseless_worker.py")

#: What may differ between the stores of S and of S plus one actor, and why. Anything else must be equal.
NOT_COMPARED: dict[str, dict[str, str]] = {
    "cells": {
        "value": "DP output: the noisy count, post-processed (consistency, clamping at 0)",
        "noisy_value": "DP output: OpenDP's noisy count itself, unclamped",
        "ci_low": "DP output: the value minus the interval's half-width",
        "ci_high": "DP output: the value plus the interval's half-width",
        "includes_zero": "post-processing of a DP output: whether ci_low <= 0",
    },
    "releases": {
        "released_at": "wall-clock time of the run, not of the data",
        "n_cells": "DP output for open vocabularies: how many keys partition selection released",
    },
    "cumulative": {
        "value": "DP output: a sum of released weekly values (post-processing)",
        "noisy_value": "DP output: a sum of released unclamped weekly values",
        "ci_low": "DP output: the value minus the interval's half-width",
        "ci_high": "DP output: the value plus the interval's half-width",
        "includes_zero": "post-processing of a DP output",
        "computed_at": "wall-clock time of the run",
    },
    "ledger": {"recorded_at": "wall-clock time of the run"},
    "audit": {"logged_at": "wall-clock time of the run"},
    "store_migrations": {"applied_at": "wall-clock time the store was created"},
}

CATEGORIES = ["cyber.malware", "fraud.phishing", "cbrn.bio", "self_harm", "weapons.conventional"]
STAGES = ["input_filter", "output_filter", "model_refusal", "account_monitor"]
ACTIONS = ["block", "block", "warn", "rate_limit", "allow", "ban"]
TECHNIQUES = ["roleplay", "encoding", "hypothetical", "decomposition"]
SURFACES = ["api", "consumer_app", "enterprise", "open_weights_host"]
JURISDICTIONS = ["DE", "US", "FR", "BR"]


def _event(i: int, j: int) -> dict[str, Any]:
    """Event ``j`` of the stream's user ``i``: a fixed mix of every public dimension."""
    return {
        "category": CATEGORIES[(i + j) % len(CATEGORIES)],
        "detection_stage": STAGES[(i * 3 + j) % len(STAGES)],
        "action": ACTIONS[(i * 5 + j) % len(ACTIONS)],
        "technique": TECHNIQUES[(i + 2 * j) % len(TECHNIQUES)],
        "surface": SURFACES[i % len(SURFACES)],
        "jurisdiction": JURISDICTIONS[(i + j) % len(JURISDICTIONS)],
        "model_family": "acme-large" if i % 3 else "acme-small",
        "language": "en",
        "score": 0.9,
    }


def stream_s(users: int = 150) -> list[tuple[str, dict[str, Any]]]:
    """Stream S: (user id, fields) of 1-4 events per user."""
    return [(f"user-{i}@example.org", _event(i, j)) for i in range(users) for j in range(1 + i % 4)]


def extra_actor(families: list[ReportFamily]) -> list[tuple[str, dict[str, Any]]]:
    """One actor touching more cells than any K, each more often than any L (and any threshold), in every family.

    Its model families are keys S never uses, so partition selection (threshold above L) drops them
    whatever S holds: the set of released keys stays the same.
    """
    k = max(f.bound_k for f in families) + 1
    repeat = max(max(f.bound_l, f.threshold or 0) for f in families) + 1
    actions = ["block", "warn", "rate_limit", "ban", "suspend"]
    profiles = [
        {
            "category": CATEGORIES[c % len(CATEGORIES)],
            "detection_stage": STAGES[c % len(STAGES)],
            "action": "block" if c == 0 else actions[c % len(actions)],
            "technique": TECHNIQUES[c % len(TECHNIQUES)],
            "surface": SURFACES[c % len(SURFACES)],
            "jurisdiction": JURISDICTIONS[c % len(JURISDICTIONS)],
            "model_family": f"neighbour-model-{c}",
            "language": "en",
            "score": 0.9,
        }
        for c in range(max(k, len(actions)))
    ]
    # The block profile repeats so the actor passes every actors_over_threshold family's threshold.
    return [("the-extra-actor@example.org", p) for p in profiles for _ in range(repeat)]


def assert_at_maximum(pseudonym_key: bytes, events: list[tuple[str, dict[str, Any]]], at: datetime) -> None:
    """The extra actor's bounded contribution is K cells of L events (or its metric's maximum) in every family."""
    for family in load_families():
        bounder = ContributionBounder(family)
        for user, fields in events:
            event = parse_event(
                {
                    "event_id": f"00000000-0000-4000-8000-{len(bounder.counts):012d}",
                    "occurred_at": at.isoformat(),
                    "provider": "acme-ai",
                    "actor": pseudonymise(pseudonym_key, user),
                    **fields,
                }
            )
            for cell in family.cells_of(event):
                bounder.add(event.actor, cell)
        touched = sorted(n for n in bounder.counts.values() if n)
        per_cell = 1 if family.metric != "event_count" else family.bound_l
        assert touched == [per_cell] * family.bound_k, f"{family.name}: the extra actor is not at its maximum"


def closing_users(pseudonym_key: bytes) -> list[str]:
    """A user per partition, whose event after the window moves that partition's watermark past it."""
    users: dict[int, str] = {}
    i = 0
    while len(users) < PARTITIONS:
        user = f"closing-{i}"
        users.setdefault(partition_of(actor_partition_hash(pseudonymise(pseudonym_key, user)), PARTITIONS), user)
        i += 1
    return [users[p] for p in range(PARTITIONS)]


@contextlib.contextmanager
def noiseless_worker(tmp: Path, broker: EmbeddedBroker, registry: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(
        os.environ,
        FLOCKVIEW_WORKER_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        FLOCKVIEW_WORKER_STORE=str(tmp / "store.duckdb"),
        FLOCKVIEW_WORKER_REGISTRY=str(registry),
        FLOCKVIEW_WORKER_WINDOW_SECONDS=str(WINDOW_S),
        FLOCKVIEW_WORKER_LATENESS_SECONDS=str(LATENESS_S),
        FLOCKVIEW_WORKER_MAX_CLOCK_SKEW_SECONDS="900",
        FLOCKVIEW_WORKER_PARTITIONS=str(PARTITIONS),
        FLOCKVIEW_WORKER_TICK_SECONDS="0.3",
        FLOCKVIEW_WORKER_HEALTH_SECONDS="1",
        FLOCKVIEW_WORKER_METRICS_PORT="0",
        FLOCKVIEW_WORKER_BATCH_WITHIN="0.2",
        FLOCKVIEW_WORKER_DECODE_PROCESS="false",
        FLOCKVIEW_WORKER_DATADIR=str(tmp / "datadir"),
    )
    log = (tmp / "worker.log").open("ab")
    worker = subprocess.Popen([sys.executable, str(NOISELESS_WORKER)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield worker
    finally:
        terminate(worker, grace=20)
        log.close()


def run(tmp: Path, provider: Any, events: list[tuple[str, dict[str, Any]]], start: datetime) -> Path:
    """Send ``events`` (all in the window starting at ``start``) through the real path; returns the store."""
    tmp.mkdir()
    registry = tmp / "providers.toml"
    registry.write_text(provider.registry_toml())
    broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
    try:
        ensure_topics(broker.bootstrap_servers, PARTITIONS)
        ensure_summaries_topic(broker.bootstrap_servers)
        with noiseless_worker(tmp, broker, registry) as worker:
            client = Client(
                provider=provider.name,
                pseudonym_key=provider.pseudonym_key,
                signing_key=provider.signing_key,
                bootstrap_servers=broker.bootstrap_servers,
            )
            for n, (user, fields) in enumerate(events):
                client.emit(user_id=user, occurred_at=start + timedelta(seconds=(n % 60) / 10), **fields)
            client.flush(timeout=30)
            after = start + timedelta(seconds=WINDOW_S + LATENESS_S + 2)
            for user in closing_users(provider.pseudonym_key):
                client.emit(user_id=user, occurred_at=after, **_event(0, 0))
            client.close()
            wait_released(tmp / "store.duckdb", worker, start, len(load_families()))
    finally:
        broker.stop(grace=3.0)
    return tmp / "store.duckdb"


def wait_released(store: Path, worker: subprocess.Popen[bytes], start: datetime, families: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited early"
        with contextlib.suppress(duckdb.Error):
            with duckdb.connect(str(store), read_only=True) as con:
                row = con.execute("SELECT count(*) FROM releases WHERE window_start = ?", [start]).fetchone()
            if row and row[0] >= families:
                time.sleep(1.5)  # anything the worker writes after its releases (metrics, reports) lands too
                return
        time.sleep(0.3)
    raise AssertionError(f"the window starting {start} was not released within 60 s")


def columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def compared_rows(con: duckdb.DuckDBPyConnection, table: str, cols: list[str]) -> list[tuple[Any, ...]]:
    kept = [c for c in cols if c not in NOT_COMPARED.get(table, {})]
    selected = ", ".join(f'"{c}"' for c in kept)
    rows = con.execute(f'SELECT {selected} FROM "{table}"').fetchall()
    return sorted(rows, key=repr)


def store_differences(s: Path, neighbour: Path) -> dict[str, str]:
    """Each table whose schema or rows (outside :data:`NOT_COMPARED`) differ, with how."""
    with duckdb.connect(str(s), read_only=True) as a, duckdb.connect(str(neighbour), read_only=True) as b:
        ca, cb = columns(a), columns(b)
        differences = {t: "only in one store" for t in set(ca) ^ set(cb)}
        for table in sorted(set(ca) & set(cb)):
            if ca[table] != cb[table]:
                differences[table] = f"columns {ca[table]} vs {cb[table]}"
                continue
            ra, rb = compared_rows(a, table, ca[table]), compared_rows(b, table, cb[table])
            if ra != rb:
                only_a = [r for r in ra if r not in rb][:3]
                only_b = [r for r in rb if r not in ra][:3]
                differences[table] = f"{len(ra)} vs {len(rb)} rows; only in S: {only_a}; only with the actor: {only_b}"
    return differences


def assert_dp_outputs_moved_within_the_ledger(s: Path, neighbour: Path, start: datetime) -> None:
    """Per Gaussian release: ‖Δ‖₂ is the declared sensitivity (maximum contribution, zero noise); it costs ≤ ρ charged."""
    # Every cell of a release, its total row included: the total is noised with the parts.
    query = """
        SELECT r.sensitivity_l2, c.*
        FROM releases r JOIN cells c USING (release_id)
        WHERE r.window_start = ?
    """
    frames = []
    for path in (s, neighbour):
        with duckdb.connect(str(path), read_only=True) as con:
            frames.append(con.execute(query, [start]).df())
    a, b = frames
    keys = [c for c in a.columns if c not in NOT_COMPARED["cells"] and c not in ("release_id",)]
    joined = a.merge(b, on=keys, suffixes=("_s", "_n"), how="outer", indicator=True)
    gaussian = joined[joined["mechanism"].str.contains("gaussian") & ~joined["mechanism"].str.contains("threshold")]
    assert (gaussian["_merge"] == "both").all(), "a public-key family released different cells"
    for family, cells in gaussian.groupby("family"):
        delta = cells["value_n"] - cells["value_s"]
        norm = math.sqrt(float((delta**2).sum()))
        sensitivity, scale, rho = (float(cells[c].iloc[0]) for c in ("sensitivity_l2", "scale", "rho"))
        assert norm == pytest.approx(sensitivity), f"{family}: ‖Δ‖₂ = {norm}, declared sensitivity {sensitivity}"
        assert norm**2 / (2 * scale**2) <= rho * (1 + 1e-9), f"{family}: the change costs more than the ledger charged"


def graft(s: Path, neighbour: Path, out: Path) -> Path:
    """A copy of the neighbour's store in which every table that agrees with S outside NOT_COMPARED is S's."""
    shutil.copy(neighbour, out)
    differing = store_differences(s, neighbour)
    with duckdb.connect(str(out)) as con:
        con.execute(f"ATTACH '{s}' AS s (READ_ONLY)")
        for table in columns(con):
            if table not in differing and table in NOT_COMPARED:
                con.execute(f'DELETE FROM main."{table}"')
                con.execute(f'INSERT INTO main."{table}" SELECT * FROM s."{table}"')
    return out


def view_names() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(dashboard.views.__path__) if not m.name.startswith("_")]


def render_page(monkeypatch: pytest.MonkeyPatch, store: Path, view: str, reports: Path) -> list[str]:
    """Every element of one dashboard page, as its protobuf text, in order."""
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_STORE", str(store))
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_REPORTS_DIR", str(reports))
    module = importlib.import_module(f"dashboard.views.{view}")
    assert hasattr(module, "render"), view
    at = AppTest.from_string(f"from dashboard.views import {view}\n{view}.render()\n", default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return [str(node.proto) for node in _walk(at._tree) if getattr(node, "proto", None) is not None]


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def test_one_extra_actor_changes_nothing_an_analyst_reads_but_dp_outputs(
    provider: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    families = load_families()
    start = window_of(datetime.now(UTC) + timedelta(seconds=150), timedelta(seconds=WINDOW_S)).start
    base = stream_s()
    extra = extra_actor(families)
    assert_at_maximum(provider.pseudonym_key, extra, start)

    s = run(tmp_path / "s", provider, base, start)
    neighbour = run(tmp_path / "s-plus-one", provider, base + extra, start)

    assert store_differences(s, neighbour) == {}
    assert_dp_outputs_moved_within_the_ledger(s, neighbour, start)

    # Pages and report: rendered from S, and from S' given S's DP outputs, they must be equal.
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_REFRESH_SECONDS", "3600")
    grafted = graft(s, neighbour, tmp_path / "grafted.duckdb")
    reports = tmp_path / "no-reports"
    reports.mkdir()
    for view in view_names():
        pages = [render_page(monkeypatch, store, view, reports) for store in (s, grafted)]
        assert pages[0] == pages[1], f"page {view} differs"
    label = window_of(start, timedelta(seconds=WINDOW_S)).label()
    assert weekly_report_markdown(s, label) == weekly_report_markdown(grafted, label)
