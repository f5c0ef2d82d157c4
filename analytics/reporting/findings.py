"""What the report finds in released cells: domain changes, techniques, funnel, surfaces, jurisdictions.

Pure functions over frames of the store's ``cells`` table (one frame per window): no store access, so
they are tested on their own. Each reads its frames into :data:`Cells` (:func:`estimates`) and hands
them to its scan (``domain_changes``, ``technique_changes``, ``keyed_changes``, ``jurisdiction_changes``),
which simulations call directly. Every comparison goes through :func:`analytics.reporting.stats.compare`,
at the z of its scan (:func:`analytics.reporting.stats.scan_z`), so that a report in which no true count
changed contains a clear change with probability at most
:data:`analytics.reporting.stats.REPORT_FALSE_CALL_RATE`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from analytics.families import EscalationStage
from analytics.reporting.stats import Change, Estimate, Scan, compare, distinguishable_from_zero, scan_z
from ingest.contract.taxonomy import EXTRAORDINARILY_DANGEROUS, TECHNIQUE_ATLAS, Category, Surface, Technique

#: Danger domains in report order: the extraordinarily dangerous first, then the others.
DOMAIN_ORDER: tuple[str, ...] = tuple(
    [c.value for c in Category if c in EXTRAORDINARILY_DANGEROUS]
    + [c.value for c in Category if c not in EXTRAORDINARILY_DANGEROUS]
)
DANGEROUS: frozenset[str] = frozenset(c.value for c in EXTRAORDINARILY_DANGEROUS)
OPEN_WEIGHTS = Surface.OPEN_WEIGHTS_HOST.value
MIN_TREND_WINDOWS = 2
#: Released cells of one family and window, keyed by their values in the dimensions read.
Cells = dict[tuple[str, ...], Estimate]
TOP_TECHNIQUES = 3
TOP_JURISDICTIONS = 8


@dataclass(frozen=True)
class DomainFinding:
    """One danger domain this window: its estimate, and its change against last week and the trend."""

    category: str
    current: Estimate | None
    vs_last: Change
    vs_trend: Change

    @property
    def dangerous(self) -> bool:
        """Whether the domain is one of the extraordinarily dangerous ones."""
        return self.category in DANGEROUS


@dataclass(frozen=True)
class KeyedFinding:
    """An estimate under a key (a funnel stage, a surface, a jurisdiction) and its change against last week."""

    key: str
    estimate: Estimate
    vs_last: Change


@dataclass(frozen=True)
class TechniqueFinding:
    """A jailbreak technique in one domain: ``new`` (absent or indistinguishable from zero last week) or ``rising``."""

    category: str
    technique: str
    atlas: str
    status: Literal["new", "rising", "top"]
    estimate: Estimate
    vs_last: Change


def parts(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The frame's cells without a family's total row (empty when the family was not released)."""
    if frame is None or frame.empty:
        return pd.DataFrame()
    if "is_total" in frame:
        return frame[~frame["is_total"].fillna(False).astype(bool)]
    return frame


def estimates(frame: pd.DataFrame | None, *dimensions: str) -> Cells:
    """The cells of ``frame`` keyed by their values in ``dimensions``."""
    cells = parts(frame)
    if cells.empty:
        return {}
    keys = zip(*([str(k) for k in cells[d].tolist()] for d in dimensions), strict=True)
    values = zip(
        *(cells[c].to_numpy(dtype=float).tolist() for c in ("value", "scale", "ci_low", "ci_high")), strict=True
    )
    return {key: Estimate(*value) for key, value in zip(keys, values, strict=True)}


def domain_findings(
    current: pd.DataFrame | None, previous: pd.DataFrame | None, trend: Sequence[pd.DataFrame]
) -> tuple[DomainFinding, ...]:
    """Each domain's estimate, its change against the previous window and against the mean of ``trend``.

    ``trend`` holds the released frames of up to eight earlier windows; fewer than two give no trend.
    Each of the two comparisons is a scan over the domains, at its own :func:`scan_z`.
    """
    history = [estimates(frame, "category") for frame in trend]
    return domain_changes(estimates(current, "category"), estimates(previous, "category"), history)


def domain_changes(now: Cells, last: Cells, history: Sequence[Cells]) -> tuple[DomainFinding, ...]:
    """:func:`domain_findings` on cells keyed by ``(category,)``."""
    baselines: dict[str, Estimate | None] = {}
    for category in DOMAIN_ORDER:
        earlier = [h[(category,)] for h in history if (category,) in h]
        baselines[category] = Estimate.mean(earlier) if len(earlier) >= MIN_TREND_WINDOWS else None
    z_last = scan_z("domains_vs_last", sum((c,) in now and (c,) in last for c in DOMAIN_ORDER))
    z_trend = scan_z("domains_vs_trend", sum((c,) in now and baselines[c] is not None for c in DOMAIN_ORDER))
    return tuple(
        DomainFinding(
            c,
            now.get((c,)),
            compare(now.get((c,)), last.get((c,)), z_last),
            compare(now.get((c,)), baselines[c], z_trend),
        )
        for c in DOMAIN_ORDER
    )


def top_techniques(current: pd.DataFrame | None) -> tuple[TechniqueFinding, ...]:
    """Per domain, up to three techniques clearly above zero, most frequent first.

    "Clearly" at the techniques' scan z (:func:`scan_z`), not at 95% per cell: among 187 cells of true
    count zero, a 95% interval would exclude zero for about five by chance.
    """
    cells = estimates(current, "category", "technique")
    z = scan_z("techniques", len(cells))
    found = []
    for category in DOMAIN_ORDER:
        mine = [(t, e) for (c, t), e in cells.items() if c == category and distinguishable_from_zero(e, z)]
        for technique, estimate in sorted(mine, key=lambda te: -te[1].value)[:TOP_TECHNIQUES]:
            found.append(_technique(category, technique, "top", estimate, compare(estimate, None)))
    return tuple(found)


def notable_techniques(current: pd.DataFrame | None, previous: pd.DataFrame | None) -> tuple[TechniqueFinding, ...]:
    """Techniques that are new or rising: a clear increase against last week, at the techniques' scan z.

    **New** when last week's count could not be told apart from zero (or was not released, and this
    week's can), **rising** otherwise. "New" is a clear increase too, never "above zero now, not
    before" alone: a steady count near the detection limit crosses it by chance half the time.
    """
    return technique_changes(estimates(current, "category", "technique"), estimates(previous, "category", "technique"))


def technique_changes(now: Cells, last: Cells) -> tuple[TechniqueFinding, ...]:
    """:func:`notable_techniques` on cells keyed by ``(category, technique)``."""
    if not now or not last:
        return ()
    z = scan_z("techniques", len(now))
    found = []
    for (category, technique), estimate in now.items():
        before = last.get((category, technique))
        change = compare(estimate, before, z)
        if before is None:
            if distinguishable_from_zero(estimate, z):
                found.append(_technique(category, technique, "new", estimate, change))
        elif change.verdict == "clear increase":
            status: Literal["new", "rising"] = "rising" if distinguishable_from_zero(before, z) else "new"
            found.append(_technique(category, technique, status, estimate, change))
    return tuple(
        sorted(
            found,
            key=lambda f: (DOMAIN_ORDER.index(f.category) if f.category in DOMAIN_ORDER else 99, -f.estimate.value),
        )
    )


def _technique(
    category: str, technique: str, status: Literal["new", "rising", "top"], estimate: Estimate, change: Change
) -> TechniqueFinding:
    try:
        atlas = TECHNIQUE_ATLAS.get(Technique(technique), "unmapped")
    except ValueError:
        atlas = "unmapped"
    return TechniqueFinding(category, technique, atlas, status, estimate, change)


def funnel(current: pd.DataFrame | None, previous: pd.DataFrame | None) -> tuple[KeyedFinding, ...]:
    """The escalation funnel's stages in order (warned, rate-limited, suspended or banned)."""
    now, last = estimates(current, "escalation_stage"), estimates(previous, "escalation_stage")
    stages = {s.value: now[(s.value,)] for s in EscalationStage if (s.value,) in now}
    return keyed_changes("funnel", stages, {k[0]: e for k, e in last.items()})


def keyed_changes(scan: Scan, now: dict[str, Estimate], last: dict[str, Estimate]) -> tuple[KeyedFinding, ...]:
    """Each key of ``now`` (in order) against ``last``, at ``scan``'s z for the keys present in both."""
    z = scan_z(scan, sum(key in last for key in now))
    return tuple(KeyedFinding(key, estimate, compare(estimate, last.get(key), z)) for key, estimate in now.items())


def surfaces(
    current: pd.DataFrame | None, previous: pd.DataFrame | None, by_category: bool = False
) -> tuple[KeyedFinding, ...]:
    """Each surface, then ``hosted`` (every surface but open-weights hosting).

    From ``events_by_surface`` (one cell per surface, with a consistent total), or with ``by_category``
    from ``events_by_category_surface`` summed over domains. The parts of a family with a total were
    projected onto it, which correlates them: a sum of m of its n parts has variance σ²·(m − m²/(n+1)),
    not m·σ'² (see analytics.privacy.postprocess).
    """
    rows = [_surface_sums(frame) if by_category else _surface_rows(frame) for frame in (current, previous)]
    return keyed_changes("surfaces", rows[0], rows[1]) if rows[0] else ()


def _surface_rows(frame: pd.DataFrame | None) -> dict[str, Estimate]:
    found = {k[0]: e for k, e in estimates(frame, "surface").items()}
    if not found:
        return {}
    hosted = [e for k, e in found.items() if k != OPEN_WEIGHTS]
    n, m = len(found), len(hosted)
    raw_scale = max(e.scale for e in hosted) if hosted else 0.0  # the release's σ, stored on every cell
    scale = raw_scale * math.sqrt(max(m - m * m / (n + 1), 0.0)) if _has_total(frame) else raw_scale * math.sqrt(m)
    value = sum(e.value for e in hosted)
    clear = sum(e.value for e in hosted if not e.includes_zero)
    ordered: dict[str, Estimate] = {s.value: found[s.value] for s in Surface if s.value in found}
    # One hosted surface keeps its released interval; a sum gets the conservative one of clamped parts.
    ordered["hosted"] = hosted[0] if m == 1 else Estimate.summed(value, clear, scale)
    return ordered


def _surface_sums(frame: pd.DataFrame | None) -> dict[str, Estimate]:
    found = sum_by(frame, "surface")
    if not found:
        return {}
    ordered: dict[str, Estimate] = {s.value: found[s.value] for s in Surface if s.value in found}
    ordered["hosted"] = Estimate.total([e for k, e in found.items() if k != OPEN_WEIGHTS])
    return ordered


def _has_total(frame: pd.DataFrame | None) -> bool:
    return frame is not None and "is_total" in frame and bool(frame["is_total"].fillna(False).astype(bool).any())


def jurisdictions(
    current: pd.DataFrame | None, previous: pd.DataFrame | None
) -> tuple[tuple[KeyedFinding, ...], float]:
    """Jurisdictions of note in the extraordinarily dangerous domains, and the z used.

    Per jurisdiction, the flagged events summed over the dangerous domains. Listed: those clearly above
    zero (the largest first, up to eight) and those with a clear change against last week, both at the
    jurisdictions' scan z (:func:`scan_z`), which is returned.
    """
    return jurisdiction_changes(_by_jurisdiction(current), _by_jurisdiction(previous))


def jurisdiction_changes(now: dict[str, Estimate], last: dict[str, Estimate]) -> tuple[tuple[KeyedFinding, ...], float]:
    """:func:`jurisdictions` on estimates per jurisdiction (summed over the dangerous domains)."""
    z = scan_z("jurisdictions", len(now))
    if not now:
        return (), z
    changes = {k: compare(e, last.get(k), z) for k, e in now.items()}
    large = sorted((k for k, e in now.items() if distinguishable_from_zero(e, z)), key=lambda k: -now[k].value)
    keys = large[:TOP_JURISDICTIONS] + sorted(
        k for k, c in changes.items() if c.is_clear and k not in large[:TOP_JURISDICTIONS]
    )
    return tuple(KeyedFinding(k, now[k], changes[k]) for k in keys), z


def _by_jurisdiction(frame: pd.DataFrame | None) -> dict[str, Estimate]:
    return sum_by(frame, "jurisdiction", categories=DANGEROUS)


def sum_cells(cells: Cells, categories: frozenset[str] | None = None) -> dict[str, Estimate]:
    """Cells keyed by ``(category, key)`` summed per key (over ``categories`` only, when given), each with
    the conservative interval of a sum of clamped cells (:meth:`Estimate.total`)."""
    grouped: dict[str, list[Estimate]] = {}
    for (category, key), estimate in cells.items():
        if categories is None or category in categories:
            grouped.setdefault(key, []).append(estimate)
    return {k: Estimate.total(v) for k, v in grouped.items()}


def sum_by(frame: pd.DataFrame | None, dimension: str, categories: frozenset[str] | None = None) -> dict[str, Estimate]:
    """Independent cells summed per value of ``dimension`` (over ``categories`` only, when given), each
    with the conservative interval of a sum of clamped cells (:func:`sum_cells`)."""
    return sum_cells(estimates(frame, "category", dimension), categories)
