"""The aggregator against a batch recomputation, its durable state across restarts, seen ids, gathering."""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.families import ReportFamily, load_families
from analytics.privacy.bounding import ContributionBounder
from analytics.windows import ClosedWindow, Window, window_of
from analytics.worker.aggregator import WindowAggregator
from analytics.worker.gather import Gatherer, Summary, window_at
from analytics.worker.keys import SeenIds
from analytics.worker.state import PartitionStateStore, StateError
from ingest.contract.events import Event, parse_event

WEEK = timedelta(seconds=70)  # day windows: 10 s
START = datetime(2026, 11, 19, 15, 30, tzinfo=UTC)
FAMILIES = [
    *load_families(),
    ReportFamily(
        name="daily", title="t", dimensions=("category", "action"), window="day", bound_k=2, bound_l=2, weight=1.0
    ),
]


def events(n: int, seed: int, span_s: float = 150.0) -> list[Event]:
    rng = random.Random(seed)
    actors = [f"{rng.getrandbits(256):064x}" for _ in range(40)]
    out = []
    for _ in range(n):
        out.append(
            parse_event(
                {
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "occurred_at": (START + timedelta(seconds=rng.random() * span_s)).isoformat(),
                    "provider": "acme-ai",
                    "actor": rng.choice(actors[: rng.randint(1, 40)]),
                    "surface": rng.choice(["api", "open_weights_host"]),
                    "model_family": rng.choice(["m-1", "m-2", "m-3"]),
                    "detection_stage": "input_filter",
                    "category": rng.choice(["cyber.malware", "cbrn.bio", "fraud.phishing"]),
                    "action": rng.choice(["block", "warn", "rate_limit", "ban", "allow"]),
                    "technique": rng.choice(["roleplay", "encoding"]),
                    "score": 0.5,
                    "jurisdiction": rng.choice(["US", "DE"]),
                    "language": "en",
                }
            )
        )
    out += rng.sample(out, n // 10)  # redelivered duplicates
    return out


def reference(stream: list[Event], families: list[ReportFamily]) -> dict[Window, dict[str, dict[tuple[str, ...], int]]]:
    """Batch recomputation with the plain bounder, in stream order; a redelivered event counts once."""
    bounders: dict[Window, dict[str, ContributionBounder]] = defaultdict(dict)
    seen: set[uuid.UUID] = set()
    for event in stream:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        for family in families:
            window = window_of(event.occurred_at, WEEK / 7 if family.window == "day" else WEEK)
            bounder = bounders[window].setdefault(family.name, ContributionBounder(family))
            for cell in family.cells_of(event):
                bounder.add(event.actor, cell)
    return {
        w: {name: {c: n for c, n in b.counts.items() if n} for name, b in fams.items()} for w, fams in bounders.items()
    }


def closed_by_window(closed: list[ClosedWindow]) -> dict[Window, dict[str, dict[tuple[str, ...], int]]]:
    return {c.window: {f: cells for f, cells in c.counts.items()} for c in closed}


def close_all(agg: WindowAggregator) -> list[ClosedWindow]:
    return agg.close_ready(START + timedelta(days=1))


def test_aggregator_matches_batch_recomputation_for_all_families_and_both_window_kinds() -> None:
    stream = events(1000, seed=1)
    agg = WindowAggregator(FAMILIES, WEEK, timedelta(seconds=5))
    agg.add_batch(stream)
    got = closed_by_window(close_all(agg))
    expected = reference(stream, FAMILIES)
    assert set(got) == set(expected) and len({w.end - w.start for w in got}) == 2
    for window, fams in expected.items():
        assert {f: c for f, c in got[window].items() if c} == {f: c for f, c in fams.items() if c}, window
    assert agg.metrics.duplicates == 100


@pytest.mark.parametrize("snapshots", [False, True])
@pytest.mark.parametrize("cuts", [[1], [300, 600, 999], [500]])
def test_restarts_from_the_state_store_give_the_same_counts(
    tmp_path: Path, cuts: list[int], snapshots: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if snapshots:  # every commit replaces a window's slot log by a snapshot
        monkeypatch.setattr("analytics.worker.state._SNAPSHOT_SLACK", -(1 << 40))
    stream = events(1000, seed=2)
    path = tmp_path / "p0.sqlite"
    agg, offset, done = WindowAggregator(FAMILIES, WEEK, timedelta(seconds=5)), -1, 0
    for cut in [*cuts, len(stream)]:
        agg.add_batch(stream[done:cut])
        store = PartitionStateStore(path)
        store.commit(agg, cut - 1)
        store.close()
        done = cut
        agg = WindowAggregator(FAMILIES, WEEK, timedelta(seconds=5))  # a restart: nothing kept in memory
        store = PartitionStateStore(path)
        offset = store.load(agg)
        store.close()
    assert offset == len(stream) - 1
    con = sqlite3.connect(path)
    logged = con.execute("SELECT count(*) FROM slots GROUP BY lane, win ORDER BY 1 DESC").fetchone()[0]
    con.close()
    assert (logged == 1) if snapshots else (logged == len(cuts) + 1)
    fresh = WindowAggregator(FAMILIES, WEEK, timedelta(seconds=5))
    fresh.add_batch(stream)
    assert closed_by_window(close_all(agg)) == closed_by_window(close_all(fresh))


def test_closing_deletes_window_state_and_keeps_the_outbox_until_acknowledged(tmp_path: Path) -> None:
    store = PartitionStateStore(tmp_path / "p.sqlite")
    agg = WindowAggregator(FAMILIES, WEEK, timedelta(seconds=5))
    agg.add_batch(events(200, seed=3, span_s=5))
    store.commit(agg, 9)
    assert close_all(agg)
    store.commit(agg, None, [("summaries", b"one"), ("dlq", b"two")])
    assert store.con.execute("SELECT count(*) FROM slots").fetchone()[0] == 0
    assert store.con.execute("SELECT count(*) FROM seen").fetchone()[0] == 0
    pending = store.outbox()
    assert [(t, m) for _, t, m in pending] == [("summaries", b"one"), ("dlq", b"two")]
    store.ack_outbox([pending[0][0]])
    assert [m for _, _, m in store.outbox()] == [b"two"]
    again = WindowAggregator(FAMILIES, WEEK, timedelta(seconds=5))
    assert store.load(again) == 9 and again.open_windows == []
    assert [lane.closed_before for lane in again.lanes] == [lane.closed_before for lane in agg.lanes]


def test_state_written_for_other_families_is_refused(tmp_path: Path) -> None:
    store = PartitionStateStore(tmp_path / "p.sqlite")
    agg = WindowAggregator(FAMILIES, WEEK, timedelta(seconds=5))
    agg.add_batch(events(10, seed=4))
    store.commit(agg, 0)
    with pytest.raises(StateError, match="other report families"):
        store.load(WindowAggregator(FAMILIES[:2], WEEK, timedelta(seconds=5)))


@given(st.lists(st.lists(st.integers(0, 60), max_size=40), max_size=8))
def test_seen_ids_match_a_set(batches: list[list[int]]) -> None:
    seen, reference_set = SeenIds(), set()
    for batch in batches:
        ids = [uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128) | (i % 3) << 64).bytes for i in batch]
        expected = []
        for raw in ids:
            expected.append(raw not in reference_set)
            reference_set.add(raw)
        assert seen.add_new(ids) == expected
    assert seen.count == len(reference_set) and seen.nbytes == 16 * len(reference_set)


def test_seen_ids_tell_ids_apart_that_share_a_high_half() -> None:
    seen = SeenIds()
    a, b = (7 << 64 | 1).to_bytes(16, "little"), (7 << 64 | 2).to_bytes(16, "little")
    assert seen.add_new([a]) == [True]
    assert seen.add_new([b, a, b]) == [True, False, False]


def test_gatherer_releases_a_window_once_every_partition_closed_it() -> None:
    size = WEEK.total_seconds()
    window = window_at(100, size)
    part0 = Summary(0, size, 101, {100: {"f": {("cbrn.bio",): 3}}})
    part1 = Summary(1, size, 101, {100: {"f": {("cbrn.bio",): 2, ("other",): 1}}})
    gatherer = Gatherer()
    gatherer.add(Summary.decode(part0.encode()))
    gatherer.add(Summary.decode(part0.encode()))  # republished after a crash: the same summary again
    gatherer.add(Summary(2, size, 100, {}))  # partition 2 has not closed window 100 yet
    assert gatherer.ready([0, 1, 2]) == []
    gatherer.add(part1)
    gatherer.add(Summary(2, size, 101, {}))  # nothing of window 100 in partition 2
    ready = [(w.window, w.counts) for w in gatherer.ready([0, 1, 2])]
    assert ready == [(window, {"f": {("cbrn.bio",): 5, ("other",): 1}})]
    gatherer.add(part1)
    assert gatherer.ready([0, 1, 2]) == []


def test_summaries_refuse_other_messages() -> None:
    with pytest.raises(ValueError, match=r"not a flockview\.summary\.v2"):
        Summary.decode(b'{"format": "something else"}')
