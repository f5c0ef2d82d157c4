"""The column-wise reading of the SDK's UTC times gives datetime's own answer, or None."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.worker.utctimes import unix_seconds
from ingest.sdk.encoder import format_time

moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2199, 12, 31, 23, 59, 59, 999999), timezones=st.just(UTC)
)


@settings(max_examples=300)
@given(st.lists(moments, min_size=1, max_size=20), st.sampled_from(["sdk", "isoformat"]))
def test_the_sdk_shapes_read_exactly_as_datetime_reads_them(when: list[datetime], style: str) -> None:
    micros = when[0].microsecond != 0
    when = [w.replace(microsecond=w.microsecond or 1) if micros else w.replace(microsecond=0) for w in when]
    texts = [format_time(w) if style == "sdk" else w.isoformat() for w in when]
    seconds = unix_seconds(texts)
    assert seconds is not None
    assert seconds.tolist() == [w.timestamp() for w in when]  # bit for bit


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    year, month, day = draw(st.integers(1900, 2300)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 24)), draw(st.integers(0, 60)), draw(st.integers(0, 60))
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    text += draw(st.sampled_from([f".{draw(st.integers(0, 999999)):06d}", ""]))
    text += draw(st.sampled_from(["Z", "+00:00", "z", "+01:00", "-00:00"]))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(["/", ":", "a", " ", "\u0663", "-", "T", "."])) + text[at + 1 :]
    return text


def reference(text: str) -> float | None:
    """datetime's reading of a time in one of the four shapes; None if it is not one or not a real moment."""
    if len(text) not in (20, 25, 27, 32) or text[10] != "T" or not (text.endswith("Z") or text.endswith("+00:00")):
        return None
    if not text.isascii() or (len(text) in (27, 32) and text[19] != "."):
        return None
    try:
        moment = datetime.strptime(
            text.replace("+00:00", "Z"), "%Y-%m-%dT%H:%M:%S.%fZ" if len(text) in (27, 32) else "%Y-%m-%dT%H:%M:%SZ"
        )
    except ValueError:
        return None
    if not 1970 <= moment.year <= 2199 or format_time(moment.replace(tzinfo=UTC))[:19] != text[:19]:
        return None  # outside the years read column-wise, or strptime was lenient (e.g. one-digit fields)
    return moment.replace(tzinfo=UTC).timestamp()


@settings(max_examples=1000)
@given(near_misses())
def test_anything_else_is_left_to_the_general_reading(text: str) -> None:
    expected = reference(text)
    seconds = unix_seconds([text])
    assert (None if seconds is None else seconds.tolist()[0]) == expected


def test_a_batch_is_read_whole_or_not_at_all() -> None:
    good = "2026-11-23T15:40:52.123456Z"
    assert unix_seconds([good, good]) is not None
    assert unix_seconds([good, "2026-11-23T15:40:52Z"]) is None  # two shapes in one call
    assert unix_seconds([good, "2026-02-29T00:00:00.000001Z"]) is None  # not a leap year
    assert unix_seconds([]) is not None and len(unix_seconds([])) == 0
