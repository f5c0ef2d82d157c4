"""Contribution bounding, tumbling windows and the aggregator, in plain Python."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from analytics.aggregator import WindowAggregator
from analytics.bounding import ContributionBounder
from analytics.families import ReportFamily, load_families
from analytics.windows import window_of
from ingest.events import parse_event


def reference_bounded_counts(stream: list[tuple[str, str]], k: int, l: int) -> Counter[str]:
    """The bounding rule written as plainly as possible: first K cells per actor, first L events per cell."""
    counts: Counter[str] = Counter()
    per_actor: dict[str, list[str]] = {}
    per_actor_cell: Counter[tuple[str, str]] = Counter()
    for actor, cell in stream:
        cells = per_actor.setdefault(actor, [])
        if cell not in cells:
            if len(cells) == k:
                continue
            cells.append(cell)
        if per_actor_cell[(actor, cell)] == l:
            continue
        per_actor_cell[(actor, cell)] += 1
        counts[cell] += 1
    return counts


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from("uvwxyz")), max_size=300),
       st.integers(1, 4), st.integers(1, 5))
def test_bounder_matches_reference(stream: list[tuple[str, str]], k: int, l: int) -> None:
    family = ReportFamily(name="ref", title="reference", dimensions=("category",), bound_k=k, bound_l=l, weight=1.0)
    bounder = ContributionBounder(family)
    kept = sum(bounder.add(actor, cell) for actor, cell in stream)
    assert bounder.counts == reference_bounded_counts(stream, k, l)
    assert kept + bounder.dropped == len(stream)
    for cells in bounder.contributions.values():
        assert len(cells) <= k and all(n <= l for n in cells.values())


def test_windows_are_aligned_tumbling_weeks_and_seconds() -> None:
    ts = datetime(2026, 11, 19, 15, 30, tzinfo=UTC)  # a Thursday
    week = window_of(ts, timedelta(days=7))
    assert week.start == datetime(2026, 11, 16, tzinfo=UTC) and week.label() == "2026-W47"
    ten = window_of(ts + timedelta(seconds=7), timedelta(seconds=10))
    assert ten.start == datetime(2026, 11, 19, 15, 30, tzinfo=UTC) and ten.end - ten.start == timedelta(seconds=10)


def event(ts: datetime, actor: str = "a" * 64, category: str = "cyber.malware", event_id: uuid.UUID | None = None):  # type: ignore[no-untyped-def]
    return parse_event({
        "event_id": str(event_id or uuid.uuid4()), "occurred_at": ts.isoformat(), "provider": "acme-ai",
        "actor": actor, "surface": "api", "model_family": "m", "detection_stage": "input_filter",
        "category": category, "action": "block", "score": 0.5, "jurisdiction": "US", "language": "en",
    })


FAMILY = ReportFamily(name="by_category", title="t", dimensions=("category",), bound_k=1, bound_l=2, weight=1)


def test_aggregator_bounds_dedupes_and_closes_on_watermark() -> None:
    start = datetime(2026, 11, 19, 15, 30, tzinfo=UTC)
    agg = WindowAggregator([FAMILY], timedelta(seconds=10), lateness=timedelta(seconds=2))
    duplicate = uuid.uuid4()
    for i in range(5):  # one actor, five events in one cell: L=2 keeps two
        agg.add(event(start + timedelta(seconds=i)))
    agg.add(event(start, actor="b" * 64, event_id=duplicate))
    agg.add(event(start, actor="b" * 64, event_id=duplicate))
    agg.add(event(start, actor="b" * 64, category="cbrn.bio"))  # K=1: b's second cell is dropped
    assert agg.close_ready(now=start + timedelta(seconds=11)) == []  # within lateness
    closed = agg.close_ready(now=start + timedelta(seconds=12))
    assert len(closed) == 1
    counts = closed[0].counts["by_category"]
    assert counts[("cyber.malware",)] == 3 and ("cbrn.bio",) not in counts
    assert agg.metrics.duplicates == 1 and agg.metrics.dropped_by_bounding == 4
    agg.add(event(start + timedelta(seconds=3)))  # its window has closed
    assert agg.metrics.late == 1 and agg.open_windows == []


def test_default_families_load_and_have_public_key_spaces() -> None:
    families = {f.name: f for f in load_families()}
    assert len(families["events_by_category"].keys) == 17
    assert families["events_by_category_stage_action"].sensitivity_l2 == 3 * 3**0.5
