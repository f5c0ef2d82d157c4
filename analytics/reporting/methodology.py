"""The methodology and privacy statement: unit, bounds, mechanism, spend, and what the numbers cannot tell."""

from __future__ import annotations

from analytics.reporting.accounting import PrivacyFacts
from analytics.reporting.document import Bullets, Paragraph, Section, Table, num
from analytics.reporting.model import WeeklyReport
from analytics.reporting.stats import REPORT_FALSE_CALL_RATE, SCAN_NAMES, SCAN_RATES

LIMITS = (
    "**Not people.** The unit is an actor pseudonym of one provider: one person with accounts at two providers, "
    "or several accounts, counts several times; several people behind one account count once.",
    "**Not prevalence.** Counts are of flagged events, so they move with classifier changes, thresholds, new "
    "providers and traffic, not only with misuse.",
    "**Not small numbers.** A count whose interval includes zero may be zero or small; it is never shown as "
    "a precise figure.",
    "**Not causes.** A clear change says the released counts moved beyond the noise; why is for analysts with "
    "context the data do not hold.",
    "**Not everything.** Contributions beyond the bounds (K cells per actor, L events per cell) are dropped "
    "before counting, so the heaviest actors are undercounted by design; misuse of open weights run outside a "
    "reporting host is invisible.",
)


def _spend_bullets(facts: PrivacyFacts, label: str) -> list[str]:
    week, year = facts.week, facts.year_to_date
    caps = ""
    if facts.cap_period is not None and facts.cap_year is not None:
        caps = f" Caps in force: ρ = {num(facts.cap_period)} per period and ρ = {num(facts.cap_year)} per year."
    return [
        f"**Spent for {label}** (ledger, {week.entries} charges): ρ = {num(week.rho)}, that is "
        f"(ε = {num(week.epsilon)}, δ = {num(week.delta)})-DP by zCDP composition. Adding each family's own "
        f"(ε, δ) instead gives the looser ε = {num(week.epsilon_sum)}, δ = {num(week.delta_sum)}.",
        f"**Year to date** ({facts.year}, up to and including this period; ledger, {year.entries} charges): "
        f"ρ = {num(year.rho)}, that is (ε = {num(year.epsilon)}, δ = {num(year.delta)})-DP for an actor active in "
        f"every one of those periods.{caps}",
    ]


def _family_table(facts: PrivacyFacts) -> Table:
    rows = []
    for _, r in facts.releases.iterrows():
        rows.append(
            (
                f"`{r['family']}`",
                str(r["mechanism"]),
                str(r["bound_k"]),
                str(r["bound_l"]),
                num(r["scale"]),
                num(r["rho"]),
                num(r["epsilon"]),
                num(r["delta"]),
            )
        )
    return Table(("Family", "Mechanism", "K", "L", "Noise σ", "ρ", "ε", "δ"), tuple(rows), (2, 3, 4, 5, 6, 7))


def _changes_bullet() -> str:
    rate = f"{100 * REPORT_FALSE_CALL_RATE:g}%"
    shares = ", ".join(f"{name} {100 * SCAN_RATES[scan]:g}%" for scan, name in SCAN_NAMES.items())
    return (
        "**Changes** are called by the Gaussian difference test described under *How changes are called*. "
        f"**Family-wise false-call rate: {rate} per report**: if no true count changed, the chance that "
        f"this report contains any clear change, or any new or rising technique, is at most {rate}. The "
        f"{rate} is split between the report's scans ({shares}), each testing its comparisons at the "
        "Bonferroni threshold for its share, so the bound holds however the scans depend on each other. "
        "A single comparison is therefore held to more than 1.96 noise standard deviations; small changes "
        "go uncalled."
    )


def methodology_section(report: WeeklyReport) -> Section:
    """The methodology and privacy statement of the report's window."""
    facts = report.privacy
    bullets = [
        f"**Privacy unit:** {'; '.join(facts.units) or 'not recorded'}.",
        "**Contribution bounds:** each actor adds at most L events (or is counted at most once, for actor "
        "counts) to any cell and touches at most K cells per window and family; the excess is dropped before "
        "counting. Each family's K and L are in the table below.",
        "**Mechanism:** OpenDP's discrete Gaussian under zero-concentrated DP (ρ), calibrated to each family's "
        "L2 sensitivity; (ε, δ) equivalents come from OpenDP's conversion at δ = 10⁻⁶, plus the δ of partition "
        "selection for open vocabularies.",
        "**Post-processing** (no privacy cost): counts are clamped at zero; parts are made consistent with "
        "released totals; intervals are the 95% accuracy of the noise, cut at zero. Sums of cells add their "
        "variances; because clamping can only raise a cell near zero, a sum's value leans high, so its "
        "interval takes its lower end from the parts clear of zero only and its upper end from all parts "
        "(the dashboard's sums use the same rule).",
        _changes_bullet(),
        *_spend_bullets(facts, report.label),
    ]
    return Section(
        "methodology",
        "Methodology and privacy",
        (
            Bullets(tuple(bullets)),
            Paragraph(
                "Per family: K = cells per actor, L = events per actor and cell, σ = the noise's standard "
                "deviation, and the family's ρ with its own (ε, δ)."
            ),
            _family_table(facts),
            Paragraph("**What these numbers cannot tell.**"),
            Bullets(LIMITS),
        ),
    )
