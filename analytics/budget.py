"""A readable summary of the privacy-budget ledger."""

from __future__ import annotations

from pathlib import Path

from analytics.errors import EmptyStoreError
from analytics.privacy import RhoBudget
from analytics.release import BudgetPolicy
from analytics.store import ReadOnlyStore


def budget_summary(store_path: Path, policy: BudgetPolicy | None = None) -> str:
    """Spend per privacy period and per year from the ledger, against the caps of ``policy``."""
    policy = policy or BudgetPolicy()
    ledger = ReadOnlyStore(store_path).ledger()
    if ledger.empty:
        raise EmptyStoreError(f"no budget has been spent yet in {store_path} (no release recorded)")
    lines = [f"privacy budget in {store_path} (zCDP rho; caps: {policy.rho_week.rho:g} per period, "
             f"{policy.rho_year.rho:g} per year)", "", "year  spent      remaining  releases"]
    for year, group in ledger.groupby("year"):
        spent = group["rho"].sum()
        lines.append(f"{year}  {spent:<9.4g}  {max(policy.rho_year.rho - spent, 0):<9.4g}  {len(group)}")
    lines += ["", "latest periods (rho composes by addition; epsilon is that of the summed rho):",
              "period                     families  rho        epsilon at delta"]
    for period, group in list(ledger.groupby("period", sort=False))[-10:]:
        rho, delta = float(group["rho"].sum()), float(group["delta"].max())
        lines.append(f"{period:<26} {len(group):<9} {rho:<10.4g} {RhoBudget(rho).epsilon(delta):.3g} at {delta:g}")
    return "\n".join(lines)
