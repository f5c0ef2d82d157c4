"""The exceptions of the analytics package."""

from __future__ import annotations

from ingest.errors import FlockviewError


class AnalyticsError(FlockviewError):
    """Root of analytics errors."""


class InvalidBudgetError(AnalyticsError, ValueError):
    """A privacy budget value is invalid (negative, not finite, not a number), or a cap or share is zero."""


class BudgetExceededError(AnalyticsError, RuntimeError):
    """A release would exceed a privacy-budget cap. Nothing was released or spent."""

    def __init__(self, cap_name: str, requested: float, remaining: float, cap: float, what: str) -> None:
        self.cap_name, self.requested, self.remaining, self.cap = cap_name, requested, remaining, cap
        super().__init__(
            f"release of {what} refused: requested rho={requested:.6g}, remaining rho={remaining:.6g} "
            f"of the {cap_name} cap rho={cap:.6g}"
        )


class FamilySpecError(AnalyticsError, ValueError):
    """A report family specification is invalid."""


class StoreError(AnalyticsError, RuntimeError):
    """The DuckDB store could not be opened or written."""


class EmptyStoreError(AnalyticsError, LookupError):
    """The store holds no release yet for what was asked."""
