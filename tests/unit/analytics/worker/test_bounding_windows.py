"""Contribution bounding, tumbling windows and the aggregator, in plain Python."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.families import EscalationStage, ReportFamily, load_families
from analytics.privacy.bounding import ContributionBounder
from analytics.windows import Cell, window_of
from analytics.worker.aggregator import WindowAggregator
from analytics.worker.slots import Vocabulary, WindowBounds
from ingest.contract.events import parse_event

STAGES = [s.value for s in EscalationStage]


def reference_bounded_values(stream: list[tuple[str, Cell]], family: ReportFamily) -> Counter[Cell]:
    """The rule written as plainly as possible, for every metric.

    Each actor keeps its first K distinct cells; per kept cell it has n qualifying events and adds
    min(n, L) for event counts, 1 if n ≥ 1 for distinct actors and the funnel, 1 if n ≥ threshold.
    """
    first_cells: dict[str, list[Cell]] = defaultdict(list)
    events: Counter[tuple[str, Cell]] = Counter()
    for actor, cell in stream:
        if cell not in first_cells[actor]:
            if len(first_cells[actor]) == family.bound_k:
                continue
            first_cells[actor].append(cell)
        events[(actor, cell)] += 1
    values: Counter[Cell] = Counter()
    for (_, cell), n in events.items():
        if family.metric == "event_count":
            values[cell] += min(n, family.bound_l)
        elif family.metric == "actors_over_threshold":
            values[cell] += int(n >= (family.threshold or 1))
        else:
            values[cell] += 1
    return +values


def family_for(metric: str, k: int, bound_l: int, threshold: int) -> ReportFamily:
    dims = ("escalation_stage",) if metric == "escalation_funnel" else ("category",)
    return ReportFamily(
        name="ref",
        title="reference",
        dimensions=dims,
        metric=metric,
        bound_k=k,
        bound_l=bound_l,
        threshold=threshold if metric == "actors_over_threshold" else None,
        weight=1.0,
    )


CATEGORY_CELLS = [("cyber.malware",), ("cbrn.bio",), ("self_harm",), ("fraud.scam",), ("other",)]
METRICS = ["event_count", "distinct_actors", "actors_over_threshold", "escalation_funnel"]


def apply_in_batches(bounds: WindowBounds, vocab: Vocabulary, stream: list[tuple[str, Cell]], cuts: list[int]) -> int:
    """Feed ``stream`` to ``bounds`` cut into batches at ``cuts``; returns the events dropped."""
    rows = {actor: i for i, actor in enumerate(sorted({a for a, _ in stream}))}
    bounds.ensure_rows(len(rows))
    edges = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    dropped = 0
    for lo, hi in itertools.pairwise(edges):
        part = stream[lo:hi]
        dropped += bounds.apply(
            0,
            np.array([rows[a] for a, _ in part], np.int64),
            np.array([vocab.cell_index(0, c) for _, c in part], np.int64),
        )
    return dropped


@given(
    st.sampled_from(METRICS),
    st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 4)), max_size=300),
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(1, 4),
    st.lists(st.integers(0, 400), max_size=4),
)
def test_both_bounders_match_the_reference_for_every_metric(
    metric: str, raw: list[tuple[str, int]], k: int, bound_l: int, threshold: int, cuts: list[int]
) -> None:
    family = family_for(metric, k, bound_l, threshold)
    cells = [(s,) for s in STAGES] if metric == "escalation_funnel" else CATEGORY_CELLS
    stream = [(actor, cells[i % len(cells)]) for actor, i in raw]
    expected = reference_bounded_values(stream, family)

    plain = ContributionBounder(family)
    kept = sum(plain.add(actor, cell) for actor, cell in stream)
    assert +plain.counts == expected
    assert kept + plain.dropped == len(stream)

    vocab = Vocabulary([family])
    bounds = WindowBounds(vocab)
    dropped = apply_in_batches(bounds, vocab, stream, cuts)  # however the stream is cut into batches
    assert vocab.cell_counts(bounds.counts)["ref"] == dict(expected)
    assert dropped == plain.dropped
    for row in range(bounds.capacity):
        slots = bounds.slots_of(row, 0)
        assert len(slots) <= k and all(n <= family.saturation for n in slots.values())
    rows = np.arange(bounds.capacity)
    restored = WindowBounds(vocab)  # what the state store does on restart: the slots, then a recount
    restored.load(rows, bounds.dump(rows))
    restored.recount()
    assert vocab.cell_counts(restored.counts) == vocab.cell_counts(bounds.counts)


def test_window_bounds_count_past_255_events_per_cell() -> None:
    family = ReportFamily(name="wide", title="t", dimensions=("category",), bound_k=2, bound_l=300, weight=1.0)
    vocab = Vocabulary([family])
    bounds = WindowBounds(vocab)
    malware, bio = vocab.cell_index(0, ("cyber.malware",)), vocab.cell_index(0, ("cbrn.bio",))
    stream = [("a", ("cyber.malware",))] * 310 + [("a", ("cbrn.bio",))]
    assert apply_in_batches(bounds, vocab, stream, [100, 305]) == 10
    assert bounds.counts[0][malware] == 300 and bounds.counts[0][bio] == 1
    assert bounds.slots_of(0, 0) == {malware: 300, bio: 1}


def test_open_vocabulary_cells_are_interned_in_order() -> None:
    family = ReportFamily(name="models", title="t", dimensions=("model_family",), bound_k=1, bound_l=2, weight=1.0)
    vocab = Vocabulary([family])
    assert [vocab.cell_index(0, (m,)) for m in ("b", "a", "b")] == [0, 1, 0]
    assert vocab.new_vocab == [(0, 0, ("b",)), (0, 1, ("a",))]
    public = Vocabulary([load_families()[0]])
    with pytest.raises(RuntimeError, match="this is a bug"):
        public.cell_index(0, ("no-such-category",))


def test_windows_are_aligned_tumbling_weeks_and_seconds() -> None:
    ts = datetime(2026, 11, 19, 15, 30, tzinfo=UTC)  # a Thursday
    week = window_of(ts, timedelta(days=7))
    assert week.start == datetime(2026, 11, 16, tzinfo=UTC) and week.label() == "2026-W47"
    ten = window_of(ts + timedelta(seconds=7), timedelta(seconds=10))
    assert ten.start == datetime(2026, 11, 19, 15, 30, tzinfo=UTC) and ten.end - ten.start == timedelta(seconds=10)


def event(ts: datetime, actor: str = "a" * 64, category: str = "cyber.malware", event_id: uuid.UUID | None = None):  # type: ignore[no-untyped-def]
    return parse_event(
        {
            "event_id": str(event_id or uuid.uuid4()),
            "occurred_at": ts.isoformat(),
            "provider": "acme-ai",
            "actor": actor,
            "surface": "api",
            "model_family": "m",
            "detection_stage": "input_filter",
            "category": category,
            "action": "block",
            "score": 0.5,
            "jurisdiction": "US",
            "language": "en",
        }
    )


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
    assert agg.metrics.duplicates == 1 and agg.metrics.dropped_by_bounding == {"by_category": 4}
    agg.add(event(start + timedelta(seconds=3)))  # its window has closed
    assert agg.metrics.late == 1 and agg.open_windows == []


def test_default_families_load_and_have_public_key_spaces() -> None:
    families = {f.name: f for f in load_families()}
    assert len(families["events_by_category"].keys) == 17
    stage_action = families["events_by_category_stage_action"]
    assert stage_action.sensitivity_l2 == pytest.approx(stage_action.bound_l * stage_action.bound_k**0.5)


@given(st.sampled_from([1.0, 3.5, 7.0, 86400.0, 604800.0]), st.integers(0, 10**7), st.integers(-2, 2))
def test_the_aggregators_window_index_agrees_with_window_of_at_boundaries(size: float, k: int, micros: int) -> None:
    from analytics.windows import EPOCH
    from analytics.worker.aggregator import seconds_since_epoch

    ts = EPOCH + timedelta(seconds=size * (k % int(4e9 // size)), microseconds=micros)  # up to about 2096
    index = int(seconds_since_epoch(ts) // size)
    assert window_of(ts, timedelta(seconds=size)).start == EPOCH + timedelta(seconds=index * size)
