"""Times in and out."""

from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fccodes import timefmt

CST = timezone(timedelta(hours=8))
MS_2026_12_01_CST = 1796054400000  # 2026-12-01T00:00:00+08:00


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01T00:00:00+08:00",
        "2026-12-01t00:00:00+0800",
        "2026-11-30T16:00:00Z",
        "2026-11-30T16:00:00.000z",
        "2026-11-30T11:00:00-05:00",
        "2026-12-01 00:00:00",  # the tutorial's format: naive, in the default zone
        "2026-12-01T00:00:00",
        " 2026-12-01 00:00:00 ",
    ],
)
def test_accepted_spellings_of_one_instant(text):
    assert timefmt.to_ms(text, CST) == MS_2026_12_01_CST


def test_epoch_seconds_and_fractions():
    assert timefmt.to_ms(1796054400, CST) == MS_2026_12_01_CST
    assert timefmt.to_ms(1796054400.25, CST) == MS_2026_12_01_CST + 250
    assert timefmt.to_ms("2026-11-30T16:00:00.1234Z", CST) == MS_2026_12_01_CST + 123
    # RFC 3339 sets no limit on fraction digits; milliseconds are kept, the rest truncated.
    assert timefmt.to_ms("2026-11-30T16:00:00.1234567891234Z", CST) == MS_2026_12_01_CST + 123


@pytest.mark.parametrize(
    "value, reason",
    [
        ("2026-02-30 00:00:00", "not a valid date"),
        ("2026-12-01 25:00:00", "not a valid date"),
        ("2026-12-01", "expected RFC 3339"),
        ("next tuesday", "expected RFC 3339"),
        ("2026-12-01T00:00:00+24:00", "out of range"),
        (True, "boolean"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (-1, "out of range"),
        ("1969-12-31T23:59:59Z", "out of range"),
        (1e15, "out of range"),
        ([2026], "string or a number"),
        # Other scripts' digits (Python's \d matches them, and int() reads them).
        ("\u0662\u0660\u0662\u0666-12-01 00:00:00", "expected RFC 3339"),
        ("2026-12-01T00:00:00+\uff10\uff18:00", "expected RFC 3339"),
    ],
)
def test_rejected_times_say_why(value, reason):
    with pytest.raises(ValueError) as info:
        timefmt.to_ms(value, CST)
    assert reason in str(info.value)


def test_output_is_rfc3339_in_the_configured_zone():
    assert timefmt.from_ms(MS_2026_12_01_CST, CST) == "2026-12-01T00:00:00+08:00"
    assert timefmt.from_ms(MS_2026_12_01_CST + 5, timezone.utc) == "2026-11-30T16:00:00.005+00:00"
    assert timefmt.from_ms(timefmt.MAX_MS, timezone(timedelta(hours=14))).startswith("9999-01-01")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    ms=st.integers(0, timefmt.MAX_MS) | st.sampled_from([0, 999, 1000, timefmt.MAX_MS]),
    minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)
def test_output_is_what_datetime_isoformat_gives(ms, minutes):
    """from_ms formats by hand (it is on every answer's path): the same text as datetime's."""
    tz = timezone(timedelta(minutes=minutes))
    moment = (timefmt.EPOCH + timedelta(milliseconds=ms)).astimezone(tz)
    expected = moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    assert timefmt.from_ms(ms, tz) == expected


@pytest.mark.parametrize(
    "text, minutes", [("+08:00", 480), ("-0530", -330), ("Z", 0), ("utc", 0), ("+00:00", 0)]
)
def test_parse_offset(text, minutes):
    assert timefmt.parse_offset(text).utcoffset(None) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["8", "+8:00", "Asia/Shanghai", "+25:00", "+08:60"])
def test_parse_offset_rejects(text):
    with pytest.raises(ValueError):
        timefmt.parse_offset(text)
