"""RFC 3339 date-times, the one way the engine reads them (wire validation, profiles, restore).

The shape is checked first (``datetime.fromisoformat`` also takes ISO 8601 forms RFC 3339
does not allow, such as a bare date or week dates); the conversion is ``fromisoformat``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

# re.ASCII: without it \d also matches non-ASCII digits such as fullwidth ones.
_SHAPE: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)


def parse_rfc3339(value: object, *, offset_required: bool = False) -> datetime | None:
    """An aware UTC datetime, or None if ``value`` is not an RFC 3339 date-time.

    Without an offset (some central systems omit it) it is read as UTC unless
    ``offset_required``; a leap second (:60) is read as :59, which datetime can hold.
    """
    match = _SHAPE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    day, hour_minute, second, fraction, offset = match.groups()
    if offset is None and offset_required:
        return None
    if int(second) > 60:
        return None
    if offset is not None and offset not in "Zz":
        hours, minutes = offset[1:].split(":")
        if int(hours) > 23 or int(minutes) > 59:
            return None
    text = f"{day}T{hour_minute}:{min(int(second), 59):02d}{(fraction or '')[:7]}"
    if offset is not None:
        text += "+00:00" if offset in "Zz" else offset
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:  # not a calendar date or time
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc3339_timestamp(value: object) -> float | None:
    """``parse_rfc3339`` as a POSIX timestamp (what the clock and the jobs count in)."""
    moment = parse_rfc3339(value)
    return None if moment is None else moment.timestamp()
