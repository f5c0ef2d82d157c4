"""The report's first page: the week in eight sentences, each backed by a section further on."""

from __future__ import annotations

from analytics.reporting.document import Bullets, Paragraph, Section, estimate_text, num, share_text, signed
from analytics.reporting.findings import DomainFinding, KeyedFinding
from analytics.reporting.model import WeeklyReport
from analytics.reporting.stats import Change, Estimate

STAGE_NAMES = {"warn": "warned", "rate_limit": "rate-limited", "suspend_ban": "suspended or banned"}


def summary_section(report: WeeklyReport) -> Section:
    """The one-page summary."""
    items = [
        _totals(report),
        _changes(report.domains, "vs_last", _last_label(report)),
        _changes(report.domains, "vs_trend", _trend_label(report)),
        _techniques(report),
        _funnel(report.funnel),
        _surfaces(report.surfaces),
        _jurisdictions(report.jurisdictions),
        _privacy(report),
    ]
    blocks: list[Paragraph | Bullets] = []
    if report.missing_families:
        blocks.append(
            Paragraph(
                f"**Incomplete window.** Not released for {report.label}: "
                f"{', '.join(f'`{m}`' for m in report.missing_families)}. Sections that need "
                "them say so."
            )
        )
    blocks.append(Bullets(tuple(items)))
    return Section("summary", "Summary", tuple(blocks))


def _last_label(report: WeeklyReport) -> str:
    return f"against {report.previous.label()}" if report.previous else "against the previous window"


def _trend_label(report: WeeklyReport) -> str:
    if len(report.trend) < 2:
        return "against the 8-week average"
    return (
        f"against the average of the {len(report.trend)} windows before "
        f"({report.trend[0].label()} to {report.trend[-1].label()})"
    )


def _totals(report: WeeklyReport) -> str:
    released = [d for d in report.domains if d.current is not None]
    if not released:
        return "**Totals.** Flagged events by danger domain were not released for this window."
    dangerous = Estimate.total([d.current for d in released if d.dangerous and d.current])
    everything = Estimate.total([d.current for d in released if d.current])
    top = max(
        (d for d in released if d.dangerous and d.current),
        key=lambda d: d.current.value if d.current else 0.0,
        default=None,
    )
    lead = (
        f" The largest is `{top.category}`: {estimate_text(top.current)}."
        if top and top.current and not top.current.includes_zero
        else ""
    )
    return (
        f"**Totals.** Flagged events in the extraordinarily dangerous domains: {estimate_text(dangerous)}; "
        f"in all {len(released)} domains: {estimate_text(everything)}.{lead}"
    )


def change_phrase(category: str, change: Change) -> str:
    """``cbrn.bio up +1,200 (threshold ±220)``: one clear change in a sentence."""
    direction = "up" if change.verdict == "clear increase" else "down"
    return f"`{category}` {direction} {signed(change.difference)} (threshold ±{round(change.threshold):,})"


def _changes(domains: tuple[DomainFinding, ...], attr: str, against: str) -> str:
    head = f"**Change {against}.**"
    changes = [(d.category, getattr(d, attr)) for d in domains]
    compared = [(c, ch) for c, ch in changes if ch.verdict != "no earlier data"]
    if not compared:
        return f"{head} Nothing to compare with yet."
    clear = [change_phrase(c, ch) for c, ch in compared if ch.is_clear]
    rest = len(compared) - len(clear)
    if not clear:
        return f"{head} No clear change in any of the {rest} domains: every difference is below its threshold."
    return f"{head} {'; '.join(clear)}. No clear change in the other {rest}."


def _techniques(report: WeeklyReport) -> str:
    if not report.notable_techniques:
        return (
            "**Jailbreak techniques.** No technique is new or clearly rising against the previous window."
            if report.previous
            else "**Jailbreak techniques.** No earlier window to compare with."
        )
    parts = [
        f"`{t.technique}` in `{t.category}` ({t.status}, {round(t.estimate.value):,})"
        for t in report.notable_techniques[:5]
    ]
    more = len(report.notable_techniques) - len(parts)
    return f"**Jailbreak techniques.** {'; '.join(parts)}{f'; and {more} more' if more > 0 else ''}."


def _funnel(funnel: tuple[KeyedFinding, ...]) -> str:
    if not funnel:
        return "**Escalation funnel.** Not released for this window."
    steps = " → ".join(f"{STAGE_NAMES.get(s.key, s.key)} {estimate_text(s.estimate)}" for s in funnel)
    return f"**Escalation funnel** (distinct actors). {steps}."


def _surfaces(surfaces: tuple[KeyedFinding, ...]) -> str:
    rows = {s.key: s.estimate for s in surfaces}
    if "open_weights_host" not in rows or "hosted" not in rows:
        return "**Open weights vs hosted.** Not released for this window."
    ow, hosted = rows["open_weights_host"], rows["hosted"]
    return (
        f"**Open weights vs hosted.** Open-weights hosting: {estimate_text(ow)}, "
        f"{share_text(ow.value, ow.value + hosted.value)} of flagged events; hosted surfaces: "
        f"{estimate_text(hosted)}."
    )


def _jurisdictions(found: tuple[KeyedFinding, ...]) -> str:
    if not found:
        return "**Jurisdictions of note** (dangerous domains). None stands out from the noise."
    parts = [
        f"{j.key} {round(j.estimate.value):,}{f' ({j.vs_last.verdict})' if j.vs_last.is_clear else ''}"
        for j in found[:6]
    ]
    return f"**Jurisdictions of note** (dangerous domains). {'; '.join(parts)}."


def _privacy(report: WeeklyReport) -> str:
    week, year = report.privacy.week, report.privacy.year_to_date
    return (
        f"**Privacy.** Spent for this window: ρ = {num(week.rho)}, that is (ε = {num(week.epsilon)}, "
        f"δ = {num(week.delta)}); year to date ({report.privacy.year}): ρ = {num(year.rho)}, "
        f"(ε = {num(year.epsilon)}, δ = {num(year.delta)}), per actor of one provider."
    )
