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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analytics.errors import FamilySpecError
from ingest.events import Event
from ingest.taxonomy import ENUM_FIELDS

#: Dimensions with a public key space: their cells are released without key selection.
PUBLIC_DIMENSIONS: dict[str, type[StrEnum]] = ENUM_FIELDS

Cell = tuple[str, ...]


class ReportFamily(BaseModel):
    """One report family: dimensions, metric, contribution bounds and budget weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    title: str
    dimensions: tuple[str, ...] = Field(min_length=1)
    metric: Literal["event_count"] = "event_count"
    bound_k: int = Field(ge=1, le=1000, description="max cells per actor per window")
    bound_l: int = Field(ge=1, le=10000, description="max events per actor per cell per window")
    weight: float = Field(gt=0, allow_inf_nan=False)

    @field_validator("dimensions")
    @classmethod
    def _public(cls, dims: tuple[str, ...]) -> tuple[str, ...]:
        for dim in dims:
            if dim not in PUBLIC_DIMENSIONS:
                raise ValueError(f"dimension {dim!r} is not supported; public dimensions: {', '.join(PUBLIC_DIMENSIONS)}")
        if len(set(dims)) != len(dims):
            raise ValueError("dimensions repeat")
        return dims

    @property
    def sensitivity_l2(self) -> float:
        """L2 sensitivity of the count vector when one actor is added or removed: L·√K."""
        return self.bound_l * math.sqrt(self.bound_k)

    @cached_property
    def keys(self) -> list[Cell]:
        """Every cell of the public key space, in a fixed order."""
        return list(itertools.product(*([m.value for m in PUBLIC_DIMENSIONS[d]] for d in self.dimensions)))

    @cached_property
    def key_index(self) -> dict[Cell, int]:
        return {key: i for i, key in enumerate(self.keys)}

    def cell_of(self, event: Event) -> Cell | None:
        """The cell an event falls in, or None if it has no value for one of the dimensions."""
        values = []
        for dim in self.dimensions:
            value = getattr(event, dim)
            if value is None:
                return None
            values.append(value.value)
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
