"""What the report finds in released cells: domain changes, techniques, funnel, surfaces, jurisdictions.

Pure functions over frames of the store's ``cells`` table (one frame per window): no store access, so
they are tested on their own. Every comparison goes through :func:`analytics.reporting.stats.compare`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from analytics.families import EscalationStage
from analytics.reporting.stats import Z95, Change, Estimate, compare, distinguishable_from_zero, z_for
from ingest.contract.taxonomy import EXTRAORDINARILY_DANGEROUS, TECHNIQUE_ATLAS, Category, Surface, Technique

#: Danger domains in report order: the extraordinarily dangerous first, then the others.
DOMAIN_ORDER: tuple[str, ...] = tuple(
    [c.value for c in Category if c in EXTRAORDINARILY_DANGEROUS]
    + [c.value for c in Category if c not in EXTRAORDINARILY_DANGEROUS]
)
DANGEROUS: frozenset[str] = frozenset(c.value for c in EXTRAORDINARILY_DANGEROUS)
OPEN_WEIGHTS = Surface.OPEN_WEIGHTS_HOST.value
MIN_TREND_WINDOWS = 2
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


def estimates(frame: pd.DataFrame | None, *dimensions: str) -> dict[tuple[str, ...], Estimate]:
    """The cells of ``frame`` keyed by their values in ``dimensions``."""
    cells = parts(frame)
    if cells.empty:
        return {}
    keys = zip(*(cells[d].astype(str) for d in dimensions), strict=True)
    values = zip(cells["value"], cells["scale"], cells["ci_low"], cells["ci_high"], strict=True)
    return {
        key: Estimate(float(v), float(s), float(lo), float(hi))
        for key, (v, s, lo, hi) in zip(keys, values, strict=True)
    }


def domain_findings(
    current: pd.DataFrame | None, previous: pd.DataFrame | None, trend: Sequence[pd.DataFrame]
) -> tuple[DomainFinding, ...]:
    """Each domain's estimate, its change against the previous window and against the mean of ``trend``.

    ``trend`` holds the released frames of up to eight earlier windows; fewer than two give no trend.
    """
    now, last = estimates(current, "category"), estimates(previous, "category")
    history = [estimates(frame, "category") for frame in trend]
    findings = []
    for category in DOMAIN_ORDER:
        key = (category,)
        earlier = [h[key] for h in history if key in h]
        baseline = Estimate.mean(earlier) if len(earlier) >= MIN_TREND_WINDOWS else None
        findings.append(
            DomainFinding(category, now.get(key), compare(now.get(key), last.get(key)), compare(now.get(key), baseline))
        )
    return tuple(findings)


def top_techniques(current: pd.DataFrame | None) -> tuple[TechniqueFinding, ...]:
    """Per domain, up to three techniques whose interval excludes zero, most frequent first."""
    cells = estimates(current, "category", "technique")
    found = []
    for category in DOMAIN_ORDER:
        mine = [(t, e) for (c, t), e in cells.items() if c == category and not e.includes_zero]
        for technique, estimate in sorted(mine, key=lambda te: -te[1].value)[:TOP_TECHNIQUES]:
            found.append(_technique(category, technique, "top", estimate, compare(estimate, None)))
    return tuple(found)


def notable_techniques(current: pd.DataFrame | None, previous: pd.DataFrame | None) -> tuple[TechniqueFinding, ...]:
    """Techniques that are new (clearly above zero now, not last week) or rising (a clear increase).

    Both tests use the Bonferroni-corrected z for the number of (domain, technique) cells scanned.
    """
    now, last = estimates(current, "category", "technique"), estimates(previous, "category", "technique")
    if not now or not last:
        return ()
    z = z_for(len(now))
    found = []
    for (category, technique), estimate in now.items():
        before = last.get((category, technique))
        change = compare(estimate, before, z)
        if distinguishable_from_zero(estimate, z) and (before is None or not distinguishable_from_zero(before, z)):
            found.append(_technique(category, technique, "new", estimate, change))
        elif change.verdict == "clear increase":
            found.append(_technique(category, technique, "rising", estimate, change))
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
    return tuple(
        KeyedFinding(s.value, now[(s.value,)], compare(now[(s.value,)], last.get((s.value,))))
        for s in EscalationStage
        if (s.value,) in now
    )


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
    if not rows[0]:
        return ()
    last = rows[1]
    return tuple(KeyedFinding(key, estimate, compare(estimate, last.get(key))) for key, estimate in rows[0].items())


def _surface_rows(frame: pd.DataFrame | None) -> dict[str, Estimate]:
    found = {k[0]: e for k, e in estimates(frame, "surface").items()}
    if not found:
        return {}
    hosted = [e for k, e in found.items() if k != OPEN_WEIGHTS]
    n, m = len(found), len(hosted)
    raw_scale = max(e.scale for e in hosted) if hosted else 0.0  # the release's σ, stored on every cell
    scale = raw_scale * math.sqrt(max(m - m * m / (n + 1), 0.0)) if _has_total(frame) else raw_scale * math.sqrt(m)
    value = sum(e.value for e in hosted)
    ordered: dict[str, Estimate] = {s.value: found[s.value] for s in Surface if s.value in found}
    ordered["hosted"] = Estimate(value, scale, max(value - Z95 * scale, 0.0), value + Z95 * scale)
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
    Bonferroni-corrected z for the number of jurisdictions scanned.
    """
    now, last = _by_jurisdiction(current), _by_jurisdiction(previous)
    if not now:
        return (), Z95
    z = z_for(len(now))
    changes = {k: compare(e, last.get(k), z) for k, e in now.items()}
    large = sorted((k for k, e in now.items() if distinguishable_from_zero(e, z)), key=lambda k: -now[k].value)
    keys = large[:TOP_JURISDICTIONS] + sorted(
        k for k, c in changes.items() if c.is_clear and k not in large[:TOP_JURISDICTIONS]
    )
    return tuple(KeyedFinding(k, now[k], changes[k]) for k in keys), z


def _by_jurisdiction(frame: pd.DataFrame | None) -> dict[str, Estimate]:
    return sum_by(frame, "jurisdiction", categories=DANGEROUS)


def sum_by(frame: pd.DataFrame | None, dimension: str, categories: frozenset[str] | None = None) -> dict[str, Estimate]:
    """Independent cells summed per value of ``dimension`` (over ``categories`` only, when given)."""
    cells = estimates(frame, "category", dimension)
    grouped: dict[str, list[Estimate]] = {}
    for (category, key), estimate in cells.items():
        if categories is None or category in categories:
            grouped.setdefault(key, []).append(estimate)
    return {k: Estimate.total(v) for k, v in grouped.items()}
