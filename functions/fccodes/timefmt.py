"""Times in and out: RFC 3339, epoch seconds and the tutorial's `YYYY-MM-DD HH:MM:SS`.

Stored times are epoch milliseconds (INTEGER). Python 3.6 has neither `fromisoformat` nor
`zoneinfo`, so parsing is a small regular expression and zones are fixed UTC offsets.
"""

import math
import re
import time
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_MS = 253370764800000  # 9999-01-01T00:00:00Z: leaves room for any offset when shown
OUT_OF_RANGE = "time out of range (1970-01-01 .. 9998-12-31)"

# [0-9], not \d: in Python \d also matches other scripts' digits, which int() then accepts.
_TIME_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"\s*([Zz]|[+-][0-9]{2}:?[0-9]{2})?$"
)
_OFFSET_RE = re.compile(r"^([+-])([0-9]{2}):?([0-9]{2})$")

ACCEPTED = (
    "RFC 3339 like 2026-12-01T00:00:00+08:00, 'YYYY-MM-DD HH:MM:SS' (in CODE_TIMEZONE) "
    "or epoch seconds"
)


def parse_offset(text):
    """A fixed-offset tzinfo for `+08:00`, `-0530`, `Z` or `UTC`; ValueError otherwise."""
    text = text.strip()
    if text.upper() in ("Z", "UTC"):
        return timezone.utc
    match = _OFFSET_RE.match(text)
    if not match:
        raise ValueError("expected a UTC offset like +08:00, got %r" % text)
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta >= timedelta(hours=24) or int(minutes) >= 60:
        raise ValueError("UTC offset out of range: %r" % text)
    return timezone(-delta if sign == "-" else delta)


def to_ms(value, default_tz):
    """Epoch milliseconds for an input time; ValueError with a reason if it is not one.

    Numbers are epoch seconds (fractions allowed); strings are RFC 3339 or the tutorial's
    format, and times without an offset are in `default_tz`.
    """
    if isinstance(value, bool):  # bool is an int subclass; true is not a time
        raise ValueError("expected a time, got a boolean")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("expected a finite number of epoch seconds")
        # Checked before scaling: 1e308 * 1000 is infinite and 10**400 is no float at all.
        if not 0 <= value <= MAX_MS / 1000:
            raise ValueError(OUT_OF_RANGE)
        ms = round(value * 1000)
    elif isinstance(value, str):
        match = _TIME_RE.match(value.strip())
        if not match:
            raise ValueError("expected %s, got %r" % (ACCEPTED, value[:64]))
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        tz = parse_offset(offset) if offset else default_tz
        try:
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz
            )
        except ValueError as exc:  # month 13, February 30, hour 25 ...
            raise ValueError("not a valid date or time: %r (%s)" % (value[:64], exc)) from None
        millis = int((fraction or "0")[:3].ljust(3, "0"))
        delta = moment - EPOCH
        ms = (delta.days * 86400 + delta.seconds) * 1000 + millis
    else:
        raise ValueError("expected a time as a string or a number")
    if not 0 <= ms <= MAX_MS:
        raise ValueError(OUT_OF_RANGE)
    return ms


# tz -> (its offset in seconds, its RFC 3339 suffix): the zones are fixed offsets.
_SUFFIXES = {}  # type: dict


def from_ms(ms, tz):
    """RFC 3339 text for epoch milliseconds in `tz`; milliseconds shown only when not zero.

    The text `datetime.isoformat` gives, built from `time.gmtime` at a third of its cost (every
    answer shows one to four times).
    """
    known = _SUFFIXES.get(tz)
    if known is None:
        offset = tz.utcoffset(None)
        seconds = offset.days * 86400 + offset.seconds
        hours, minutes = divmod(abs(seconds) // 60, 60)
        known = _SUFFIXES[tz] = (
            seconds,
            "%s%02d:%02d" % ("-" if seconds < 0 else "+", hours, minutes),
        )
    offset_s, suffix = known
    whole, millis = divmod(ms, 1000)
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(whole + offset_s)[:6]
    return "%s.%03d%s" % (text, millis, suffix) if millis else text + suffix
