"""The report's detail sections: domains, changes, techniques, funnel, surfaces, jurisdictions, year to date."""

from __future__ import annotations

from collections.abc import Iterable

from analytics.reporting.document import (
    Figure,
    Paragraph,
    Section,
    Table,
    change_cell,
    interval_text,
    share_text,
    signed,
    value_text,
)
from analytics.reporting.findings import DomainFinding, KeyedFinding, TechniqueFinding
from analytics.reporting.model import WeeklyReport
from analytics.reporting.stats import (
    REPORT_FALSE_CALL_RATE,
    SCAN_NAMES,
    SCAN_RATES,
    Change,
    Estimate,
    Scan,
)
from analytics.reporting.summary import STAGE_NAMES

NOT_RELEASED = "Not released for this window."


def scan_threshold(scan: Scan, changes: Iterable[Change], every: bool = True) -> str:
    """``threshold z = 3.24 (Bonferroni: 2% of the report's 5% false-call rate, over 17 comparisons)``.

    ``changes`` are the scan's comparisons; with ``every`` False they are only some of them (those
    listed), and the count is left out.
    """
    tested = [c for c in changes if c.verdict != "no earlier data"]
    share = f"{100 * SCAN_RATES[scan]:g}% of the report's {100 * REPORT_FALSE_CALL_RATE:g}% false-call rate"
    if not tested:
        return f"threshold: the Bonferroni z for {share}"
    over = f", over {len(tested)} comparisons" if every else ""
    return f"threshold z = {tested[0].z:.2f} (Bonferroni: {share}{over})"


def _value_cells(estimate: Estimate | None) -> tuple[str, str]:
    if estimate is None:
        return "not released", "–"
    return (
        value_text(estimate.value, estimate.ci_high, estimate.includes_zero),
        interval_text(estimate.ci_low, estimate.ci_high),
    )


def _domain_table(domains: list[DomainFinding], report: WeeklyReport) -> Table:
    last = f"Against {report.previous.label()}" if report.previous else "Against previous window"
    rows = tuple(
        (f"`{d.category}`", *_value_cells(d.current), change_cell(d.vs_last), change_cell(d.vs_trend)) for d in domains
    )
    return Table(("Domain", "Released events", "95% interval", last, "Against 8-week average"), rows, (2,))


def domains_section(report: WeeklyReport) -> Section:
    """Flagged events per danger domain, the extraordinarily dangerous first, with the trend chart."""
    if all(d.current is None for d in report.domains):
        return Section("domains", "Flagged events by danger domain", (Paragraph(NOT_RELEASED),))
    intro = Paragraph(
        "Family `events_by_category`. Each figure is a noisy count with its 95% interval; where "
        "the interval includes zero only its upper end is given, because the count cannot be told "
        "apart from zero."
    )
    subsections = (
        Section(
            "domains-dangerous",
            "Extraordinarily dangerous domains",
            (_domain_table([d for d in report.domains if d.dangerous], report),),
            level=3,
        ),
        Section(
            "domains-other",
            "Other domains",
            (_domain_table([d for d in report.domains if not d.dangerous], report),),
            level=3,
        ),
    )
    figure = Figure(
        "domains",
        "Released weekly counts of the extraordinarily dangerous domains and the largest "
        "others over the last windows; the band is the 95% interval.",
    )
    return Section("domains", "Flagged events by danger domain", (intro, figure), subsections=subsections)


def changes_section(report: WeeklyReport) -> Section:
    """How changes are called, and every domain's comparison with last week."""
    test = Paragraph(
        "Each released count is the true count plus independent Gaussian noise of known standard deviation σ. "
        "A change between two releases is called only when their difference exceeds the **threshold** "
        "z·√(σ₁² + σ₂²). Against the 8-week average, the baseline is the mean of up to eight earlier windows, "
        "with σ = √(Σσᵢ²)/n. A difference below the threshold is reported as **no clear change**: it does not "
        "show that nothing changed, only that the noise could explain it."
    )
    family = Paragraph(
        f"**False-call rate: {100 * REPORT_FALSE_CALL_RATE:g}% per report.** The report makes many comparisons, so "
        f"z is larger than 1.96: if no true count changed, the chance that this report shows any clear change "
        f"(or any new or rising technique) is at most {100 * REPORT_FALSE_CALL_RATE:g}%. That rate is shared "
        "between the report's scans (Bonferroni): "
        + "; ".join(f"{name} {100 * SCAN_RATES[scan]:g}%" for scan, name in SCAN_NAMES.items())
        + ". Each scan tests its m comparisons at z = Φ⁻¹(1 − share / 2m). Domains against the previous window: "
        + scan_threshold("domains_vs_last", (d.vs_last for d in report.domains))
        + "; against the 8-week average: "
        + scan_threshold("domains_vs_trend", (d.vs_trend for d in report.domains))
        + "."
    )
    if report.previous is None:
        return Section(
            "changes",
            "How changes are called",
            (test, family, Paragraph("No earlier released window to compare with.")),
        )
    rows = tuple(
        (f"`{d.category}`", *_compare_cells(d)) for d in report.domains if d.vs_last.verdict != "no earlier data"
    )
    table = Table(
        ("Domain", report.label, report.previous.label(), "Difference", "Threshold (±)", "Verdict"),
        rows,
        (1, 2, 3, 4),
    )
    return Section("changes", "How changes are called", (test, family, table))


def _compare_cells(d: DomainFinding) -> tuple[str, str, str, str, str]:
    c = d.vs_last
    now, before = (_value_cells(e)[0] for e in (c.current, c.baseline))
    near_zero = any(e is not None and e.includes_zero for e in (c.current, c.baseline))
    # A precise difference would give away a small count shown only as a bound: say "inside the noise".
    difference = "inside the noise" if near_zero and not c.is_clear else signed(c.difference)
    return (now, before, difference, f"±{round(c.threshold):,}", c.verdict)


def _technique_row(t: TechniqueFinding, with_status: bool) -> tuple[str, ...]:
    cells = (f"`{t.category}`", f"`{t.technique}`", t.atlas, *_value_cells(t.estimate))
    if not with_status:
        return cells
    before = t.vs_last.baseline
    return (*cells, t.status, _value_cells(before)[0] if before else "not released")


def techniques_section(report: WeeklyReport) -> Section:
    """New or rising jailbreak techniques, and each domain's most frequent ones."""
    intro = Paragraph(
        "Family `techniques_by_category`, mapped to MITRE ATLAS. **Rising**: a clear increase against the "
        "previous window; **new**: a clear increase from a count that could not be told apart from zero. "
        "The test's "
        + scan_threshold("techniques", (t.vs_last for t in report.notable_techniques), every=False)
        + ", over the (domain, technique) cells scanned. Techniques are ranked within a domain only."
    )
    if not report.top_techniques and not report.notable_techniques:
        return Section(
            "techniques",
            "Jailbreak techniques",
            (
                intro,
                Paragraph(
                    "No technique count in this window can be told apart from zero (or the family was not released)."
                ),
            ),
        )
    blocks: list[Paragraph | Table] = [intro]
    if report.notable_techniques:
        blocks.append(
            Table(
                ("Domain", "Technique", "MITRE ATLAS", "Released events", "95% interval", "Status", "Previous window"),
                tuple(_technique_row(t, True) for t in report.notable_techniques),
                (3, 4),
            )
        )
    else:
        blocks.append(Paragraph("No technique is new or clearly rising against the previous window."))
    blocks.append(
        Paragraph(
            "Most frequent techniques per domain (up to three; listed when clearly above zero, value > z·σ at "
            "the techniques' threshold):"
        )
    )
    blocks.append(
        Table(
            ("Domain", "Technique", "MITRE ATLAS", "Released events", "95% interval"),
            tuple(_technique_row(t, False) for t in report.top_techniques),
            (3, 4),
        )
    )
    return Section("techniques", "Jailbreak techniques", tuple(blocks))


def _keyed_table(
    first: str, found: tuple[KeyedFinding, ...], names: dict[str, str], share_of: float | None, last: str
) -> Table:
    rows = []
    for k in found:
        share = (share_text(k.estimate.value, share_of),) if share_of is not None else ()
        rows.append((names.get(k.key, k.key), *_value_cells(k.estimate), *share, change_cell(k.vs_last)))
    header = (first, "Released", "95% interval", *(("Share",) if share_of is not None else ()), last)
    return Table(header, tuple(rows), (1, 2))


def funnel_section(report: WeeklyReport) -> Section:
    """The escalation funnel: distinct actors reaching each restriction."""
    if not report.funnel:
        return Section("funnel", "Escalation funnel", (Paragraph(NOT_RELEASED),))
    intro = Paragraph(
        "Family `escalation_funnel`: distinct actors who reached each stage this window. An actor "
        "suspended or banned also counts as warned and rate-limited, so each stage should be at "
        "most the one before, up to noise. The share is of the warned. Changes are called at the "
        + scan_threshold("funnel", (k.vs_last for k in report.funnel))
        + "."
    )
    warned = report.funnel[0].estimate.value
    table = _keyed_table("Stage", report.funnel, STAGE_NAMES, warned, _against(report))
    return Section("funnel", "Escalation funnel", (intro, table, Figure("funnel", "Actors per stage, 95% intervals.")))


def _against(report: WeeklyReport) -> str:
    return f"Against {report.previous.label()}" if report.previous else "Against previous window"


def surfaces_section(report: WeeklyReport) -> Section:
    """Flagged events on open-weights hosts against hosted surfaces."""
    if not report.surfaces:
        return Section("surfaces", "Open weights vs hosted", (Paragraph(NOT_RELEASED),))
    rows = {s.key: s.estimate for s in report.surfaces}
    whole = rows["hosted"].value + rows.get("open_weights_host", Estimate(0, 0, 0, 0)).value
    intro = Paragraph(
        f"Family `{report.surface_family}`. **Hosted** is every surface but open-weights hosting "
        "(consumer app, API, enterprise); its noise is that of the sum. Open-weights hosts see only "
        "what reaches their own filters: misuse of weights run elsewhere is not counted. Changes are called "
        "at the " + scan_threshold("surfaces", (k.vs_last for k in report.surfaces)) + "."
    )
    table = _keyed_table(
        "Surface", report.surfaces, {"hosted": "hosted (all but open weights)"}, whole, _against(report)
    )
    return Section(
        "surfaces",
        "Open weights vs hosted",
        (intro, table, Figure("surfaces", "Flagged events per surface, 95% intervals.")),
    )


def jurisdictions_section(report: WeeklyReport) -> Section:
    """Jurisdictions that stand out in the extraordinarily dangerous domains."""
    intro = Paragraph(
        "Family `events_by_category_jurisdiction`, summed over the extraordinarily dangerous domains per "
        "jurisdiction. Listed: the largest that are clearly above zero, and any with a clear change; both at "
        f"the threshold z = {report.jurisdiction_z:.2f} (Bonferroni: {100 * SCAN_RATES['jurisdictions']:g}% of the "
        f"report's {100 * REPORT_FALSE_CALL_RATE:g}% false-call rate, over the jurisdictions scanned). A sum's "
        "lower end counts only its domains clear of zero, because clamping lifts a zero count."
    )
    if not report.jurisdictions:
        return Section(
            "jurisdictions",
            "Jurisdictions of note",
            (intro, Paragraph("No jurisdiction stands out from the noise in this window.")),
        )
    table = _keyed_table("Jurisdiction", report.jurisdictions, {}, None, _against(report))
    return Section("jurisdictions", "Jurisdictions of note", (intro, table))


def year_to_date_section(report: WeeklyReport) -> Section:
    """The year-to-date totals (sums of the weekly released values), when the store has them."""
    if not report.year_to_date:
        return Section(
            "year-to-date",
            "Year to date",
            (Paragraph("This store holds no year-to-date totals for this window."),),
        )
    intro = Paragraph(
        f"Flagged events from the start of {report.privacy.year} through {report.label}: the sum of each "
        "week's released noisy value (before clamping at zero, so the noise averages out), with the 95% "
        "interval of that sum. Summing released values is post-processing: it spends no privacy budget."
    )
    rows = tuple((f"`{c}`", *_value_cells(e)) for c, e in report.year_to_date)
    return Section(
        "year-to-date",
        "Year to date",
        (
            intro,
            Table(("Domain", "Year to date", "95% interval"), rows, (1, 2)),
            Figure("year_to_date", "Year-to-date totals, 95% intervals."),
        ),
    )
