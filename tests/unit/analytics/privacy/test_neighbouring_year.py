"""The neighbouring-year accounting test: what one actor present all year moves, against what the ledger charged.

Two stores receive the same 53 weekly releases of the shipped families at the shipped budget, once
without and once with one extra actor at its maximum contribution every week (it reaches K cells
and L events in every family, checked below), with noise switched off through the Releaser's test
seam. For zCDP Gaussian mechanisms the privacy loss of a release is ‖Δ‖²/(2σ²), Δ the change of
its noisy output's mean; so the sum over every DP output written must not exceed the ledger's
total for the year. Every other difference between the two stores must be post-processing of those
outputs (the clamped values, intervals and the year-to-date lines, recomputed here from the noisy
values), or timestamps.

On the code before issue 15 this fails: the binary tree's nodes (``tree_nodes``) differ by m·Δ for
a node over m weeks, at a node scale charged as if it covered one week, so the sum came to about
1.7 against a charged 1.0 (and the ``cumulative`` lines were not sums of released weekly values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from analytics.families import ReportFamily, load_families
from analytics.privacy.bounding import ContributionBounder
from analytics.privacy.gaussian import GaussianPlan
from analytics.privacy.ledger import BudgetPolicy, account
from analytics.privacy.release import Releaser
from analytics.privacy.selection import ThresholdPlan
from analytics.store import ReadOnlyStore, Store
from analytics.windows import WEEK, Cell, ClosedWindow, Window
from ingest.contract.events import Event
from ingest.contract.taxonomy import Action, Category, DetectionStage, IdentityVerification, Surface, Technique

YEAR = 2029  # starts on a Monday: 53 weeks start in it, the most a year holds
FIRST = datetime(YEAR, 1, 1, tzinfo=UTC)
WEEKS = [Window(FIRST + i * WEEK, FIRST + (i + 1) * WEEK) for i in range(53)]
BASE = 1000  # every released key's count without the extra actor: far from zero and above any threshold
MODEL_FAMILIES = ("m1", "m2")

#: Columns that hold each release's DP output: the mechanism's noisy value itself.
DP_OUTPUT = {"cells": "noisy_value"}
#: Columns derived from DP outputs only (checked to be so below) and times; nothing else may differ.
POST_PROCESSED = {
    "cells": {"value", "ci_low", "ci_high", "includes_zero"},
    "cumulative": {"noisy_value", "value", "ci_low", "ci_high", "includes_zero"},
}
TIMES = {"released_at", "recorded_at", "logged_at", "computed_at", "applied_at"}


class NoNoise:
    """The test seam's noise-free draws: Gaussian counts unchanged, selection keeps keys at or over the threshold."""

    def gaussian(self, plan: GaussianPlan, counts: Sequence[int]) -> list[int]:
        return [int(c) for c in counts]

    def threshold(self, plan: ThresholdPlan, counts: Mapping[Cell, int]) -> dict[Cell, int]:
        return {key: int(n) for key, n in counts.items() if n >= plan.threshold}


def _event(category: Category, stage: DetectionStage, action: Action, technique: Technique | None, surface: Surface,
           jurisdiction: str) -> Event:  # fmt: skip
    return Event.model_construct(
        category=category,
        detection_stage=stage,
        action=action,
        technique=technique,
        surface=surface,
        jurisdiction=jurisdiction,
        model_family="m1",
        identity_verification=IdentityVerification("none"),
        account_age_bucket=None,
        language="en",
    )


#: One week of the extra actor, in order: it reaches every family's K and L (asserted in the test).
ACTOR_WEEK = (
    [_event(Category("cbrn.bio"), DetectionStage("input_filter"), Action.BLOCK, Technique("roleplay"),
            Surface("api"), "US")] * 3
    + [_event(Category("cyber.malware"), DetectionStage("output_filter"), Action.BLOCK, Technique("encoding"),
              Surface("consumer_app"), "DE")] * 3
    + [_event(Category("cbrn.bio"), DetectionStage("model_refusal"), Action.BAN, None, Surface("api"), "US")] * 2
)  # fmt: skip


def _base_counts(families: list[ReportFamily]) -> dict[str, dict[Cell, int]]:
    return {
        f.name: {(m,): BASE for m in MODEL_FAMILIES} if f.open_vocabulary else dict.fromkeys(f.keys, BASE)
        for f in families
    }


def _actor_counts(family: ReportFamily) -> dict[Cell, int]:
    """The extra actor's bounded contribution to ``family`` in one week (the reference bounding rule)."""
    bounder = ContributionBounder(family)
    for event in ACTOR_WEEK:
        for cell in family.cells_of(event):
            bounder.add("extra", cell)
    return dict(bounder.counts)


def _release_year(path: Path, families: list[ReportFamily], with_actor: bool) -> Path:
    releaser = Releaser(Store(path), families, BudgetPolicy(), period=WEEK, noise=NoNoise())
    for window in WEEKS:
        counts = _base_counts(families)
        if with_actor:
            for family in families:
                for cell, n in _actor_counts(family).items():
                    counts[family.name][cell] = counts[family.name].get(cell, 0) + n
        outcomes = releaser.release(ClosedWindow(window, counts))
        assert {o.status for o in outcomes} == {"released"}, [o.detail for o in outcomes if o.status != "released"]
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReadOnlyStore, ReadOnlyStore, list[ReportFamily]]:
    families = load_families()
    base = tmp_path_factory.mktemp("neighbouring-year")
    without = _release_year(base / "without.duckdb", families, with_actor=False)
    with_ = _release_year(base / "with.duckdb", families, with_actor=True)
    return ReadOnlyStore(without), ReadOnlyStore(with_), families


def _table(store: ReadOnlyStore, table: str) -> pd.DataFrame:
    frame = store.query(f"SELECT * FROM {table}")
    keys = [c for c in frame.columns if c == "window_start" or (c not in TIMES and frame[c].dtype == object)]
    return frame.sort_values(keys, na_position="first", kind="stable").reset_index(drop=True)


def test_the_extra_actor_reaches_every_familys_bounds(
    stores: tuple[ReadOnlyStore, ReadOnlyStore, list[ReportFamily]],
) -> None:
    for family in stores[2]:
        moved = _actor_counts(family)
        norm = math.sqrt(sum(n * n for n in moved.values()) + (sum(moved.values()) ** 2 if family.total else 0))
        assert norm == pytest.approx(family.sensitivity_l2), family.name


def test_the_dp_outputs_moved_no_more_than_the_ledger_charged_for_the_year(
    stores: tuple[ReadOnlyStore, ReadOnlyStore, list[ReportFamily]],
) -> None:
    without, with_, _ = stores
    loss = 0.0
    for table, column in DP_OUTPUT.items():
        a, b = _table(without, table), _table(with_, table)
        assert len(a) == len(b), f"{table}: the actor changed which outputs exist (a selection's δ event)"
        assert a["scale"].equals(b["scale"])
        loss += float((((b[column] - a[column]) / a["scale"]) ** 2 / 2).sum())
    ledger = with_.ledger()
    year = account(ledger).year(YEAR)
    assert year is not None and year.spend.entries == 53 * len(stores[2])
    assert set(ledger["year"]) == {YEAR}
    charged = year.spend.rho
    # ≤ what was charged; and close to it, so the actor really was at its maximum every week.
    assert loss <= charged * (1 + 1e-9), f"DP outputs moved ρ = {loss:.6g}, the ledger charged {charged:.6g}"
    assert loss >= charged * 0.999
    assert charged <= BudgetPolicy().rho_year.rho * (1 + 1e-9)


def test_every_other_difference_is_post_processing_or_a_time(
    stores: tuple[ReadOnlyStore, ReadOnlyStore, list[ReportFamily]],
) -> None:
    without, with_, _ = stores
    assert without.tables() == with_.tables()
    for table in sorted(with_.tables()):
        a, b = _table(without, table), _table(with_, table)
        assert list(a.columns) == list(b.columns) and len(a) == len(b), table
        allowed = TIMES | POST_PROCESSED.get(table, set()) | ({DP_OUTPUT[table]} if table in DP_OUTPUT else set())
        differing = {c for c in a.columns if not a[c].equals(b[c])}
        assert differing <= allowed, f"{table}: {sorted(differing - allowed)} moved and is no DP output"


@pytest.mark.parametrize("which", [0, 1])
def test_year_to_date_lines_are_sums_of_the_stored_weekly_noisy_values(
    stores: tuple[ReadOnlyStore, ReadOnlyStore, list[ReportFamily]], which: int
) -> None:
    store = stores[1] if which else stores[0]
    cells = store.cells("events_by_category")
    ytd = store.cumulative("events_by_category", YEAR)
    assert len(ytd) == 53 * len(Category)
    expected = cells.sort_values("window_start").groupby("category")["noisy_value"].cumsum()
    joined = cells.assign(expected=expected).merge(ytd, on=["window_start", "category"], suffixes=("_cell", ""))
    assert (joined["noisy_value"] == joined["expected"]).all()
    assert (joined["n_weeks"] == (joined["window_start"] - FIRST) // WEEK + 1).all()
    assert ((joined["scale"] - joined["scale_cell"] * joined["n_weeks"] ** 0.5).abs() < 1e-9).all()
    # the year to date spends nothing: the ledger has one row per family and week, none for the lines
    assert len(store.ledger()) == 53 * len(stores[2])
