"""A world tile-grid map that needs no download: one equal square per country, placed near where it is.

Vega-Lite's world maps need topology files from the internet, and the dashboard must work offline.
Instead, each ISO 3166 country gets the coordinates of its time zones' principal cities from the
IANA time-zone table (``zone.tab``, shipped in the ``tzdata`` package; the median over a country's
zones), and a greedy pass places it in the free grid square nearest that point. Equal squares keep
small countries as visible as large ones, which suits counts better than areas do.

Countries without a time zone of their own (Bouvet Island, Heard Island) and the region buckets
(``EU``, ``ZZ``) are not on the map; the jurisdiction table lists every code.
"""

from __future__ import annotations

import math
import re
import statistics
from functools import lru_cache
from importlib.resources import files

import pandas as pd

#: Grid square size in degrees (longitude, latitude).
CELL_LON, CELL_LAT = 7.0, 6.0
_COORD = re.compile(r"^([+-])(\d{2})(\d{2})(\d{2})?([+-])(\d{3})(\d{2})(\d{2})?$")


def _degrees(sign: str, deg: str, minutes: str, seconds: str | None) -> float:
    value = int(deg) + int(minutes) / 60 + int(seconds or 0) / 3600
    return -value if sign == "-" else value


def parse_coordinates(text: str) -> tuple[float, float]:
    """(latitude, longitude) in degrees from a ``zone.tab`` field such as ``+5230+01322``.

    Raises:
        ValueError: The text is not in ISO 6709 ``±DDMM[SS]±DDDMM[SS]`` form.
    """
    match = _COORD.match(text)
    if not match:
        raise ValueError(f"not a zone.tab coordinate (±DDMM[SS]±DDDMM[SS]): {text!r}")
    g = match.groups()
    return _degrees(g[0], g[1], g[2], g[3]), _degrees(g[4], g[5], g[6], g[7])


@lru_cache(maxsize=1)
def country_points() -> dict[str, tuple[float, float]]:
    """Alpha-2 code → (latitude, longitude) of the country's time-zone cities (median, circular mean)."""
    table = (files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")
    points: dict[str, list[tuple[float, float]]] = {}
    for line in table.splitlines():
        if not line or line.startswith("#"):
            continue
        code, coordinates = line.split("\t")[:2]
        points.setdefault(code, []).append(parse_coordinates(coordinates))
    return {
        code: (statistics.median(p[0] for p in pts), _mean_longitude([p[1] for p in pts]))
        for code, pts in points.items()
    }


def _mean_longitude(longitudes: list[float]) -> float:
    # A circular mean, so a country on both sides of the antimeridian (NZ, Kiribati) stays in the Pacific.
    x = sum(math.cos(math.radians(lon)) for lon in longitudes)
    y = sum(math.sin(math.radians(lon)) for lon in longitudes)
    return math.degrees(math.atan2(y, x))


def _rings(col: int, row: int, radius: int) -> list[tuple[int, int]]:
    if radius == 0:
        return [(col, row)]
    ring = [
        (col + dc, row + dr)
        for dc in range(-radius, radius + 1)
        for dr in range(-radius, radius + 1)
        if max(abs(dc), abs(dr)) == radius
    ]
    return sorted(ring, key=lambda p: ((p[0] - col) ** 2 + (p[1] - row) ** 2, p))


@lru_cache(maxsize=1)
def layout() -> pd.DataFrame:
    """One row per mapped country: ``jurisdiction`` (alpha-2), ``col`` and ``row`` (row 0 is the north).

    Countries are placed in order of distance from the crowded middle of their neighbourhood outward
    (north to south, then west to east), each in the free square nearest its own point.
    """
    taken: set[tuple[int, int]] = set()
    rows = []
    points = country_points()
    for code in sorted(points, key=lambda c: (-points[c][0], points[c][1], c)):
        lat, lon = points[code]
        ideal = (round(lon / CELL_LON), round(-lat / CELL_LAT))
        radius = 0
        while True:
            free = [p for p in _rings(*ideal, radius) if p not in taken]
            if free:
                break
            radius += 1
        taken.add(free[0])
        rows.append({"jurisdiction": code, "col": free[0][0], "row": free[0][1]})
    frame = pd.DataFrame(rows)
    frame["col"] -= frame["col"].min()
    frame["row"] -= frame["row"].min()
    return frame.sort_values("jurisdiction").reset_index(drop=True)
