"""How fast the dashboard's overview renders over a large store (a benchmark, not a timed test).

Builds a store of two years of weekly releases (104 windows) with 500 released cells per window,
written with the store's own schema (releases, cells with OpenDP noise and intervals, ledger rows
and the year-to-date table), then measures side by side:

* ``overview_render_s``: the overview page run through Streamlit's AppTest with empty caches (what a
  first visitor, or the first visit after a new release, waits for: store reads, labels, charts);
* ``overview_warm_s``: the same page again with the store unchanged (cached reads);
* ``load_and_chart_s``: the overview's data loading plus building its chart and tables, without
  Streamlit's script runner.

It ends with one line of JSON. The target from issue 6 is an overview under 2 s.

    python bench/dashboard_render.py            # full size: 104 weeks x 500 cells
    python bench/dashboard_render.py --quick    # smoke run: 10 weeks x 500 cells
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from analytics.families import PUBLIC_DIMENSIONS
from analytics.privacy.budget import RhoBudget
from analytics.privacy.gaussian import draw, interval_half_width, plan_gaussian
from analytics.store import DIMENSION_COLUMNS, Store

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
FIRST_WEEK = datetime(2024, 11, 25, tzinfo=UTC)  # a Monday: window starts align with the worker's
# (family, dimensions) filled in this order until a window has the requested number of cells
FILL = [
    ("events_by_category", ("category",)),
    ("techniques_by_category", ("category", "technique")),
    ("events_by_category_surface", ("category", "surface")),
    ("events_by_category_jurisdiction", ("category", "jurisdiction")),
]


def _keys(dimensions: tuple[str, ...]) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = [()]
    for dimension in dimensions:
        keys = [(*k, v) for k in keys for v in PUBLIC_DIMENSIONS[dimension]]
    return keys


def _window_rows(i: int, cells_per_window: int, plan: object) -> tuple[list[dict], list[dict], list[dict]]:
    start = FIRST_WEEK + timedelta(days=7 * i)
    end = start + timedelta(days=7)
    releases, cells, ledger = [], [], []
    left = cells_per_window
    for family, dimensions in FILL:
        keys = _keys(dimensions)[:left]
        if not keys:
            break
        left -= len(keys)
        true = [(2000 if n % 7 == 0 else 0) + 30 * (i % 13) for n in range(len(keys))]
        noisy = draw(plan, true)  # type: ignore[arg-type]
        half = plan.half_width  # type: ignore[attr-defined]
        release_id = f"{family}@{start.isoformat()}"
        releases.append(
            {
                "release_id": release_id,
                "family": family,
                "window_start": start,
                "window_end": end,
                "released_at": end,
                "privacy_unit": "one actor of one provider, per week",
                "metric": "event_count",
                "mechanism": "discrete_gaussian_zcdp",
                "bound_k": 2,
                "bound_l": 3,
                "sensitivity_l2": 4.24,
                "scale": plan.scale,
                "rho": plan.rho,  # type: ignore[attr-defined]
                "epsilon": plan.epsilon,
                "delta": 1e-6,
                "alpha": 0.05,  # type: ignore[attr-defined]
                "interval_half_width": half,
                "n_cells": len(keys),
                "window_kind": "week",
            }
        )
        for key, value in zip(keys, noisy, strict=True):
            v = float(max(value, 0))
            row = {c: None for c in DIMENSION_COLUMNS}
            row.update(dict(zip(dimensions, key, strict=True)))
            row.update(
                release_id=release_id,
                family=family,
                window_start=start,
                window_end=end,
                value=v,
                ci_low=max(v - half, 0.0),
                ci_high=v + half,
                includes_zero=v - half <= 0,
                mechanism="discrete_gaussian_zcdp",
                scale=plan.scale,
                rho=plan.rho,  # type: ignore[attr-defined]
                is_total=False,
            )
            cells.append(row)
        ledger.append(
            {
                "family": family,
                "window_start": start,
                "window_end": end,
                "period": f"{i}",
                "year": start.year,
                "rho": plan.rho,
                "epsilon": plan.epsilon,
                "delta": 1e-6,  # type: ignore[attr-defined]
                "recorded_at": end,
                "component": "cells",
                "period_start": start,
                "cap_period": 0.02,
                "cap_year": 1.0,
            }
        )
    return releases, cells, ledger


def _year_to_date(cells: pd.DataFrame) -> pd.DataFrame:
    ours = cells[cells["family"] == "events_by_category"].sort_values("window_start").copy()
    ours["year"] = ours["window_start"].map(lambda t: t.year)
    ours["value"] = ours.groupby(["year", "category"])["value"].cumsum()
    half = interval_half_width(40.0)
    return pd.DataFrame(
        {
            "family": ours["family"],
            "year": ours["year"],
            "window_start": ours["window_start"],
            "window_end": ours["window_end"],
            "category": ours["category"],
            "value": ours["value"],
            "ci_low": (ours["value"] - half).clip(lower=0),
            "ci_high": ours["value"] + half,
            "includes_zero": ours["value"] - half <= 0,
            "mechanism": "discrete_gaussian_zcdp",
            "scale": 40.0,
            "rho": 0.001,
            "n_nodes": 3,
            "released_at": ours["window_end"],
        }
    )


def build_store(path: Path, weeks: int, cells_per_window: int) -> int:
    """Write ``weeks`` weekly releases of ``cells_per_window`` cells; returns the number of cells written."""
    plan = plan_gaussian(4.24, RhoBudget(0.002))
    releases, cells, ledger = [], [], []
    for i in range(weeks):
        r, c, led = _window_rows(i, cells_per_window, plan)
        releases += r
        cells += c
        ledger += led
    frames = {"releases": pd.DataFrame(releases), "cells": pd.DataFrame(cells), "ledger": pd.DataFrame(ledger)}
    frames["cumulative"] = _year_to_date(frames["cells"])
    with Store(path).transaction() as con:
        for table, frame in frames.items():
            con.register("frame", frame)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM frame")
            con.unregister("frame")
    return len(cells)


def time_apptest(store: Path, runs: int) -> tuple[float, float]:
    """(cold, warm) median seconds of the overview in AppTest; cold clears Streamlit's data cache first."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["FLOCKVIEW_DASHBOARD_STORE"] = str(store)
    cold, warm = [], []
    for _ in range(runs):
        st.cache_data.clear()
        at = AppTest.from_file(str(APP), default_timeout=300)
        started = time.perf_counter()
        at.run()
        cold.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(f"the overview raised: {at.exception[0].value}")
        started = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - started)
    return statistics.median(cold), statistics.median(warm)


def time_load_and_chart(store: Path, runs: int) -> float:
    """Median seconds of the overview's reads, labels, chart spec and tables, caches cleared each time."""
    import streamlit as st

    from dashboard import data, stats
    from dashboard.views import overview

    times = []
    for _ in range(runs):
        st.cache_data.clear()
        started = time.perf_counter()
        data.load_releases(store)
        cells = overview._with_labels(
            stats.released_parts(data.load_cells(store, overview.FAMILY, overview.WINDOWS_SHOWN))
        )
        data.load_ledger(store)
        latest = cells[cells["window_start"] == cells["window_start"].max()]
        overview.overview_chart(cells, overview._default_domains(latest)).to_dict()
        overview.latest_table(cells, latest)
        overview.largest_changes(cells)
        overview.year_to_date(store, latest["window_start"].iloc[0])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 weeks instead of 104")
    parser.add_argument("--cells", type=int, default=500, help="released cells per window (default 500)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement; medians reported")
    args = parser.parse_args()
    weeks = 10 if args.quick else 104
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "flockview.duckdb"
        started = time.perf_counter()
        cells = build_store(store, weeks, args.cells)
        print(
            f"store: {weeks} weekly windows x {args.cells} cells = {cells:,} cells, "
            f"{store.stat().st_size / 1e6:.1f} MB, built in {time.perf_counter() - started:.1f} s"
        )
        cold, warm = time_apptest(store, args.runs)
        direct = time_load_and_chart(store, args.runs)
    print(f"{'measurement':<44}{'median s':>10}")
    print(f"{'overview, AppTest, empty caches':<44}{cold:>10.3f}")
    print(f"{'overview, AppTest, cached (store unchanged)':<44}{warm:>10.3f}")
    print(f"{'overview data loading + chart and tables':<44}{direct:>10.3f}")
    print(f"target: overview under 2 s -> {'met' if cold < 2 else 'NOT met'}")
    print(
        json.dumps(
            {
                "overview_render_s": round(cold, 3),
                "overview_warm_s": round(warm, 3),
                "load_and_chart_s": round(direct, 3),
                "cells": cells,
                "windows": weeks,
                "cells_per_window": args.cells,
            }
        )
    )


if __name__ == "__main__":
    main()
