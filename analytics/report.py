"""The weekly policy report in Markdown, built from released data only.

Everything here reads the store through :class:`~analytics.store.ReadOnlyStore`: noisy values, their
95% intervals, the releases' privacy facts and the ledger. No exact count is ever at hand, so the
report words small numbers as bounds and calls a change only when two intervals do not overlap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from analytics.errors import EmptyStoreError
from analytics.privacy import RhoBudget
from analytics.store import ReadOnlyStore
from analytics.windows import Window
from ingest.taxonomy import EXTRAORDINARILY_DANGEROUS, TECHNIQUE_ATLAS, Category, Technique

CATEGORY_FAMILY = "events_by_category"
TECHNIQUE_FAMILY = "techniques_by_category"
TOP_TECHNIQUES = 3
NO_CLEAR_CHANGE = "no clear change"


def value_text(value: float, ci_high: float, includes_zero: bool) -> str:
    """A released count as a reader should see it: an upper bound when its interval includes zero.

    Args:
        value: The released (noisy, clamped) count.
        ci_high: The upper end of its 95% interval.
        includes_zero: Whether the interval reaches zero.

    Returns:
        ``"1,234"``, or ``"≤ 17 (interval includes 0)"`` for a count indistinguishable from zero.
    """
    if includes_zero:
        return f"≤ {math.ceil(ci_high):,} (interval includes 0)"
    return f"{round(value):,}"


def interval_text(ci_low: float, ci_high: float) -> str:
    """A 95% interval in whole events, widened outward so rounding never narrows it."""
    return f"{math.floor(ci_low):,} – {math.ceil(ci_high):,}"


def change_text(current: pd.Series | None, previous: pd.Series | None) -> str:
    """The change of one cell against the previous window, called only when the intervals are disjoint.

    Args:
        current: The cell's row (``ci_low``, ``ci_high``) in this window, or None if not released.
        previous: The same cell's row in the previous released window, or None.

    Returns:
        ``"clear increase"``, ``"clear decrease"``, ``"no clear change"`` or ``"no earlier window"``.
    """
    if current is None or previous is None:
        return "no earlier window"
    if current["ci_low"] > previous["ci_high"]:
        return "clear increase"
    if current["ci_high"] < previous["ci_low"]:
        return "clear decrease"
    return NO_CLEAR_CHANGE


def _utc(ts: object) -> datetime:
    stamp = pd.Timestamp(ts)  # type: ignore[arg-type]
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def released_windows(store: ReadOnlyStore) -> list[Window]:
    """Every window with at least one release, oldest first."""
    releases = store.releases()
    if releases.empty:
        return []
    pairs = {(_utc(s), _utc(e)) for s, e in zip(releases["window_start"], releases["window_end"], strict=True)}
    return sorted(Window(s, e) for s, e in pairs)


def _select(windows: list[Window], week: str | None, store: ReadOnlyStore) -> tuple[Window, Window | None]:
    if not windows:
        raise EmptyStoreError(f"no releases in {store.path} yet: start a worker (or `flockview up`) and "
                              "wait for a window to close")
    if week is None:
        index = len(windows) - 1
    else:
        labels = [w.label() for w in windows]
        if week not in labels:
            recent = ", ".join(labels[-5:])
            raise EmptyStoreError(f"no released window labelled {week!r} in {store.path}; "
                                  f"latest released windows: {recent}")
        index = labels.index(week)
    return windows[index], windows[index - 1] if index > 0 else None


def _cells(store: ReadOnlyStore, family: str, window: Window | None, dimension: str) -> pd.DataFrame:
    if window is None:
        return pd.DataFrame()
    cells = store.cells(family, window.start)
    return cells.set_index(dimension, drop=False) if not cells.empty else cells


def _row(frame: pd.DataFrame, key: str) -> pd.Series | None:
    return frame.loc[key] if not frame.empty and key in frame.index else None


def _domain_table(keys: Iterable[Category], current: pd.DataFrame, previous: pd.DataFrame,
                  previous_label: str) -> list[str]:
    lines = [f"| Domain | Released events | 95% interval | Against {previous_label} |", "|---|---:|---|---|"]
    for category in keys:
        row = _row(current, category.value)
        if row is None:
            lines.append(f"| {category.value} | not released | – | – |")
            continue
        lines.append(f"| {category.value} | {value_text(row['value'], row['ci_high'], row['includes_zero'])} | "
                     f"{interval_text(row['ci_low'], row['ci_high'])} | "
                     f"{change_text(row, _row(previous, category.value))} |")
    return lines


def _domains_section(current: pd.DataFrame, previous: pd.DataFrame, previous_window: Window | None) -> str:
    label = previous_window.label() if previous_window else "previous window"
    if current.empty:
        return "## Flagged events by danger domain\n\nNot released for this window."
    dangerous = [c for c in Category if c in EXTRAORDINARILY_DANGEROUS]
    others = [c for c in Category if c not in EXTRAORDINARILY_DANGEROUS]
    parts = [
        "## Flagged events by danger domain",
        f"Family `{CATEGORY_FAMILY}`. Each figure is a noisy count with its 95% interval; where the interval "
        "includes zero, only its upper end is given, because the count cannot be told apart from zero.",
        "### Extraordinarily dangerous domains", "\n".join(_domain_table(dangerous, current, previous, label)),
        "### Other domains", "\n".join(_domain_table(others, current, previous, label)),
    ]
    return "\n\n".join(parts)


def _cell_text(row: pd.Series) -> str:
    return (f"{value_text(row['value'], row['ci_high'], row['includes_zero'])} "
            f"({interval_text(row['ci_low'], row['ci_high'])})")


def _change_line(category: str, cur: pd.Series, prev: pd.Series) -> str:
    return f"- **{category}**: {change_text(cur, prev)}, from {_cell_text(prev)} to {_cell_text(cur)}."


def _changes_section(current: pd.DataFrame, previous: pd.DataFrame, previous_window: Window | None) -> str:
    head = "## Change against the previous released window"
    if previous_window is None or previous.empty or current.empty:
        return f"{head}\n\nNo earlier released window to compare with."
    lines, steady = [], 0
    for category in current.index:
        cur, prev = current.loc[category], _row(previous, category)
        if prev is None or change_text(cur, prev) == NO_CLEAR_CHANGE:
            steady += 1
        else:
            lines.append(_change_line(category, cur, prev))
    rule = (f"Compared with {previous_window.label()}. A change is called only when the two 95% intervals do not "
            "overlap; overlapping intervals do not show that nothing changed, only that the noise could explain it.")
    lines.append(f"- {NO_CLEAR_CHANGE.capitalize()} in {steady} other domain(s)." if lines else
                 f"- {NO_CLEAR_CHANGE.capitalize()} in any of the {steady} domains.")
    return "\n\n".join([head, rule, "\n".join(lines)])


def _technique_rows(cells: pd.DataFrame) -> list[str]:
    clear = cells[~cells["includes_zero"].astype(bool)]
    rows = []
    order = [c.value for c in Category if c in EXTRAORDINARILY_DANGEROUS] + \
            [c.value for c in Category if c not in EXTRAORDINARILY_DANGEROUS]
    for category in order:
        top = clear[clear["category"] == category].sort_values("value", ascending=False).head(TOP_TECHNIQUES)
        for _, row in top.iterrows():
            atlas = TECHNIQUE_ATLAS.get(Technique(row["technique"]), "unmapped")
            rows.append(f"| {category} | {row['technique']} | {atlas} | {round(row['value']):,} | "
                        f"{interval_text(row['ci_low'], row['ci_high'])} |")
    return rows


def _techniques_section(store: ReadOnlyStore, window: Window) -> str:
    head = "## Top jailbreak techniques"
    cells = store.cells(TECHNIQUE_FAMILY, window.start)
    if cells.empty:
        return f"{head}\n\nNot released for this window."
    rows = _technique_rows(cells)
    intro = (f"Family `{TECHNIQUE_FAMILY}`: per domain, the up to {TOP_TECHNIQUES} most frequent techniques whose "
             "95% interval excludes zero. Techniques are ranked within a domain only: adding noisy cells across "
             "domains would add their noise too.")
    if not rows:
        return f"{head}\n\n{intro}\n\nNo technique count in this window can be told apart from zero."
    table = ["| Domain | Technique | MITRE ATLAS | Released events | 95% interval |", "|---|---|---|---:|---|", *rows]
    return "\n\n".join([head, intro, "\n".join(table)])


def _num(x: float) -> str:
    return f"{x:.6g}"


def _family_table(releases: pd.DataFrame) -> str:
    lines = ["| Family | Mechanism | K (cells per actor) | L (events per actor and cell) | Noise scale "
             "| ρ | ε | δ |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for _, r in releases.sort_values("family").iterrows():
        lines.append(f"| {r['family']} | {r['mechanism']} | {r['bound_k']} | {r['bound_l']} | {_num(r['scale'])} | "
                     f"{_num(r['rho'])} | {_num(r['epsilon'])} | {_num(r['delta'])} |")
    return "\n".join(lines)


def _spend_lines(ledger: pd.DataFrame, window: Window) -> list[str]:
    starts = ledger["window_start"].map(_utc)
    spent = ledger[starts == window.start]
    year = ledger[(ledger["year"] == window.start.year) & (starts <= window.start)]
    delta = float(spent["delta"].max())
    rho, ytd = float(spent["rho"].sum()), float(year["rho"].sum())
    return [
        f"- **Spent for this window** (ledger, summed over {len(spent)} families): ρ = {_num(rho)}; "
        f"ε = {_num(float(spent['epsilon'].sum()))}, δ = {_num(float(spent['delta'].sum()))} by adding the "
        f"families' (ε, δ). zCDP composes more tightly: ρ = {_num(rho)} is "
        f"(ε = {_num(RhoBudget(rho).epsilon(delta))}, δ = {_num(delta)})-DP.",
        f"- **Year to date** ({window.start.year}, up to and including this window; ledger, {len(year)} entries): "
        f"ρ = {_num(ytd)}, that is (ε = {_num(RhoBudget(ytd).epsilon(delta))}, δ = {_num(delta)})-DP. "
        "Budgets of different windows add up for an actor active in each of them.",
    ]


def _methodology_section(store: ReadOnlyStore, window: Window) -> str:
    releases = store.releases()
    releases = releases[releases["window_start"].map(_utc) == window.start]
    units = sorted(set(releases["privacy_unit"]))
    bullets = [
        f"- **Privacy unit:** {'; '.join(units)}.",
        "- **Contribution bounds:** each actor adds at most L events to any cell and touches at most K cells "
        "per window and family; the excess is dropped before counting.",
        "- **Mechanism:** OpenDP's discrete Gaussian under zero-concentrated DP (ρ), calibrated to each "
        "family's L2 sensitivity L·√K; (ε, δ) equivalents come from OpenDP's conversion.",
        "- **Post-processing** (no privacy cost): counts are clamped at zero; intervals are the 95% accuracy "
        "of the noise around the released value, cut at zero.",
        *_spend_lines(store.ledger(), window),
    ]
    return "\n\n".join(["## Methodology and privacy", "\n".join(bullets), _family_table(releases)])


def _title(store: ReadOnlyStore, window: Window) -> str:
    releases = store.releases()
    released_at = max(_utc(t) for t, s in zip(releases["released_at"], releases["window_start"], strict=True)
                      if _utc(s) == window.start)
    return (f"# Flockview weekly policy report: {window.label()}\n\n"
            f"Window {window.start:%Y-%m-%d %H:%M:%S} to {window.end:%Y-%m-%d %H:%M:%S} UTC, released "
            f"{released_at:%Y-%m-%d %H:%M:%S} UTC. Built from released, differentially private data only: "
            "every figure is a noisy count with a 95% interval, and no figure describes an individual.")


def weekly_report_markdown(store_path: Path | str, week: str | None = None) -> str:
    """The policy report of one released window, as Markdown.

    Args:
        store_path: The DuckDB store (opened read-only).
        week: The window's label, e.g. ``"2026-W47"`` for week windows or ``"2026-11-23 09:40:10Z"``
            for shorter ones; the latest released window when None.

    Returns:
        The report: title, domain tables, change against the previous window, top techniques, and the
        methodology and privacy statement.

    Raises:
        EmptyStoreError: The store holds no release, or none for ``week``.
    """
    store = ReadOnlyStore(store_path)
    window, previous_window = _select(released_windows(store), week, store)
    current = _cells(store, CATEGORY_FAMILY, window, "category")
    previous = _cells(store, CATEGORY_FAMILY, previous_window, "category")
    sections = [
        _title(store, window),
        _domains_section(current, previous, previous_window),
        _changes_section(current, previous, previous_window),
        _techniques_section(store, window),
        _methodology_section(store, window),
    ]
    return "\n\n".join(sections) + "\n"


def report_filename(label: str) -> str:
    """A file name for a window label: ``2026-W47`` stays, ``2026-11-23 09:40:10Z`` becomes ``2026-11-23T094010Z``."""
    safe = re.sub(r"[^0-9A-Za-z-]", "", label.replace(" ", "T"))
    return f"flockview-report-{safe}.md"


def write_weekly_report(store_path: Path | str, out_dir: Path | str, week: str | None = None) -> Path:
    """Write :func:`weekly_report_markdown` to ``out_dir`` and return the file's path.

    Raises:
        EmptyStoreError: The store holds no release, or none for ``week``.
    """
    store = ReadOnlyStore(store_path)
    window, _ = _select(released_windows(store), week, store)
    text = weekly_report_markdown(store_path, window.label())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / report_filename(window.label())
    path.write_text(text, encoding="utf-8")
    return path
