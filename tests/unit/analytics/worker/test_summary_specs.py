"""Closed-window summaries carry the bounds they were computed with (issue 15, item 4), and the
partition counts their events were signed for (item 3); the releaser refuses and audits a mismatch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analytics.families import load_families
from analytics.privacy.budget import RhoBudget
from analytics.privacy.ledger import BudgetPolicy
from analytics.privacy.release import Releaser, family_spec_hash
from analytics.store import ReadOnlyStore, Store
from analytics.windows import WEEK
from analytics.worker.gather import SUMMARY_FORMAT_V1, GatheredWindow, Gatherer, Summary
from analytics.worker.health import IngestMetrics
from analytics.worker.partition import IncomingRecord, PartitionConfig, PartitionWorker
from ingest.contract.events import parse_event
from ingest.contract.records import encode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, public_key_to_text

FAMILIES = [f for f in load_families() if f.window == "week"]
INDEX = 2900  # a week window long past
CELL = ("cbrn.bio",)


def specs(families=FAMILIES) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.name: family_spec_hash(f, WEEK) for f in families}


def summary(partition: int, spec: dict[str, str], signed: tuple[int, ...] = (4,)) -> Summary:
    counts = {"events_by_category": {CELL: 3}}
    return Summary(partition, WEEK.total_seconds(), INDEX + 1, {INDEX: counts}, spec, {INDEX: signed})


def gathered(*summaries: Summary) -> GatheredWindow:
    gatherer = Gatherer()
    for s in summaries:
        gatherer.add(Summary.decode(s.encode()))
    (window,) = gatherer.ready([s.partition for s in summaries])
    assert isinstance(window, GatheredWindow)
    return window


def release(tmp_path: Path, window: GatheredWindow) -> tuple[dict[str, str], list[str]]:
    releaser = Releaser(Store(tmp_path / "store.duckdb"), FAMILIES, BudgetPolicy(rho_year=RhoBudget(100.0)))
    outcomes = {o.family: o.status for o in releaser.release(window)}
    refusals = ReadOnlyStore(tmp_path / "store.duckdb").audit(("release_refused",))["detail"].tolist()
    return outcomes, refusals


def test_a_summary_carries_its_families_spec_hashes_and_signed_partition_counts() -> None:
    s = summary(0, specs(), (4,))
    again = Summary.decode(s.encode())
    assert again == s and json.loads(s.encode())["format"] == "flockview.summary.v2"
    window = gathered(summary(0, specs()), summary(1, specs()))
    assert window.counts == {"events_by_category": {CELL: 6}}
    assert window.specs["events_by_category"] == {family_spec_hash(FAMILIES[0], WEEK)}
    assert window.partition_counts == {4}


def test_spec_hashes_change_with_every_bound() -> None:
    family = next(f for f in FAMILIES if f.name == "events_by_category")
    base = family_spec_hash(family, WEEK)
    for change in ({"bound_k": 3}, {"bound_l": 5}, {"dimensions": ("category", "surface")}, {"actions": ("block",)}):
        assert family_spec_hash(family.model_copy(update=change), WEEK) != base, change
    assert family_spec_hash(family, WEEK / 7) != base
    assert family_spec_hash(family.model_copy(update={"weight": 9.0}), WEEK) == base  # the weight is the releaser's


def test_matching_specs_are_released(tmp_path: Path) -> None:
    outcomes, refusals = release(tmp_path, gathered(summary(0, specs()), summary(1, specs())))
    assert set(outcomes.values()) == {"released"} and refusals == []


def test_summaries_of_two_specs_are_refused_and_audited(tmp_path: Path) -> None:
    """A rolling deploy: partition 1 was bounded with L = 5, partition 0 with the shipped L = 3."""
    loose = [f.model_copy(update={"bound_l": 5}) if f.name == "events_by_category" else f for f in FAMILIES]
    outcomes, refusals = release(tmp_path, gathered(summary(0, specs()), summary(1, specs(loose))))
    assert outcomes["events_by_category"] == "refused"
    assert {s for n, s in outcomes.items() if n != "events_by_category"} == {"released"}
    (detail,) = refusals
    assert "events_by_category: its summaries were bounded with spec" in detail


def test_a_spec_other_than_the_releasing_workers_own_is_refused(tmp_path: Path) -> None:
    loose = [f.model_copy(update={"bound_k": 5}) if f.name == "events_by_category" else f for f in FAMILIES]
    outcomes, refusals = release(tmp_path, gathered(summary(0, specs(loose)), summary(1, specs(loose))))
    assert outcomes["events_by_category"] == "refused" and len(refusals) == 1
    assert f"this worker's is {family_spec_hash(FAMILIES[0], WEEK)}" in refusals[0]


def test_an_old_summary_without_spec_hashes_is_read_and_its_families_refused(tmp_path: Path) -> None:
    old = json.loads(summary(1, {}).encode())
    old["format"] = SUMMARY_FORMAT_V1
    for key in ("specs",):
        del old[key]
    for w in old["windows"]:
        del w["partitions"]
    gatherer = Gatherer()
    gatherer.add(Summary.decode(summary(0, specs()).encode()))
    gatherer.add(Summary.decode(json.dumps(old).encode()))
    (window,) = gatherer.ready([0, 1])
    outcomes, refusals = release(tmp_path, window)  # type: ignore[arg-type]
    assert outcomes["events_by_category"] == "refused" and "v1" in refusals[0]


def test_a_window_whose_events_were_signed_for_two_partition_counts_is_not_released(tmp_path: Path) -> None:
    """Partition 1 of 4 and partition 1 of 8 hold an actor's events signed for 4 and for 8 partitions."""
    key = new_signing_key()
    registry = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(key.public_key())})
    config = PartitionConfig(
        FAMILIES, WEEK, timedelta(days=1), timedelta(minutes=5), registry, IngestMetrics(), "dlq", "summaries"
    )
    worker = PartitionWorker("events", 1, tmp_path / "state", config)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    records = []
    for i, (actor, partitions) in enumerate([("1" * 64, 4), ("9" * 64, 8)]):  # 0x11111111 % 4 == 0x99999999 % 8 == 1
        event = parse_event(
            {
                "event_id": f"00000000-0000-4000-8000-{i:012d}",
                "occurred_at": (now - timedelta(hours=1)).isoformat(),
                "provider": "acme-ai",
                "actor": actor,
                "surface": "api",
                "model_family": "acme-large",
                "detection_stage": "input_filter",
                "category": "cbrn.bio",
                "action": "block",
                "score": 0.5,
                "jurisdiction": "DE",
                "language": "de",
            }
        )
        records.append(IncomingRecord(*encode_record("acme-ai", [event], key, partitions), "events", 1, i))
    worker.process(records, now)
    worker.close()
    worker = PartitionWorker("events", 1, tmp_path / "state", config)  # the counts survive a restart
    worker.close_due(now + timedelta(days=30))
    gatherer = Gatherer()
    for _, _topic, message in worker.outbox():
        gatherer.add(Summary.decode(message))
    (window,) = gatherer.ready([1])
    assert window.partition_counts == {4, 8}  # type: ignore[attr-defined]
    outcomes, refusals = release(tmp_path, window)  # type: ignore[arg-type]
    assert set(outcomes.values()) == {"refused"} and len(refusals) == 1
    assert "signed for partition counts 4, 8" in refusals[0]
    worker.close()
