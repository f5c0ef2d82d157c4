"""The data of one weekly report, gathered from the store's released tables only.

:func:`gather` picks the window (by label, or the latest), checks that every family it expects was
released for it, reads the released cells of this window, the previous one and up to eight earlier
ones, the year-to-date line if the store has one (post-processing of the weekly releases), and the
ledger; then hands the frames to :mod:`analytics.reporting.findings`. Nothing here sees an exact
count: there is none in the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd

from analytics.errors import EmptyStoreError
from analytics.families import load_families
from analytics.reporting import findings as f
from analytics.reporting.accounting import PrivacyFacts, privacy_facts, released_at
from analytics.reporting.stats import Estimate
from analytics.store import ReadOnlyStore
from analytics.windows import Window

CATEGORY_FAMILY = "events_by_category"
TECHNIQUE_FAMILY = "techniques_by_category"
FUNNEL_FAMILY = "escalation_funnel"
SURFACE_FAMILY = "events_by_surface"
CATEGORY_SURFACE_FAMILY = "events_by_category_surface"
JURISDICTION_FAMILY = "events_by_category_jurisdiction"
TREND_WINDOWS = 8


class PartialWeekError(EmptyStoreError):
    """The window was released for some families but not all: its report would be incomplete."""


@dataclass(frozen=True)
class WeeklyReport:
    """Everything a report states about one released window; the renderers only lay it out."""

    store: Path
    window: Window
    previous: Window | None
    trend: tuple[Window, ...]
    released_at: datetime
    missing_families: tuple[str, ...]
    domains: tuple[f.DomainFinding, ...]
    domain_history: dict[str, tuple[tuple[Window, Estimate], ...]]
    top_techniques: tuple[f.TechniqueFinding, ...]
    notable_techniques: tuple[f.TechniqueFinding, ...]
    funnel: tuple[f.KeyedFinding, ...]
    surfaces: tuple[f.KeyedFinding, ...]
    surface_family: str
    jurisdictions: tuple[f.KeyedFinding, ...]
    jurisdiction_z: float
    year_to_date: tuple[tuple[str, Estimate], ...]
    privacy: PrivacyFacts

    @property
    def label(self) -> str:
        """The window's label, e.g. ``2026-W47``."""
        return self.window.label()


def _utc(ts: Any) -> datetime:  # a pandas cell: Timestamp or datetime
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def week_releases(store: ReadOnlyStore) -> pd.DataFrame:
    """The store's releases of week-long families (day families have their own, shorter windows)."""
    releases = store.releases()
    if not releases.empty and "window_kind" in releases:
        releases = releases[releases["window_kind"].fillna("week") == "week"]
    return releases


def released_windows(store: ReadOnlyStore) -> list[Window]:
    """Every window with at least one week-family release, oldest first."""
    releases = week_releases(store)
    if releases.empty:
        return []
    pairs = {(_utc(s), _utc(e)) for s, e in zip(releases["window_start"], releases["window_end"], strict=True)}
    return sorted(Window(s, e) for s, e in pairs)


def select_window(store: ReadOnlyStore, week: str | None) -> tuple[Window, list[Window]]:
    """The window labelled ``week`` (the latest when None) and the released windows before it, oldest first.

    Raises:
        EmptyStoreError: The store holds no release, or none for ``week``.
    """
    windows = released_windows(store)
    if not windows:
        raise EmptyStoreError(
            f"no releases in {store.path} yet: start a worker (or `flockview up`) and wait for a window to close"
        )
    labels = [w.label() for w in windows]
    if week is None:
        index = len(windows) - 1
    elif week in labels:
        index = labels.index(week)
    else:
        raise EmptyStoreError(
            f"no released window labelled {week!r} in {store.path}; latest released windows: {', '.join(labels[-5:])}"
        )
    return windows[index], windows[:index]


def missing_families(releases: pd.DataFrame, window: Window) -> tuple[str, ...]:
    """Week families configured and released before in this store, but not for ``window``."""
    configured = {fam.name for fam in load_families() if fam.window == "week"}
    ever = set(releases["family"]) | {CATEGORY_FAMILY}
    mine = set(releases.loc[pd.to_datetime(releases["window_start"], utc=True) == pd.Timestamp(window.start), "family"])
    return tuple(sorted((configured & ever) - mine))


class _Frames:
    """Released cells of a few families over the windows a report looks at, one query per family."""

    def __init__(self, store: ReadOnlyStore, windows: list[Window]) -> None:
        self.store, self.windows = store, windows
        self._cache: dict[str, dict[datetime, pd.DataFrame]] = {}

    def of(self, family: str, window: Window | None) -> pd.DataFrame | None:
        if window is None:
            return None
        if family not in self._cache:
            frame = self.store.cells_between(family, self.windows[0].start, self.windows[-1].start)
            self._cache[family] = (
                {} if frame.empty else {_utc(start): group for start, group in frame.groupby("window_start")}
            )
        return self._cache[family].get(window.start)


def gather(store_path: Path | str, week: str | None = None, allow_partial: bool = False) -> WeeklyReport:
    """Gather the report of the window labelled ``week`` (the latest released when None).

    Args:
        store_path: The DuckDB store, opened read-only.
        week: A window label such as ``2026-W47`` (or ``2026-11-23 09:40:10Z`` for short demo windows).
        allow_partial: Build the report even when some families were not released for the window.

    Raises:
        EmptyStoreError: The store holds no release, or none for ``week``.
        PartialWeekError: Some families were not released for the window and ``allow_partial`` is False.
    """
    store = ReadOnlyStore(store_path)
    window, earlier = select_window(store, week)
    releases = week_releases(store)
    missing = missing_families(releases, window)
    if missing and not allow_partial:
        raise PartialWeekError(
            f"window {window.label()} is only partly released: no release yet of {', '.join(missing)}; "
            "wait for the worker to finish the window, or pass --allow-partial to report what is released"
        )
    previous = earlier[-1] if earlier else None
    trend = tuple(earlier[-TREND_WINDOWS:])
    frames = _Frames(store, [*trend, window])
    return _build(store, window, previous, trend, frames, releases, missing)


def _build(
    store: ReadOnlyStore,
    window: Window,
    previous: Window | None,
    trend: tuple[Window, ...],
    frames: _Frames,
    releases: pd.DataFrame,
    missing: tuple[str, ...],
) -> WeeklyReport:
    cat = [frames.of(CATEGORY_FAMILY, w) for w in trend]
    surface_family = SURFACE_FAMILY if frames.of(SURFACE_FAMILY, window) is not None else CATEGORY_SURFACE_FAMILY
    jurisdictions, z = f.jurisdictions(frames.of(JURISDICTION_FAMILY, window), frames.of(JURISDICTION_FAMILY, previous))
    return WeeklyReport(
        store=store.path,
        window=window,
        previous=previous,
        trend=trend,
        released_at=released_at(releases, window),
        missing_families=missing,
        domains=f.domain_findings(
            frames.of(CATEGORY_FAMILY, window), frames.of(CATEGORY_FAMILY, previous), [c for c in cat if c is not None]
        ),
        domain_history=_history(frames, [*trend, window]),
        top_techniques=f.top_techniques(frames.of(TECHNIQUE_FAMILY, window)),
        notable_techniques=f.notable_techniques(
            frames.of(TECHNIQUE_FAMILY, window), frames.of(TECHNIQUE_FAMILY, previous)
        ),
        funnel=f.funnel(frames.of(FUNNEL_FAMILY, window), frames.of(FUNNEL_FAMILY, previous)),
        surfaces=f.surfaces(
            frames.of(surface_family, window),
            frames.of(surface_family, previous),
            by_category=surface_family == CATEGORY_SURFACE_FAMILY,
        ),
        surface_family=surface_family,
        jurisdictions=jurisdictions,
        jurisdiction_z=z,
        year_to_date=_year_to_date(store, window),
        privacy=privacy_facts(store.releases(), store.ledger(), window),
    )


def _history(frames: _Frames, windows: list[Window]) -> dict[str, tuple[tuple[Window, Estimate], ...]]:
    series: dict[str, list[tuple[Window, Estimate]]] = {c: [] for c in f.DOMAIN_ORDER}
    for window in windows:
        for (category,), estimate in f.estimates(frames.of(CATEGORY_FAMILY, window), "category").items():
            series.setdefault(category, []).append((window, estimate))
    return {c: tuple(points) for c, points in series.items()}


def _year_to_date(store: ReadOnlyStore, window: Window) -> tuple[tuple[str, Estimate], ...]:
    """This window's year-to-date line (sums of the weekly released values), or nothing if the store has none."""
    cumulative = store.cumulative(year=window.start.year)
    if cumulative.empty:
        return ()
    mine = cumulative[pd.to_datetime(cumulative["window_start"], utc=True) == pd.Timestamp(window.start)]
    mine = mine[mine["family"] == CATEGORY_FAMILY] if (mine["family"] == CATEGORY_FAMILY).any() else mine
    rows = {str(r["category"]): Estimate.from_row(cast("Mapping[str, Any]", r)) for _, r in mine.iterrows()}
    return tuple((c, rows[c]) for c in f.DOMAIN_ORDER if c in rows)
