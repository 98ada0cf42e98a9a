"""Engine timestamps: the engine reports RFC 3339 with nanoseconds; everything here compares epoch seconds."""

from __future__ import annotations

from datetime import datetime

NS = 1_000_000_000


def rfc3339(stamp: str | None) -> float | None:
    """Epoch seconds of an engine timestamp (Python's parser takes microseconds, the engine gives nanoseconds)."""
    if not stamp or stamp.startswith("0001-01-01"):
        return None
    head, _, frac = stamp.rstrip("Z").partition(".")
    offset = "+00:00"
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, tz = frac.partition(sign)
            offset = sign + tz
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}{offset}").timestamp()
