"""Times as exectrail keeps them: datetimes <-> milliseconds since the epoch."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exectrail.timefmt import ms_to_time, time_to_ms, timestamp_to_datetime


@given(st.integers(min_value=0, max_value=2**35), st.integers(min_value=0, max_value=999))
def test_time_ms_round_trip(seconds: int, ms: int) -> None:
    time = timestamp_to_datetime(seconds, ms)
    assert ms_to_time(time_to_ms(time)) == time
    assert time_to_ms(time) == seconds * 1000 + ms
