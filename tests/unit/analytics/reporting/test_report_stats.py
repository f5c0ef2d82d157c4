"""The report's noise-aware tests and the listing of past reports: pure logic, no store."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from analytics.privacy.budget import RhoBudget
from analytics.privacy.gaussian import draw, plan_gaussian
from analytics.reporting.archive import list_reports, report_filename, report_slug
from analytics.reporting.build import ReportFormatError, parse_formats
from analytics.reporting.stats import (
    REPORT_FALSE_CALL_RATE,
    SCAN_RATES,
    Estimate,
    compare,
    distinguishable_from_zero,
    scan_z,
    sum_interval,
    z_for,
)
from dashboard import stats as dashboard_stats


def _est(value: float, scale: float) -> Estimate:
    return Estimate(value, scale, max(value - 1.96 * scale, 0), value + 1.96 * scale)


def test_compare_calls_a_change_only_beyond_the_combined_noise() -> None:
    threshold = 1.959963984540054 * math.hypot(30.0, 40.0)  # 97.998...
    assert compare(_est(200, 30), _est(102.1, 40)).verdict == "no clear change"
    assert compare(_est(200, 30), _est(101.9, 40)).verdict == "clear increase"
    assert compare(_est(101.9, 30), _est(200, 40)).verdict == "clear decrease"
    change = compare(_est(300, 30), _est(100, 40))
    assert change.difference == 200 and change.threshold == pytest.approx(threshold)
    assert compare(None, _est(1, 1)).verdict == compare(_est(1, 1), None).verdict == "no earlier data"


def test_sums_and_means_add_variances() -> None:
    total = Estimate.total([_est(100, 3), _est(50, 4)])
    assert (total.value, total.scale) == (150, 5)
    mean = Estimate.mean([_est(100, 3), _est(50, 4)])
    assert (mean.value, mean.scale) == (75, 2.5)
    assert mean.ci_low == pytest.approx(75 - 1.959963984540054 * 2.5)
    with pytest.raises(ValueError, match="no estimates"):
        Estimate.mean([])


def test_bonferroni_z_grows_with_the_number_of_comparisons() -> None:
    assert z_for(1) == pytest.approx(1.959963984540054)
    assert z_for(20) == pytest.approx(3.0233, abs=1e-4)
    assert distinguishable_from_zero(_est(80, 30), z_for(1)) and not distinguishable_from_zero(_est(80, 30), z_for(20))
    with pytest.raises(ValueError, match="at least 1"):
        z_for(0)


def test_false_change_rate_under_opendp_noise_is_about_five_percent() -> None:
    """Pairs of releases of the same count through OpenDP's discrete Gaussian: ~5% are called a change.

    2,000 pairs: the count of false calls is about Binomial(2000, 0.052) (50,000 pairs measured 5.17%:
    the discrete noise is a little heavier than the normal the test assumes), mean 103, sd 9.9. The
    noise cannot be seeded, so the bounds are ±5.5 sd (±4 sd failed a CI run with 142 calls); a rate
    of 10% fails 99.9% of runs, one of 2% 88% (exact binomial); the true rate fails one run in ten million.
    """
    plan = plan_gaussian(1.0, RhoBudget(0.001))
    first, second = draw(plan, [500] * 2000), draw(plan, [500] * 2000)
    calls = sum(compare(_est(a, plan.scale), _est(b, plan.scale)).is_clear for a, b in zip(first, second, strict=True))
    assert 48 <= calls <= 158


def test_parse_formats() -> None:
    assert parse_formats(None) == ("html", "md")
    assert parse_formats(["pdf,html", "md", "html"]) == ("pdf", "html", "md")
    assert parse_formats(["Markdown"]) == ("md",)
    with pytest.raises(ReportFormatError, match="unknown report format 'docx'; accepted: html, pdf, md"):
        parse_formats(["html,docx"])


def test_report_file_names() -> None:
    assert report_slug("2026-W47") == "2026-W47"
    assert report_filename("2026-11-23 09:40:10Z", "pdf") == "flockview-report-2026-11-23T094010Z.pdf"
    with pytest.raises(ValueError, match="accepted: html, pdf, md"):
        report_filename("2026-W47", "docx")


def test_list_reports_groups_formats_newest_first(tmp_path: Path) -> None:
    assert list_reports(tmp_path / "missing") == []
    for name in (
        "flockview-report-2026-W46.md",
        "flockview-report-2026-W46.html",
        "flockview-report-2026-W47.pdf",
        "notes.md",
        "flockview-report-2026-W47.md.tmp",
    ):
        (tmp_path / name).write_text("x")
    (tmp_path / "flockview-report-2026-W45-charts").mkdir()
    old = time.time() - 3600
    for name in ("flockview-report-2026-W46.md", "flockview-report-2026-W46.html"):
        os.utime(tmp_path / name, (old, old))
    reports = list_reports(tmp_path)
    assert [r.slug for r in reports] == ["2026-W47", "2026-W46"]
    assert sorted(reports[1].files) == ["html", "md"] and list(reports[0].files) == ["pdf"]


def test_a_sum_of_clamped_zero_cells_is_not_called_clear_of_zero() -> None:
    """200 cells with true count 0, released with seeded Gaussian noise (σ = 30) and clamped at zero:
    each clamped value averages 0.4σ, so their sum is ~80σ against noise √200·σ ≈ 14σ, and the plain
    Gaussian interval of the sum (the report's before this change) excluded zero. The shared
    conservative interval takes its lower end from the parts clear of zero only."""
    rng = np.random.default_rng(7)
    parts = [_est(max(float(x), 0.0), 30.0) for x in rng.normal(0.0, 30.0, 200)]
    total = Estimate.total(parts)
    assert total.value == pytest.approx(sum(p.value for p in parts))
    assert total.value - 1.959963984540054 * total.scale > 0  # what a plain interval would have said
    assert total.includes_zero and total.ci_low == 0.0
    assert not distinguishable_from_zero(total, 1.959963984540054)
    clear = sum(p.value for p in parts if not p.includes_zero)
    assert total.ci_high == pytest.approx(total.value + 1.959963984540054 * total.scale)
    assert total.clear_value == pytest.approx(clear)


def test_report_and_dashboard_sums_share_one_interval() -> None:
    """The same released cells summed by the report (Estimate.total) and the dashboard (stats.aggregate)."""
    values = [0.0, 3.0, 250.0, 30.0, 900.0]
    parts = [_est(v, 20.0) for v in values]
    start = pd.Timestamp("2026-11-02", tz="UTC")
    cells = pd.DataFrame(
        {
            "window_start": start,
            "window_end": start + pd.Timedelta(days=7),
            "category": [f"c{i}" for i in range(len(values))],
            "value": values,
            "ci_low": [p.ci_low for p in parts],
            "ci_high": [p.ci_high for p in parts],
            "includes_zero": [p.includes_zero for p in parts],
            "scale": 20.0,
        }
    )
    summed = dashboard_stats.aggregate(cells, []).iloc[0]
    total = Estimate.total(parts)
    assert (summed["ci_low"], summed["ci_high"]) == pytest.approx((total.ci_low, total.ci_high))
    assert total.ci_low == pytest.approx(250 + 900 - 1.959963984540054 * 20 * math.sqrt(5))  # 30 is not clear of zero
    low, high = sum_interval([10.0, 500.0], [0.0, 480.0], [30.0, 30.0])
    assert low.tolist() == pytest.approx([0.0, 480 - 1.959963984540054 * 30])
    assert high.tolist() == pytest.approx([10 + 1.959963984540054 * 30, 500 + 1.959963984540054 * 30])
    assert Estimate.total(parts[2:3]) == parts[2]  # one cell keeps the interval it was released with


def test_report_scans_split_the_false_call_rate() -> None:
    assert sum(SCAN_RATES.values()) == pytest.approx(REPORT_FALSE_CALL_RATE)
    assert scan_z("domains_vs_last", 17) == pytest.approx(NormalDist().inv_cdf(1 - 0.02 / 34))
    assert scan_z("funnel", 0) == scan_z("funnel", 1)
    change = compare(_est(300, 30), _est(100, 40), scan_z("domains_vs_last", 17))
    assert change.z == scan_z("domains_vs_last", 17) and change.threshold == pytest.approx(change.z * 50)
