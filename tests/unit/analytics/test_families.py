"""Report families as data: validation of the new fields, sensitivity with totals, the shipped set."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analytics.errors import FamilySpecError
from analytics.families import ReportFamily, load_families

BASE = {"name": "x_fam", "title": "t", "dimensions": ["category"], "bound_k": 2, "bound_l": 3, "weight": 1.0}


def test_shipped_families_keep_their_names_and_add_selection_and_totals() -> None:
    families = {f.name: f for f in load_families()}
    for name in (
        "events_by_category",
        "events_by_category_stage_action",
        "techniques_by_category",
        "actors_by_category",
        "repeat_blockers_by_category",
        "escalation_funnel",
        "events_by_category_jurisdiction",
        "events_by_category_surface",
    ):
        assert name in families
    assert families["events_by_model_family"].open_vocabulary and families["events_by_model_family"].keys == []
    assert families["events_by_surface"].total
    assert families["events_by_category"].year_to_date


def test_total_raises_sensitivity_by_the_total_row() -> None:
    plain = ReportFamily(**BASE)
    with_total = ReportFamily(**{**BASE, "total": True})
    assert plain.sensitivity_l2 == pytest.approx(3 * math.sqrt(2))
    assert with_total.sensitivity_l2 == pytest.approx(math.sqrt(2 * 9 + 36))


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"window": "month"}, "Input should be 'week' or 'day'"),
        ({"dimensions": ["model_family"], "total": True}, "total needs a public key space"),
        ({"dimensions": ["category", "surface"], "year_to_date": True}, "year_to_date is supported"),
        ({"window": "day", "year_to_date": True}, "year_to_date is supported"),
        ({"year_to_date_weight": 1.0}, "year_to_date_weight was removed: .* add that weight to weight"),
        ({"dimensions": ["prompt"]}, "open vocabularies: model_family"),
    ],
)
def test_invalid_specs_name_the_problem(update: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReportFamily(**{**BASE, **update})


def test_toml_errors_are_family_spec_errors(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text(
        '[[family]]\nname = "a_b"\ntitle = "t"\ndimensions = ["category"]\nbound_k = 1\n'
        'bound_l = 1\nweight = 1\nwindow = "hour"\n'
    )
    with pytest.raises(FamilySpecError, match="window"):
        load_families(path)
