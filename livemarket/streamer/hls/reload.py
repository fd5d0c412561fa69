"""LL-HLS blocking requests, as plain rules: what may be waited for, and for how long.

RFC 8216bis §6.2.5.2: a playlist request with ``_HLS_msn`` (and ``_HLS_part``) is held
until the playlist holds that segment (whole) or that part of it; one asking more than
two segments ahead, or more parts ahead than the Advance Part Limit, is a bad request;
one not satisfied within three target durations gets a 503. A request for the part the
preload hint names (or one a little further) is likewise held until the part exists.
"""

from __future__ import annotations

#: Segments a blocking reload may ask beyond the one in progress.
MSN_AHEAD = 2
#: Parts beyond the next one (the Advance Part Limit: 3 when PART-TARGET is under 1 s).
PART_AHEAD = 3
#: A blocking reload is held this many target durations; a part, this many part targets.
HOLD_TARGETS = 3
#: ... but a part at least this long (a loaded server is late by a frame or two).
MIN_PART_HOLD_S = 1.0


def too_far_ahead(msn: int, part: int | None, next_position: tuple[int, int]) -> bool:
    """Whether a blocking reload for (``msn``, ``part``) asks beyond what may be held."""
    next_msn, next_part = next_position
    if msn > next_msn + MSN_AHEAD:
        return True
    return part is not None and msn == next_msn and part > next_part + PART_AHEAD


def coming_part(msn: int, part: int, next_position: tuple[int, int]) -> bool:
    """Whether part (``msn``, ``part``) is the next one or just after it (worth holding)."""
    next_msn, next_part = next_position
    if msn == next_msn:
        return next_part <= part <= next_part + PART_AHEAD
    return msn == next_msn + 1 and part <= PART_AHEAD


def playlist_hold_s(target_duration: int) -> float:
    return float(HOLD_TARGETS * target_duration)


def part_hold_s(part_target_s: float) -> float:
    return max(HOLD_TARGETS * part_target_s, MIN_PART_HOLD_S)
