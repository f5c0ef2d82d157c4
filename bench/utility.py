"""Utility of the release engine at the default budget, in numbers (a benchmark, not a timed test).

Simulates a year of weekly traffic from several providers with injected campaigns, bounds each
week's events per family (K cells, L events per actor), releases every default family through the
real :class:`analytics.privacy.release.Releaser` (OpenDP noise, ledger, DuckDB), and prints:

* median relative error of released cells by true cell size, and 95%-interval coverage over all
  released cells of ≥ 1,000 releases;
* power and false-alarm rate of the alert rule the dashboard ships (:func:`dashboard.stats.changes`,
  the Alerts page at its default 5%) for a +30% campaign on a 2,000-event weekly baseline;
* the same weekly report (events by category) computed with OpenDP's Polars API on the same
  events: accuracy and wall time side by side;
* the wall time of releasing 100k cells (ledger and DuckDB write included) against the bare OpenDP
  draws for those cells.

It ends with one line of JSON. ``--quick`` runs a small smoke version; ``--alerts-only`` runs only the
alert experiment (``--trials`` pages). The Polars part needs the
``bench`` extra (``pip install -e '.[bench]'``: ``polars==1.36.1``, which OpenDP 0.16 requires).

    python bench/utility.py            # full run: two simulated years
    python bench/utility.py --quick    # smoke run
    python bench/utility.py --alerts-only --trials 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.families import PUBLIC_DIMENSIONS, ReportFamily, load_families
from analytics.privacy.gaussian import GaussianPlan, draw
from analytics.privacy.release import BudgetPolicy, Releaser
from analytics.reporting.stats import z_for
from analytics.store import ReadOnlyStore, Store
from analytics.windows import ClosedWindow, Window
from dashboard import stats

WEEK = timedelta(days=7)
CATEGORIES = PUBLIC_DIMENSIONS["category"]
STAGES_OF_ACTION = {
    "warn": ("warn",),
    "rate_limit": ("warn", "rate_limit"),
    "suspend": ("warn", "rate_limit", "suspend_ban"),
    "ban": ("warn", "rate_limit", "suspend_ban"),
}
PROVIDERS = {"acme-ai": 0.45, "openweights-hub": 0.25, "api-platform": 0.2, "small-lab": 0.1}
MODEL_FAMILIES = ["acme-large", "acme-small", "llama-like-70b", "mistral-like-7b", "qwen-like-32b"]
JURISDICTIONS = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "NG", "ID", "CA"]
#: Campaigns: (category, first week, weeks, uplift); cbrn.bio's baseline is 2,000 events a week.
CAMPAIGNS = [("cbrn.bio", 10, 3, 0.3), ("cyber.malware", 30, 2, 0.3), ("fraud.phishing", 44, 4, 0.5)]
#: The Alerts page's default false-alarm rate.
ALERT_RATE = 0.05


def baseline_rates() -> dict[str, float]:
    """Weekly events per category: a spread from ~100 to ~8,000, with cbrn.bio at 2,000."""
    rates = {c: 8000 * 0.78**i for i, c in enumerate(CATEGORIES)}
    rates["cbrn.bio"] = 2000.0
    return rates


def simulate_week(rng: np.random.Generator, week: int, rates: dict[str, float]) -> pd.DataFrame:
    """One week of events; actors are heavy-tailed so that bounding matters."""
    parts = []
    for category, rate in rates.items():
        uplift = sum(u for c, first, n, u in CAMPAIGNS if c == category and first <= week < first + n)
        n = rng.poisson(rate * (1 + uplift))
        parts.append(pd.DataFrame({"category": category, "n": [n]}))
    counts = pd.concat(parts)
    category = np.repeat(counts["category"].to_numpy(), counts["n"].to_numpy())
    size = len(category)
    provider = rng.choice(list(PROVIDERS), size, p=list(PROVIDERS.values()))
    # ~1.5 events per actor and week on average, heavy-tailed (lognormal activity): a few actors send dozens.
    pool = max(size * 2 // 3, 1)
    activity = rng.lognormal(0.0, 1.2, pool)
    actor_ids = rng.choice(pool, size, p=activity / activity.sum())
    actions = ["allow", "audit", "warn", "modify", "block", "rate_limit", "suspend", "ban"]
    frame = pd.DataFrame(
        {
            "actor": np.char.add(provider.astype(str), actor_ids.astype(str)),
            "category": category,
            "detection_stage": rng.choice(PUBLIC_DIMENSIONS["detection_stage"], size),
            "action": rng.choice(actions, size, p=[0.05, 0.1, 0.2, 0.05, 0.4, 0.1, 0.06, 0.04]),
            "technique": rng.choice(PUBLIC_DIMENSIONS["technique"], size),
            "surface": rng.choice(PUBLIC_DIMENSIONS["surface"], size, p=[0.4, 0.3, 0.1, 0.2]),
            "jurisdiction": rng.choice(JURISDICTIONS, size),
            "model_family": rng.choice(
                [*MODEL_FAMILIES, "rare-finetune"], size, p=[0.3, 0.25, 0.2, 0.15, 0.0999, 0.0001]
            ),
        }
    )
    return frame.sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)  # arrival order


def bounded_counts(events: pd.DataFrame, family: ReportFamily) -> dict[tuple[str, ...], int]:
    """The family's bounded exact counts (first K cells per actor, contribution per the metric)."""
    frame = events if not family.actions else events[events["action"].isin([a.value for a in family.actions])]
    if family.metric == "escalation_funnel":
        frame = frame[frame["action"].isin(STAGES_OF_ACTION)].copy()
        frame["escalation_stage"] = frame["action"].map(STAGES_OF_ACTION)
        frame = frame.explode("escalation_stage")
    dims = list(family.dimensions)
    per = frame.groupby(["actor", *dims], sort=False).size().reset_index(name="n")
    per = per[per.groupby("actor").cumcount() < family.bound_k]
    if family.metric == "event_count":
        per["v"] = per["n"].clip(upper=family.bound_l)
    elif family.metric == "actors_over_threshold":
        per["v"] = (per["n"] >= (family.threshold or 1)).astype(int)
    else:
        per["v"] = 1
    totals = per.groupby(dims)["v"].sum()
    return {(k,) if isinstance(k, str) else tuple(k): int(v) for k, v in totals.items() if v}


def run_year(
    releaser: Releaser,
    families: list[ReportFamily],
    year: int,
    weeks: int,
    rng: np.random.Generator,
    truth: list[dict[str, object]],
    weekly_events: list[pd.DataFrame],
) -> float:
    """Simulate and release ``weeks`` weeks of ``year``; returns the seconds spent in releases."""
    first = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=(7 - datetime(year, 1, 1).weekday()) % 7)
    spent, rates = 0.0, baseline_rates()
    for week in range(weeks):
        window = Window(first + week * WEEK, first + (week + 1) * WEEK)
        events = simulate_week(rng, week, rates)
        weekly_events.append(events)
        counts = {f.name: bounded_counts(events, f) for f in families}
        for family in families:
            for cell in family.keys or counts[family.name]:
                truth.append(
                    {
                        "family": family.name,
                        "window_start": window.start,
                        "cell": cell,
                        "truth": counts[family.name].get(cell, 0),
                        "week": week,
                    }
                )
            if family.total:
                truth.append(
                    {
                        "family": family.name,
                        "window_start": window.start,
                        "cell": None,
                        "truth": sum(counts[family.name].values()),
                        "week": week,
                    }
                )
        t0 = time.perf_counter()
        outcomes = releaser.release(ClosedWindow(window, counts))
        spent += time.perf_counter() - t0
        refused = [o for o in outcomes if o.status != "released"]
        if refused:
            raise SystemExit(f"release refused at the default budget: {refused[0].detail}")
    return spent


def joined_cells(store: Path, families: list[ReportFamily], truth: list[dict[str, object]]) -> pd.DataFrame:
    """Released cells beside their bounded truth (open-vocabulary keys: only those released)."""
    cells = ReadOnlyStore(store).query("SELECT * FROM cells")
    dims = {f.name: list(f.dimensions) for f in families}
    cells["cell"] = [
        None if row.is_total else tuple(getattr(row, d) for d in dims[row.family]) for row in cells.itertuples()
    ]
    frame = pd.DataFrame(truth)
    return cells.merge(frame, on=["family", "window_start", "cell"], how="inner")


def error_table(joined: pd.DataFrame) -> tuple[dict[str, float], float]:
    """Median relative error by true cell size, and the median for cells of ≥ 1,000 events."""
    sized = joined[(joined["truth"] > 0) & joined["metric_is_count"]]
    rel = (sized["value"] - sized["truth"]).abs() / sized["truth"]
    buckets = pd.cut(
        sized["truth"],
        [0, 100, 1000, 10_000, np.inf],
        right=False,
        labels=["1-99", "100-999", "1,000-9,999", ">=10,000"],
    )
    table = rel.groupby(buckets, observed=True).median().to_dict()
    return {str(k): float(v) for k, v in table.items()}, float(rel[sized["truth"] >= 1000].median())


def released_page(plan: GaussianPlan, truth: np.ndarray, window: int) -> pd.DataFrame:
    """One window of events_by_category as the store holds it: OpenDP noise, clamped at 0, 95% interval."""
    noisy = np.array(draw(plan, truth.tolist()), dtype=float)
    start = pd.Timestamp(datetime(2030, 1, 7, tzinfo=UTC) + window * WEEK)
    return pd.DataFrame(
        {
            "window_start": start,
            "window_end": start + pd.Timedelta(WEEK),
            "category": list(CATEGORIES),
            "value": np.maximum(noisy, 0.0),
            "scale": plan.scale,
            "ci_low": np.maximum(noisy - plan.half_width, 0.0),
            "ci_high": np.maximum(noisy + plan.half_width, 0.0),
            "includes_zero": noisy - plan.half_width <= 0,
        }
    )


def shipped_alerts(plan: GaussianPlan, before: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """The dashboard's Alerts page on one family: :func:`dashboard.stats.changes` at its default rate."""
    now = stats.aggregate(released_page(plan, after, 1), ["category"])
    previous = stats.aggregate(released_page(plan, before, 0), ["category"])
    return stats.changes(now, previous, ["category"], ALERT_RATE).set_index("category")


def alert_experiment(
    releaser: Releaser, family: ReportFamily, trials: int, rng: np.random.Generator
) -> dict[str, float]:
    """Power and false-alarm rate of the shipped alert rule on events_by_category's released noise.

    The rule is the dashboard's (:func:`dashboard.stats.changes`, as on the Alerts page at its default
    5%): two-sided, noise only, Bonferroni over the page's cells. Its null hypothesis is that every
    cell's true (bounded) count is the same in both windows. Each trial releases two windows of the
    17 categories (the bench's weekly rates, cbrn.bio at 2,000) through OpenDP and runs the rule:

    * false alarm: identical true counts in both windows (the rule's null); any flag on the page;
    * no campaign: each week's counts drawn Poisson around the same rates (natural week-to-week
      variation, which the rule counts as real change); any flag on the page;
    * power: Poisson weeks with cbrn.bio +30% (and, as a harder case, +10%) in the second; cbrn.bio
      flagged as an increase.
    """
    plan = releaser.plan(family, WEEK).gaussian
    if plan is None:
        raise SystemExit(f"{family.name} has no Gaussian release plan: this is a bug in the bench")
    rates = np.array([baseline_rates()[c] for c in CATEGORIES])
    bio = np.array(CATEGORIES) == "cbrn.bio"
    steady = np.round(rates).astype(int)
    false_alarms = no_campaign = 0
    hits = {0.3: 0, 0.1: 0}
    for _ in range(trials):
        false_alarms += bool(shipped_alerts(plan, steady, steady)["flagged"].any())
        no_campaign += bool(shipped_alerts(plan, rng.poisson(rates), rng.poisson(rates))["flagged"].any())
        for uplift in hits:
            row = shipped_alerts(plan, rng.poisson(rates), rng.poisson(rates * (1 + uplift * bio))).loc["cbrn.bio"]
            hits[uplift] += bool(row["flagged"]) and row["direction"] == "increase"
    return {
        "alert_power": hits[0.3] / trials,
        "alert_power_10pct": hits[0.1] / trials,
        "alert_false_alarm": false_alarms / trials,
        "alert_flag_rate_no_campaign": no_campaign / trials,
        "alert_z": z_for(len(CATEGORIES), ALERT_RATE),
        "alert_sigma": plan.scale,
    }


def polars_weekly(events: pd.DataFrame, family: ReportFamily, rho: float) -> tuple[dict[str, int], float]:
    """The same weekly report with OpenDP's Polars API (identifier truncation to the same K and L)."""
    import opendp.prelude as dp
    import polars as pl

    t0 = time.perf_counter()
    context = dp.Context.compositor(
        data=pl.from_pandas(events[["actor", "category"]]).lazy(),
        privacy_unit=dp.unit_of(contributions=1, identifier="actor"),
        privacy_loss=dp.loss_of(rho=rho),
        split_evenly_over=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        query = (
            context.query()
            .truncate_per_group(family.bound_l, by=["category"], keep="first")
            .truncate_num_groups(family.bound_k, by=["category"], keep="first")
            .group_by("category")
            .agg(dp.len())
            .with_keys(pl.LazyFrame({"category": list(CATEGORIES)}))
        )
        released = query.release().collect()
    return dict(zip(released["category"], released["len"], strict=True)), time.perf_counter() - t0


def compare_polars(releaser: Releaser, family: ReportFamily, weekly: list[pd.DataFrame], n: int) -> dict[str, float]:
    plan = releaser.plan(family, WEEK).gaussian
    assert plan is not None
    engine_err, polars_err, engine_s, polars_s = [], [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        solo = Releaser(Store(Path(tmp) / "p.duckdb"), [family], releaser.policy)
        solo.total_weight = releaser.total_weight  # the same share of the budget as in the full release
        for i, events in enumerate(weekly[:n]):
            exact = events.groupby("category").size()
            t0 = time.perf_counter()
            counts = bounded_counts(events, family)
            window = Window(datetime(2030, 1, 7, tzinfo=UTC) + i * WEEK, datetime(2030, 1, 14, tzinfo=UTC) + i * WEEK)
            solo.release(ClosedWindow(window, {family.name: counts}))
            engine_s += time.perf_counter() - t0
            cells = ReadOnlyStore(solo.store.path).cells(family.name, window.start)
            polars, seconds = polars_weekly(events, family, plan.rho)
            polars_s += seconds
            for row in cells.itertuples():
                true = exact.get(row.category, 0)
                if true >= 1000:
                    engine_err.append(abs(row.value - true) / true)
                    polars_err.append(abs(polars[row.category] - true) / true)
    return {
        "engine_median_rel_error": statistics.median(engine_err),
        "polars_median_rel_error": statistics.median(polars_err),
        "engine_s_per_week": engine_s / n,
        "polars_s_per_week": polars_s / n,
    }


def release_100k(policy: BudgetPolicy, rng: np.random.Generator, repeats: int) -> tuple[int, float, float]:
    """Best-of-``repeats`` wall time of a 100k-cell release against the bare OpenDP draws for those cells."""
    family = ReportFamily(
        name="bench_100k",
        title="100k cells",
        bound_k=1,
        bound_l=1,
        weight=1.0,
        dimensions=("category", "jurisdiction", "detection_stage", "surface"),
    )
    values = rng.poisson(20, len(family.keys)).tolist()
    bare = full = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        releaser = Releaser(Store(Path(tmp) / "big.duckdb"), [family], policy)
        plan = releaser.plan(family, WEEK).gaussian
        assert plan is not None
        for i in range(repeats):  # alternate, so that load from other processes hits both alike
            t0 = time.perf_counter()
            draw(plan, values)
            bare = min(bare, time.perf_counter() - t0)
            window = Window(datetime(2031, 1, 6, tzinfo=UTC) + i * WEEK, datetime(2031, 1, 13, tzinfo=UTC) + i * WEEK)
            t0 = time.perf_counter()
            releaser.release(ClosedWindow(window, {family.name: dict(zip(family.keys, values, strict=True))}))
            full = min(full, time.perf_counter() - t0)
    return len(values), full, bare


def release_years(
    families: list[ReportFamily], policy: BudgetPolicy, years: int, weeks: int, rng: np.random.Generator
) -> tuple[Releaser, pd.DataFrame, int, pd.DataFrame, list[pd.DataFrame]]:
    """Simulate and release ``years`` x ``weeks``; returns the releaser, cells beside truth, release count, YTD."""
    truth: list[dict[str, object]] = []
    weekly: list[pd.DataFrame] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.duckdb"
        releaser = Releaser(Store(store), families, policy, period=WEEK)
        release_s = sum(run_year(releaser, families, 2026 + y, weeks, rng, truth, weekly) for y in range(years))
        joined = joined_cells(store, families, truth)
        n_releases = int(ReadOnlyStore(store).query("SELECT count(*) AS n FROM releases")["n"].iloc[0])
        ytd = ReadOnlyStore(store).cumulative("events_by_category")
    print(f"\nreleases: {n_releases} ({len(joined)} cells) in {release_s:.1f} s")
    metrics = {f.name: f.metric for f in families}
    joined["metric_is_count"] = joined["family"].map(metrics).isin(["event_count", "distinct_actors"])
    return releaser, joined, n_releases, ytd, weekly


def report_accuracy(
    releaser: Releaser, families: list[ReportFamily], joined: pd.DataFrame, n_releases: int, weekly: list[pd.DataFrame]
) -> tuple[float, float, float]:
    """Print errors by cell size, coverage, bounding and the plans; returns coverage (events, all) and median."""
    table, median_ge_1000 = error_table(joined)
    hit = (joined["ci_low"] <= joined["truth"]) & (joined["truth"] <= joined["ci_high"])
    coverage, coverage_all = float(hit[joined["truth"] > 0].mean()), float(hit.mean())
    print("median relative error by true cell size (event and actor counts):")
    for bucket, value in table.items():
        print(f"  {bucket:>12}: {value:.3%}")
    print(
        f"95% interval coverage over {n_releases} releases: {coverage:.4f} on {int((joined['truth'] > 0).sum())} "
        f"cells with events; {coverage_all:.4f} on all {len(joined)} cells (an interval clamped at 0 always "
        "covers a true 0 unless the noise exceeds +half-width: 97.5%)"
    )
    counted = [f for f in families if f.metric == "event_count" and not f.open_vocabulary]
    kept = {f.name: sum(sum(bounded_counts(w, f).values()) for w in weekly[:4]) for f in counted}
    exact = sum(len(w) for w in weekly[:4])
    print("events kept by bounding (first 4 weeks): " + ", ".join(f"{n} {k / exact:.1%}" for n, k in kept.items()))
    for family in families:
        plan = releaser.plan(family, WEEK)
        main_plan = plan.main  # a GaussianRelease's noise or a ThresholdRelease's selection
        print(f"  {family.name:<34} sigma={main_plan.scale:8.2f}  rho={main_plan.rho:.5f}  ±{main_plan.half_width:.0f}")
    return coverage, coverage_all, median_ge_1000


def report_side_by_side(
    releaser: Releaser, by_cat: ReportFamily, weekly: list[pd.DataFrame], n: int, ytd: pd.DataFrame
) -> dict[str, float]:
    """Print the year-to-date figures and the engine beside OpenDP's Polars API."""
    last = ytd[ytd["window_start"] == ytd["window_start"].max()]
    plan = releaser.plan(by_cat, WEEK).gaussian
    if plan is None:
        raise SystemExit(f"{by_cat.name} has no Gaussian release plan: this is a bug in the bench")
    print(
        f"year-to-date (sums of the weekly noisy values): {len(ytd)} estimates; latest median ±"
        f"{(last['ci_high'] - last['value']).median():.0f} over {int(last['n_weeks'].max())} weeks; at week 52: "
        f"±{plan.half_width * np.sqrt(52):.0f}"
    )
    try:
        side = compare_polars(releaser, by_cat, weekly, n)
    except ModuleNotFoundError as missing:  # polars comes with the bench extra only
        print(f"\nOpenDP Polars comparison skipped ({missing.name} is not installed: pip install -e '.[bench]')")
        return {}
    print(f"\nevents_by_category, {n} weeks, same rho, vs exact counts of cells >= 1,000:")
    print(
        f"  release engine   median rel. error {side['engine_median_rel_error']:.3%}  "
        f"{side['engine_s_per_week']:.3f} s/week (bounding + noise + ledger + DuckDB)"
    )
    print(
        f"  OpenDP Polars    median rel. error {side['polars_median_rel_error']:.3%}  "
        f"{side['polars_s_per_week']:.3f} s/week (truncation + noise)"
    )
    print(
        "  (both keep K = 2 categories and L = 3 events per actor; OpenDP's keep='first' keeps an actor's\n"
        "   alphabetically first categories, which biases later ones down; keep='sample' fails on a single\n"
        "   grouping column in opendp 0.16 with polars 1.36.1; the engine keeps cells in arrival order)"
    )
    return side


def print_alerts(alerts: dict[str, float], trials: int) -> None:
    print(
        f"\nshipped alert rule (dashboard.stats.changes: two-sided, noise only, Bonferroni over "
        f"{len(CATEGORIES)} categories at {ALERT_RATE:.0%}, z={alerts['alert_z']:.2f}, sigma="
        f"{alerts['alert_sigma']:.1f}; {trials} trials):\n"
        f"  power {alerts['alert_power']:.3f} for +30% on cbrn.bio's 2,000/week (Poisson weeks), "
        f"{alerts['alert_power_10pct']:.3f} for +10%\n"
        f"  false alarms {alerts['alert_false_alarm']:.3f} per page with identical true counts (the rule's null)\n"
        f"  pages with a flag {alerts['alert_flag_rate_no_campaign']:.3f} with Poisson week-to-week variation "
        "and no campaign"
    )


def alerts_only(trials: int, rng: np.random.Generator) -> None:
    """Only the alert experiment: the default families' plan for events_by_category, no simulated year."""
    families, policy = load_families(), BudgetPolicy()
    by_cat = next(f for f in families if f.name == "events_by_category")
    with tempfile.TemporaryDirectory() as tmp:
        alerts = alert_experiment(Releaser(Store(Path(tmp) / "a.duckdb"), families, policy), by_cat, trials, rng)
    print_alerts(alerts, trials)
    print(json.dumps({**alerts, "alert_trials": trials}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 weeks, small experiments")
    parser.add_argument("--alerts-only", action="store_true", help="run only the alert experiment")
    parser.add_argument("--trials", type=int, default=None, help="alert experiment pages (default 2000; 300 quick)")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    years, weeks, trials, polars_weeks = (1, 8, 300, 3) if args.quick else (2, 52, 2000, 10)
    trials = args.trials or trials
    rng = np.random.default_rng(args.seed)
    if args.alerts_only:
        alerts_only(trials, rng)
        return
    families, policy = load_families(), BudgetPolicy()
    print(
        f"utility benchmark: {years} simulated year(s) of {weeks} weeks, {len(families)} default families, "
        f"default budget (rho_week={policy.rho_week.rho}, rho_year={policy.rho_year.rho})"
    )
    releaser, joined, n_releases, ytd, weekly = release_years(families, policy, years, weeks, rng)
    coverage, coverage_all, median_ge_1000 = report_accuracy(releaser, families, joined, n_releases, weekly)
    by_cat = next(f for f in families if f.name == "events_by_category")
    alerts = alert_experiment(releaser, by_cat, trials, rng)
    print_alerts(alerts, trials)
    side = report_side_by_side(releaser, by_cat, weekly, polars_weeks, ytd)
    n_cells, full, bare = release_100k(policy, rng, 1 if args.quick else 3)
    print(
        f"\n{n_cells:,} cells: release (ledger + DuckDB) {full:.3f} s, bare OpenDP draws {bare:.3f} s "
        f"({full / bare:.2f}x)"
    )
    print(
        json.dumps(
            {
                "coverage": round(coverage, 4),
                "coverage_all_cells": round(coverage_all, 4),
                "median_rel_error_ge_1000": round(median_ge_1000, 5),
                **alerts,
                "alert_trials": trials,
                "release_100k_cells_s": round(full * 100_000 / n_cells, 4),
                "opendp_draw_100k_s": round(bare * 100_000 / n_cells, 4),
                "releases": n_releases,
                **{k: round(v, 5) for k, v in side.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
