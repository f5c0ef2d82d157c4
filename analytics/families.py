"""Report families: declarative specs of what may be released (loaded from TOML, validated by pydantic)."""

from __future__ import annotations

import itertools
import math
import tomllib
from enum import StrEnum
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analytics.errors import FamilySpecError
from analytics.windows import Cell
from ingest.contract.events import Event
from ingest.contract.fields import CODE_FIELDS, ENUM_FIELDS
from ingest.contract.taxonomy import Action


class EscalationStage(StrEnum):
    """Stages of the escalation funnel, derived from the action; an actor reaching one reached those before."""

    WARN = "warn"
    RATE_LIMIT = "rate_limit"
    SUSPEND_BAN = "suspend_ban"


#: The funnel stages an event's action shows the actor has reached (cumulative).
_STAGES_REACHED: dict[Action, tuple[EscalationStage, ...]] = {
    Action.WARN: (EscalationStage.WARN,),
    Action.RATE_LIMIT: (EscalationStage.WARN, EscalationStage.RATE_LIMIT),
    Action.SUSPEND: tuple(EscalationStage),
    Action.BAN: tuple(EscalationStage),
}

#: Dimensions with a public key space, and their keys: their cells are released without key selection.
PUBLIC_DIMENSIONS: dict[str, tuple[str, ...]] = {
    **{name: tuple(m.value for m in enum) for name, enum in ENUM_FIELDS.items()},
    "escalation_stage": tuple(s.value for s in EscalationStage),
    **{name: tuple(sorted(rule.codes or ())) for name, rule in CODE_FIELDS.items()},
}

#: Dimensions whose values are free text from the event (no public key space): released only through
#: DP partition selection, so a value appears only if the thresholded mechanism lets it through.
OPEN_DIMENSIONS: frozenset[str] = frozenset({"model_family"})

#: A family's window: "week" is one privacy period; "day" a seventh of it, paid from the same weekly share.
WindowKind = Literal["week", "day"]

Metric = Literal["event_count", "distinct_actors", "actors_over_threshold", "escalation_funnel"]


class ReportFamily(BaseModel):
    """One report family: dimensions, metric, contribution bounds and budget weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    title: str
    dimensions: tuple[str, ...] = Field(min_length=1)
    metric: Metric = "event_count"
    threshold: int | None = Field(None, ge=1, description="actors_over_threshold: qualifying events needed")
    actions: tuple[Action, ...] = Field((), description="only events with one of these actions count; all if empty")
    bound_k: int = Field(ge=1, le=1000, description="max cells per actor per window")
    bound_l: int = Field(ge=1, le=10000, description="max events per actor per cell per window (event_count)")
    weight: float = Field(gt=0, allow_inf_nan=False)
    window: WindowKind = Field("week", description="week: one privacy period; day: a seventh of it")
    total: bool = Field(False, description="also release the total over all cells, made consistent with them")
    year_to_date: bool = Field(
        False,
        description="also keep year-to-date totals per category: sums of the weekly noisy values, no extra budget",
    )

    @model_validator(mode="before")
    @classmethod
    def _removed_fields(cls, data: object) -> object:
        if isinstance(data, dict) and "year_to_date_weight" in data:
            raise ValueError(
                "year_to_date_weight was removed: year-to-date totals are now sums of the weekly released "
                "values, which cost no budget; write year_to_date = true and add that weight to weight"
            )
        return data

    @model_validator(mode="after")
    def _metric_fields(self) -> ReportFamily:
        if (self.metric == "actors_over_threshold") != (self.threshold is not None):
            raise ValueError("threshold is required for metric actors_over_threshold, and only for it")
        if (self.metric == "escalation_funnel") != ("escalation_stage" in self.dimensions):
            raise ValueError("metric escalation_funnel needs the dimension escalation_stage, and only it may use it")
        if self.total and (self.open_vocabulary or self.metric == "escalation_funnel"):
            raise ValueError(
                "total needs a public key space and additive cells (not open vocabularies, "
                "not the cumulative escalation funnel)"
            )
        if self.year_to_date and (self.dimensions != ("category",) or self.window != "week"):
            raise ValueError("year_to_date is supported for weekly families with dimensions ['category'] only")
        return self

    @field_validator("dimensions")
    @classmethod
    def _public(cls, dims: tuple[str, ...]) -> tuple[str, ...]:
        for dim in dims:
            if dim not in PUBLIC_DIMENSIONS and dim not in OPEN_DIMENSIONS:
                raise ValueError(
                    f"dimension {dim!r} is not supported; public dimensions: "
                    f"{', '.join(PUBLIC_DIMENSIONS)}; open vocabularies: {', '.join(sorted(OPEN_DIMENSIONS))}"
                )
        if len(set(dims)) != len(dims):
            raise ValueError("dimensions repeat")
        return dims

    @property
    def per_cell_bound(self) -> int:
        """The most one actor adds to one cell: L for event counts, 1 for the actor-counting metrics."""
        return self.bound_l if self.metric == "event_count" else 1

    @property
    def saturation(self) -> int:
        """Qualifying events per actor and cell after which the actor's contribution stops changing."""
        if self.metric == "event_count":
            return self.bound_l
        return self.threshold if self.metric == "actors_over_threshold" and self.threshold else 1

    @property
    def open_vocabulary(self) -> bool:
        """True when a dimension is free text: keys come from the data and need DP partition selection."""
        return any(d in OPEN_DIMENSIONS for d in self.dimensions)

    @property
    def sensitivity_l2(self) -> float:
        """L2 sensitivity of the released vector when one actor is added or removed.

        Per-cell bound · √K for the cells; with a total row, one actor also moves the total by up to
        K · per-cell bound, so Δ₂ = √(K·b² + (K·b)²).
        """
        b, k = self.per_cell_bound, self.bound_k
        return math.sqrt(k * b * b + (k * b) ** 2) if self.total else b * math.sqrt(k)

    def contribution(self, n: int) -> int:
        """One actor's contribution to a cell in which it has ``n`` qualifying events (before K-bounding)."""
        if self.metric == "event_count":
            return min(n, self.bound_l)
        if self.metric == "actors_over_threshold":
            return int(n >= (self.threshold or 1))
        return int(n >= 1)

    def cells_of(self, event: Event) -> tuple[Cell, ...]:
        """The cells an event counts towards under this family's metric (often one, possibly none)."""
        if self.actions and event.action not in self.actions:
            return ()
        if self.metric == "escalation_funnel":
            stages = _STAGES_REACHED.get(event.action, ())
            base = self._values(event, skip="escalation_stage")
            if base is None:
                return ()
            at = self.dimensions.index("escalation_stage")
            return tuple((*base[:at], s.value, *base[at:]) for s in stages)
        cell = self.cell_of(event)
        return () if cell is None else (cell,)

    @cached_property
    def keys(self) -> list[Cell]:
        """Every cell of the public key space, in a fixed order (empty for open-vocabulary families)."""
        if self.open_vocabulary:
            return []
        return list(itertools.product(*(PUBLIC_DIMENSIONS[d] for d in self.dimensions)))

    @cached_property
    def key_index(self) -> dict[Cell, int]:
        return {key: i for i, key in enumerate(self.keys)}

    def cell_of(self, event: Event) -> Cell | None:
        """The cell an event falls in by its fields, or None if it has no value for one of the dimensions."""
        return self._values(event)

    def _values(self, event: Event, skip: str | None = None) -> Cell | None:
        values = []
        for dim in self.dimensions:
            if dim == skip:
                continue
            value = getattr(event, dim)
            if value is None:
                return None
            values.append(value.value if isinstance(value, StrEnum) else str(value))
        return tuple(values)


def _parse(text: str, source: str) -> list[ReportFamily]:
    try:
        data = tomllib.loads(text)
        families = [ReportFamily.model_validate(entry) for entry in data.get("family", [])]
    except tomllib.TOMLDecodeError as exc:
        raise FamilySpecError(f"{source}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise FamilySpecError(f"{source}: {exc}") from None
    if not families:
        raise FamilySpecError(f"{source}: defines no [[family]]")
    names = [f.name for f in families]
    if len(set(names)) != len(names):
        raise FamilySpecError(f"{source}: family names repeat: {names}")
    return families


def load_families(path: Path | None = None) -> list[ReportFamily]:
    """The report families from ``path``, or the shipped defaults."""
    if path is None:
        return _parse(files("analytics").joinpath("families.toml").read_text(), "default families")
    try:
        return _parse(path.read_text(), str(path))
    except FileNotFoundError:
        raise FamilySpecError(f"families file {path} does not exist") from None
