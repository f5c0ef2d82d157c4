"""Many RFC 3339 UTC times at once, with numpy: the form the SDK writes, ``2026-11-23T15:40:52.123456Z``.

:func:`unix_seconds` reads times of the shapes :func:`ingest.sdk.encoder.format_time` produces (six fraction
digits, or none when the microsecond is zero) and their ``+00:00`` twins (Python's ``isoformat``),
all of one shape per call, as fixed-width
byte columns: separators and digits are checked column-wise, the calendar date is checked
(month lengths, leap years), and the result equals ``datetime.timestamp()`` of the parsed time
bit for bit. Anything else (another shape, a mix of shapes, a date outside 1970-2199, an
impossible date or time) returns None, and the caller reads those times the general way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["unix_seconds"]

# Character positions of each shape: separators, and the digit columns of year..second (and micros).
# By width: "Z" or "+00:00", with six fraction digits or none.
_SEPARATORS = {
    27: ((4, 7, 10, 13, 16, 19, 26), b"--T::.Z"),
    20: ((4, 7, 10, 13, 16, 19), b"--T::Z"),
    32: ((4, 7, 10, 13, 16, 19, 26, 27, 28, 29, 30, 31), b"--T::.+00:00"),
    25: ((4, 7, 10, 13, 16, 19, 20, 21, 22, 23, 24), b"--T::+00:00"),
}
_DIGITS = {
    27: [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 23, 24, 25],
    20: [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18],
}
_DIGITS[32], _DIGITS[25] = _DIGITS[27], _DIGITS[20]
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
_YEARS = (1970, 2199)  # microseconds since 1970 stay below 2**53 there, so the float conversion is exact


def unix_seconds(times: Sequence[str]) -> np.ndarray | None:
    """Seconds since 1970-01-01T00:00:00Z of each time, as ``datetime.timestamp()`` gives them; None
    unless every time has the SDK's shape (one shape for all) and is a real moment of 1970-2199."""
    n = len(times)
    if not n:
        return np.zeros(0)
    width = len(times[0])
    if width not in _SEPARATORS:
        return None
    text = "".join(times)
    if len(text) != n * width or not text.isascii():
        return None
    chars = np.frombuffer(text.encode("ascii"), np.uint8).reshape(n, width)
    columns, separators = _SEPARATORS[width]
    if not (chars[:, columns] == np.frombuffer(separators, np.uint8)).all():
        return None
    digits = chars[:, _DIGITS[width]] - np.uint8(48)  # anything below '0' wraps round to a large value
    if (digits > 9).any():
        return None
    d = digits.astype(np.int64)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 4] * 10 + d[:, 5], d[:, 6] * 10 + d[:, 7]
    hour, minute, second = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    micros = d[:, 14:] @ (10 ** np.arange(5, -1, -1, dtype=np.int64)) if d.shape[1] > 14 else 0
    if not _real(year, month, day, hour, minute, second):
        return None
    whole = _days_since_1970(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return (whole * 1_000_000 + micros).astype(np.float64) / 1e6  # exact integer / 1e6: correctly rounded


def _real(
    year: np.ndarray, month: np.ndarray, day: np.ndarray, hour: np.ndarray, minute: np.ndarray, second: np.ndarray
) -> bool:
    if year.min() < _YEARS[0] or year.max() > _YEARS[1] or month.min() < 1 or month.max() > 12:
        return False
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _MONTH_DAYS[month] + (leap & (month == 2))
    return bool(
        day.min() >= 1 and (day <= last).all() and hour.max() <= 23 and minute.max() <= 59 and second.max() <= 59
    )


def _days_since_1970(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days from 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's ``days_from_civil``)."""
    y = year - (month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468
