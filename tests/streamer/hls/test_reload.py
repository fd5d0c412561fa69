"""Blocking-request rules (RFC 8216bis §6.2.5.2) as the routes apply them."""

from __future__ import annotations

import pytest

from livemarket.streamer.hls.reload import coming_part, part_hold_s, playlist_hold_s, too_far_ahead


@pytest.mark.parametrize(
    ("msn", "part", "far"),
    [
        (3, None, False),  # the segment in progress, whole
        (5, None, False),  # two segments on: still may be held
        (6, None, True),
        (5, 0, False),
        (3, 4, False),  # the next part is 3.1; three more are allowed
        (3, 5, True),
        (0, 99, False),  # an old segment: there already, whatever the part
    ],
)
def test_too_far_ahead(msn: int, part: int | None, far: bool) -> None:
    assert too_far_ahead(msn, part, (3, 1)) is far


@pytest.mark.parametrize(
    ("msn", "part", "coming"),
    [
        (3, 1, True),  # the hinted part
        (3, 4, True),
        (3, 5, False),
        (3, 0, False),  # made already (or never will be): not waited for
        (4, 0, True),  # the next segment's first parts
        (4, 4, False),
        (5, 0, False),
        (2, 7, False),
    ],
)
def test_coming_part(msn: int, part: int, coming: bool) -> None:
    assert coming_part(msn, part, (3, 1)) is coming


def test_holds() -> None:
    assert playlist_hold_s(2) == 6.0  # three target durations
    assert part_hold_s(0.25) == 1.0  # three part targets, but at least a second
    assert part_hold_s(0.5) == 1.5
