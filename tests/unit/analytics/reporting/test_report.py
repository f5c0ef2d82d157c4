"""The weekly report, built against stores written by the real release path (OpenDP noise, ledger).

Expected values are recomputed here from the store's released tables with the test's own arithmetic
(z·√(σ₁²+σ₂²) with each scan's Bonferroni z, ledger sums), never by calling the report's own helpers.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist

import pandas as pd
import pytest

from analytics.errors import EmptyStoreError
from analytics.families import ReportFamily, load_families
from analytics.privacy.budget import RhoBudget
from analytics.privacy.release import BudgetPolicy, Releaser
from analytics.reporting import PartialWeekError
from analytics.reporting.build import weekly_report_markdown, write_reports
from analytics.store import ReadOnlyStore, Store
from analytics.windows import ClosedWindow, Window
from ingest.contract.taxonomy import EXTRAORDINARILY_DANGEROUS, Category

WEEK = timedelta(days=7)
LAST = 4  # windows 0..4 are released: 2026-W43 .. 2026-W47
LABELS = ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
# Bounded exact counts per window index i. Steps are far outside the noise (σ ≈ 50–170) so the verdicts
# are certain; everything not named is zero.
DOMAINS = {
    "cbrn.bio": lambda i: 400 + 2000 * i,
    "fraud.phishing": lambda i: 3000,
    "cyber.malware": lambda i: 6000 - 1200 * i,
    "weapons.conventional": lambda i: 900,
}
TECHNIQUES = {
    "roleplay": lambda i: 1500,
    "encoding": lambda i: 800,
    "multiturn_escalation": lambda i: 2500 if i == LAST else 0,  # new in the last window
    "decomposition": lambda i: 3500 if i == LAST else 1000,
}  # rising
FUNNEL = {"warn": lambda i: 900, "rate_limit": lambda i: 300, "suspend_ban": lambda i: 80}
SURFACES = {
    "consumer_app": lambda i: 4000,
    "api": lambda i: 2500,
    "open_weights_host": lambda i: 5000 if i == LAST else 1500,
}
JURISDICTIONS = {"US": lambda i: 2000, "DE": lambda i: 800, "BR": lambda i: 4000 if i == LAST else 500}


def _level(table: dict, key: str, i: int) -> int:
    return table[key](i) if key in table else 0


def _count(family: ReportFamily, key: tuple[str, ...], i: int) -> int:
    name = family.name
    if name == "techniques_by_category":
        return _level(TECHNIQUES, key[1], i) if key[0] == "cbrn.bio" else 0
    if name == "escalation_funnel":
        return _level(FUNNEL, key[0], i)
    if name == "events_by_surface":
        return _level(SURFACES, key[0], i)
    if name == "events_by_category_surface":
        return _level(SURFACES, key[1], i) // 4 if key[0] in ("cbrn.bio", "fraud.phishing") else 0
    if name == "events_by_category_jurisdiction":
        return _level(JURISDICTIONS, key[1], i) if key[0] == "cbrn.bio" else 0
    if name == "events_by_category_stage_action" and key[1:] != ("input_filter", "block"):
        return 0
    return _level(DOMAINS, key[0], i)


def _counts(family: ReportFamily, i: int) -> list[int]:
    return [_count(family, key, i) for key in family.keys]


@pytest.fixture(scope="module")
def week_store(tmp_path_factory: pytest.TempPathFactory, store_populator) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("report") / "flockview.duckdb"
    windows = store_populator(path, WEEK, datetime(2026, 10, 19, tzinfo=UTC), _counts).release(LAST + 1)
    assert [w.label() for w in windows] == LABELS
    return path


@pytest.fixture
def partial_store(tmp_path: Path, store_populator) -> Path:  # type: ignore[no-untyped-def]
    """2026-W45 fully released; 2026-W46 released for ``events_by_category`` only (as after a refusal)."""
    path = tmp_path / "partial.duckdb"
    first = store_populator(path, WEEK, datetime(2026, 11, 2, tzinfo=UTC), _counts).release(1)[0]
    family = next(f for f in load_families() if f.name == "events_by_category")
    window = Window(first.end, first.end + WEEK)
    releaser = Releaser(Store(path), [family], BudgetPolicy(rho_year=RhoBudget(100.0)))
    [outcome] = releaser.release(
        ClosedWindow(window, {family.name: dict(zip(family.keys, _counts(family, 1), strict=True))})
    )
    assert outcome.status == "released"
    return path


@pytest.fixture(scope="module")
def report(week_store: Path) -> str:
    return weekly_report_markdown(week_store)


def _rows(text: str, first_cell: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith(f"| {first_cell} |")
    ]


def _row(text: str, first_cell: str) -> list[str]:
    rows = _rows(text, first_cell)
    assert rows, f"no table row for {first_cell!r}"
    return rows[0]


def _section(report: str, heading: str) -> str:
    start = report.index(f"\n## {heading}\n")
    end = report.find("\n## ", start + 1)
    return report[start : end if end > 0 else None]


def _int(text: str) -> int:
    return int(text.replace(",", "").replace("−", "-").replace("+", ""))


def _interval(text: str) -> tuple[int, int]:
    low, high = text.split(" – ")
    return _int(low), _int(high)


def _cells(path: Path, family: str, label: str) -> pd.DataFrame:
    cells = ReadOnlyStore(path).cells(family)
    labels = [
        Window(s.to_pydatetime(), e.to_pydatetime()).label()
        for s, e in zip(cells["window_start"], cells["window_end"], strict=True)
    ]
    cells = cells[[lab == label for lab in labels]]
    return cells[~cells["is_total"].astype(bool)] if "is_total" in cells else cells


def _bonferroni(share: float, comparisons: int) -> float:
    """The two-sided z of a scan given ``share`` of the report's 5% false-call rate (the report's stated split)."""
    return NormalDist().inv_cdf(1 - share / (2 * comparisons))


Z_LAST = _bonferroni(0.02, len(Category))  # domains against the previous window
Z_TREND = _bonferroni(0.01, len(Category))  # domains against the 8-week average


def _verdict(now: float, before: float, s_now: float, s_before: float, z: float) -> str:
    threshold = z * math.sqrt(s_now**2 + s_before**2)
    return (
        "clear increase"
        if now - before > threshold
        else "clear decrease"
        if before - now > threshold
        else "no clear change"
    )


def _within_noise(call: str, scan_z: float, z: float = 5.0) -> bool:
    """A steady cell's call: "no clear change", or a change ("clear increase (+112; threshold ±104)") of
    less than ``z`` standard deviations (the threshold shown is ``scan_z`` of them)."""
    if call == "no clear change":
        return True
    match = re.search(r"\(([−+-]?[\d,]+); threshold ±([\d,]+)\)", call)
    assert match, call
    change, threshold = (abs(int(x.replace(",", "").replace("−", "-"))) for x in match.groups())
    return change < z * threshold / scan_z


def test_report_has_every_section(report: str) -> None:
    assert report.startswith("# Flockview weekly policy report: 2026-W47\n")
    assert "Window 2026-11-16 00:00:00 to 2026-11-23 00:00:00 UTC" in report
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert headings[1:] == [
        "## Summary",
        "## Flagged events by danger domain",
        "### Extraordinarily dangerous domains",
        "### Other domains",
        "## How changes are called",
        "## Jailbreak techniques",
        "## Escalation funnel",
        "## Open weights vs hosted",
        "## Jurisdictions of note",
        "## Year to date",
        "## Methodology and privacy",
    ]
    summary = _section(report, "Summary")
    for lead in (
        "Totals",
        "Change against 2026-W46",
        "Change against the average of the 4 windows before (2026-W43 to 2026-W46)",
        "Jailbreak techniques",
        "Escalation funnel",
        "Open weights vs hosted",
        "Jurisdictions of note",
        "Privacy",
    ):
        assert f"**{lead}" in summary, lead


def test_domain_figures_equal_released_values(week_store: Path, report: str) -> None:
    cells = _cells(week_store, "events_by_category", "2026-W47")
    assert len(cells) == len(Category)
    domains = _section(report, "Flagged events by danger domain")
    for _, cell in cells.iterrows():
        _, shown, interval, _, _ = _row(domains, f"`{cell['category']}`")
        assert _interval(interval) == (math.floor(cell["ci_low"]), math.ceil(cell["ci_high"]))
        if cell["includes_zero"]:
            assert shown == f"≤ {math.ceil(cell['ci_high']):,} (interval includes 0)"
        else:
            assert _int(shown) == round(cell["value"])
    dangerous = domains[domains.index("### Extraordinarily") : domains.index("### Other")]
    assert {r[0].strip("`") for r in _rows(dangerous, "`" + "cbrn.bio" + "`")} == {"cbrn.bio"}
    assert all(f"`{c.value}`" in dangerous for c in EXTRAORDINARILY_DANGEROUS)


def test_change_against_last_week_is_the_gaussian_difference_test(week_store: Path, report: str) -> None:
    now = _cells(week_store, "events_by_category", "2026-W47").set_index("category")
    before = _cells(week_store, "events_by_category", "2026-W46").set_index("category")
    changes = _section(report, "How changes are called")
    assert "**threshold** z·√(σ₁² + σ₂²)" in changes and "**False-call rate: 5% per report.**" in changes
    assert f"threshold z = {Z_LAST:.2f} (Bonferroni: 2% of the report's 5% false-call rate, over 17 comparisons)" in (
        changes
    )
    for category in Category:
        c, p = now.loc[category.value], before.loc[category.value]
        expected = _verdict(c["value"], p["value"], c["scale"], p["scale"], Z_LAST)
        row = _row(changes, f"`{category.value}`")
        assert row[5] == expected, category
        assert row[4] == f"±{round(Z_LAST * math.hypot(c['scale'], p['scale'])):,}"
        if expected != "no clear change":
            assert _int(row[3]) == round(c["value"] - p["value"])
    assert _row(changes, "`cbrn.bio`")[5] == "clear increase"
    assert _row(changes, "`cyber.malware`")[5] == "clear decrease"
    # fraud.phishing is steady: at the scan's z (2% over 17 domains) it is called a change in about 1 run
    # of 850 (the loop above checks the call matches the test either way), so only its noise is bounded
    # here: |z| < 5.
    steady, last = now.loc["fraud.phishing"], before.loc["fraud.phishing"]
    assert abs(steady["value"] - last["value"]) < 5 * math.hypot(steady["scale"], last["scale"])
    assert "`cbrn.bio` up +" in _section(report, "Summary")


def test_change_against_the_trend_uses_the_mean_of_earlier_windows(week_store: Path, report: str) -> None:
    now = _cells(week_store, "events_by_category", "2026-W47").set_index("category")
    earlier = [_cells(week_store, "events_by_category", label).set_index("category") for label in LABELS[:-1]]
    domains = _section(report, "Flagged events by danger domain")
    for category in ("cbrn.bio", "cyber.malware", "fraud.phishing", "weapons.conventional"):
        mean = sum(e.loc[category, "value"] for e in earlier) / len(earlier)
        sigma = math.sqrt(sum(e.loc[category, "scale"] ** 2 for e in earlier)) / len(earlier)
        expected = _verdict(now.loc[category, "value"], mean, now.loc[category, "scale"], sigma, Z_TREND)
        assert _row(domains, f"`{category}`")[4].split(" (")[0] == expected
    assert _row(domains, "`cbrn.bio`")[4].startswith("clear increase")
    # weapons.conventional is steady: called a change against its trend in about 1 run of 1,700 (the loop
    # above checks the call matches the test either way), so only its noise is bounded here: |z| < 5.
    mean = sum(e.loc["weapons.conventional", "value"] for e in earlier) / len(earlier)
    sigma = math.sqrt(sum(e.loc["weapons.conventional", "scale"] ** 2 for e in earlier)) / len(earlier)
    steady = now.loc["weapons.conventional"]
    assert abs(steady["value"] - mean) < 5 * math.hypot(steady["scale"], sigma)


def test_new_and_rising_techniques(week_store: Path, report: str) -> None:
    section = _section(report, "Jailbreak techniques")
    notable = {r[1].strip("`"): r for r in _rows(section, "`cbrn.bio`") if len(r) == 7}
    assert notable["multiturn_escalation"][5] == "new"
    assert notable["decomposition"][5] == "rising"
    assert "roleplay" not in notable and "encoding" not in notable
    cells = _cells(week_store, "techniques_by_category", "2026-W47").set_index("technique")
    bio = cells[cells["category"] == "cbrn.bio"]
    assert _int(notable["decomposition"][3]) == round(bio.loc["decomposition", "value"])
    top = [r for r in _rows(section, "`cbrn.bio`") if len(r) == 5]
    assert [r[1] for r in top] == ["`decomposition`", "`multiturn_escalation`", "`roleplay`"]
    assert "AML.T0054 LLM Jailbreak" in top[0][2]


def test_funnel_and_surfaces_equal_released_values(week_store: Path, report: str) -> None:
    funnel = _cells(week_store, "escalation_funnel", "2026-W47").set_index("escalation_stage")
    section = _section(report, "Escalation funnel")
    for stage, name in (("warn", "warned"), ("rate_limit", "rate-limited"), ("suspend_ban", "suspended or banned")):
        row = _row(section, name)
        assert _interval(row[2]) == (math.floor(funnel.loc[stage, "ci_low"]), math.ceil(funnel.loc[stage, "ci_high"]))
    surfaces = _cells(week_store, "events_by_surface", "2026-W47").set_index("surface")
    section = _section(report, "Open weights vs hosted")
    assert _int(_row(section, "open_weights_host")[1]) == round(surfaces.loc["open_weights_host", "value"])
    hosted = sum(surfaces.loc[s, "value"] for s in ("consumer_app", "api", "enterprise"))
    assert _int(_row(section, "hosted (all but open weights)")[1]) == round(hosted)
    assert _row(section, "open_weights_host")[4].startswith("clear increase")


def test_jurisdictions_of_note(week_store: Path, report: str) -> None:
    section = _section(report, "Jurisdictions of note")
    listed = [r[0] for r in _rows(section, "BR") + _rows(section, "US") + _rows(section, "DE")]
    assert listed == ["BR", "US", "DE"]
    assert _row(section, "BR")[3].startswith("clear increase")
    scan_z = float(re.search(r"threshold z = ([\d.]+)", section).group(1))  # type: ignore[union-attr]
    assert _within_noise(_row(section, "US")[3], scan_z)  # steady: rarely called a change, never beyond 5 sd
    cells = _cells(week_store, "events_by_category_jurisdiction", "2026-W47")
    br = cells[(cells["jurisdiction"] == "BR") & cells["category"].isin([c.value for c in EXTRAORDINARILY_DANGEROUS])]
    assert _int(_row(section, "BR")[1]) == round(br["value"].sum())
    assert "FR" not in {line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")}


def test_year_to_date_equals_the_continual_release(week_store: Path, report: str) -> None:
    section = _section(report, "Year to date")
    ytd = ReadOnlyStore(week_store).cumulative(year=2026)
    assert not ytd.empty, "the store's continual release is missing"
    latest = ytd[pd.to_datetime(ytd["window_start"], utc=True) == ytd["window_start"].max()].set_index("category")
    row = _row(section, "`fraud.phishing`")
    assert _int(row[1]) == round(latest.loc["fraud.phishing", "value"])
    assert _interval(row[2]) == (
        math.floor(latest.loc["fraud.phishing", "ci_low"]),
        math.ceil(latest.loc["fraud.phishing", "ci_high"]),
    )


def test_privacy_statement_states_the_ledger_spend(week_store: Path, report: str) -> None:
    section = _section(report, "Methodology and privacy")
    ledger = ReadOnlyStore(week_store).ledger()
    week = ledger[ledger["period"] == "2026-W47"]
    rho = week["rho"].sum()
    selection_delta = week.loc[week["component"] == "selection", "delta"].sum()
    spent = next(line for line in section.splitlines() if line.startswith("- **Spent for 2026-W47**"))
    assert f"(ledger, {len(week)} charges): ρ = {rho:.6g}," in spent
    assert f"(ε = {RhoBudget(float(rho)).epsilon(1e-6):.6g}, δ = {1e-6 + selection_delta:.6g})-DP" in spent
    assert f"ε = {week['epsilon'].sum():.6g}, δ = {week['delta'].sum():.6g}" in spent
    year = ledger[ledger["year"] == 2026]
    ytd = next(line for line in section.splitlines() if line.startswith("- **Year to date**"))
    assert f"{len(year)} charges): ρ = {year['rho'].sum():.6g}," in ytd
    assert f"ε = {RhoBudget(float(year['rho'].sum())).epsilon(1e-6):.6g}" in ytd
    assert len(year) == (LAST + 1) * len(week)
    releases = ReadOnlyStore(week_store).releases()
    mine = releases[releases["window_start"] == week["window_start"].iloc[0]]
    assert len(mine) == len(load_families())
    for _, release in mine.iterrows():
        row = _row(section, f"`{release['family']}`")
        assert row[1:4] == [release["mechanism"], str(release["bound_k"]), str(release["bound_l"])]
        assert row[4:] == [
            f"{release['scale']:.6g}",
            f"{release['rho']:.6g}",
            f"{release['epsilon']:.6g}",
            f"{release['delta']:.6g}",
        ]
    assert f"**Privacy unit:** {releases['privacy_unit'].iloc[0]}." in section
    assert "**What these numbers cannot tell.**" in section
    assert f"ρ = {rho:.6g}" in _section(report, "Summary")


def test_week_selects_an_earlier_window(week_store: Path) -> None:
    first = weekly_report_markdown(week_store, "2026-W43")
    assert first.startswith("# Flockview weekly policy report: 2026-W43\n")
    assert "No earlier released window to compare with." in first
    assert "**Change against the previous window.** Nothing to compare with yet." in first
    cells = _cells(week_store, "events_by_category", "2026-W43").set_index("category")
    assert _int(_row(first, "`fraud.phishing`")[1]) == round(cells.loc["fraud.phishing", "value"])
    second = weekly_report_markdown(week_store, "2026-W44")
    assert "**Change against the 8-week average.** Nothing to compare with yet." in second


def test_write_reports_writes_html_and_markdown_with_charts(week_store: Path, tmp_path: Path) -> None:
    written = write_reports(week_store, tmp_path / "reports", "2026-W46")
    assert list(written) == ["html", "md"]
    assert written["md"] == tmp_path / "reports" / "flockview-report-2026-W46.md"
    markdown = written["md"].read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert images == [
        f"flockview-report-2026-W46-charts/{n}.png" for n in ("domains", "funnel", "surfaces", "year_to_date")
    ]
    for image in images:
        assert (tmp_path / "reports" / image).read_bytes().startswith(b"\x89PNG")
    html = written["html"].read_text(encoding="utf-8")
    assert html.count("<svg") == 4 and "<script" not in html and 'src="http' not in html
    for section in (
        "summary",
        "domains",
        "changes",
        "techniques",
        "funnel",
        "surfaces",
        "jurisdictions",
        "year-to-date",
        "methodology",
    ):
        assert f'<section id="{section}">' in html
    assert "<strong>Totals.</strong>" in html and "<code>cbrn.bio</code>" in html
    assert write_reports(week_store, tmp_path, None, ["md"])["md"].name == "flockview-report-2026-W47.md"


def test_short_demo_windows_are_labelled_by_their_start(tmp_path: Path, store_populator) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "demo.duckdb"
    windows = store_populator(
        store, timedelta(seconds=10), datetime(2026, 11, 23, 9, 40, 3, tzinfo=UTC), _counts
    ).release(2)
    assert windows[0].label() == "2026-11-23 09:40:00Z"
    report = weekly_report_markdown(store, "2026-11-23 09:40:00Z")
    assert report.startswith("# Flockview weekly policy report: 2026-11-23 09:40:00Z\n")
    assert "Change against 2026" not in report
    latest = weekly_report_markdown(store)
    assert latest.startswith("# Flockview weekly policy report: 2026-11-23 09:40:10Z\n")
    assert "**Change against 2026-11-23 09:40:00Z.**" in latest
    assert write_reports(store, tmp_path, None, ["md"])["md"].name == "flockview-report-2026-11-23T094010Z.md"


def test_empty_or_missing_store_raises(tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    Store(empty)
    with pytest.raises(EmptyStoreError, match=r"no releases in .*empty\.duckdb yet"):
        weekly_report_markdown(empty)
    missing = tmp_path / "missing.duckdb"
    with pytest.raises(EmptyStoreError, match="no releases"):
        write_reports(missing, tmp_path / "out")
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_unknown_week_raises_naming_what_exists(week_store: Path) -> None:
    with pytest.raises(EmptyStoreError) as info:
        weekly_report_markdown(week_store, "2026-W30")
    assert "'2026-W30'" in str(info.value)
    assert "2026-W43, 2026-W44, 2026-W45, 2026-W46, 2026-W47" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_partial_week_is_refused_unless_allowed(partial_store: Path, tmp_path: Path) -> None:
    with pytest.raises(PartialWeekError) as info:
        write_reports(partial_store, tmp_path / "out")
    message = str(info.value)
    assert message.startswith("window 2026-W46 is only partly released: no release yet of ")
    assert "escalation_funnel" in message and "events_by_category," not in message
    assert "--allow-partial" in message
    assert not (tmp_path / "out").exists()
    written = write_reports(partial_store, tmp_path / "out", formats=["md"], allow_partial=True)
    report = written["md"].read_text(encoding="utf-8")
    assert "**Incomplete window.** Not released for 2026-W46: " in report
    assert "`escalation_funnel`" in _section(report, "Summary")
    assert "Not released for this window." in _section(report, "Escalation funnel")
    assert "clear increase" in _row(_section(report, "How changes are called"), "`cbrn.bio`")[5]
