"""The replay timeline's rules: the video clock, pins, chat highlights and markers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from livemarket.replay.timeline import (
    MAX_HIGHLIGHTS,
    ChatLine,
    DealRun,
    Pin,
    Span,
    VideoClock,
    deal_end,
    highlights,
    markers,
    parse_vod_playlist,
    pin_changes,
)

T0 = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def vod(*runs: tuple[datetime, list[float]]) -> str:
    """A VOD playlist of the given runs (each: first-frame time, segment durations)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:3", "#EXT-X-PLAYLIST-TYPE:VOD"]
    lines.append('#EXT-X-MAP:URI="r1/init.mp4"')
    for number, (start, durations) in enumerate(runs):
        if number:
            lines.append("#EXT-X-DISCONTINUITY")
        moment = start
        for msn, duration in enumerate(durations):
            stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            lines += [f"#EXT-X-PROGRAM-DATE-TIME:{stamp}", f"#EXTINF:{duration:.3f},"]
            lines.append(f"r{number}/{msn}.mp4")
            moment += timedelta(seconds=duration)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def test_the_playlist_dates_the_video_from_its_first_frame() -> None:
    """started_at is the first segment's PROGRAM-DATE-TIME; the duration sums the segments."""
    clock = parse_vod_playlist(vod((at(3), [2.0, 2.0, 1.5])))
    assert clock is not None
    assert clock.started_at == at(3)
    assert clock.duration_s == pytest.approx(5.5)
    assert clock.offset(at(3)) == 0.0
    assert clock.offset(at(6.25)) == pytest.approx(3.25)


def test_moments_outside_the_video_land_on_its_edges() -> None:
    """Before the first frame → 0; after the last → the end."""
    clock = parse_vod_playlist(vod((at(10), [2.0, 2.0])))
    assert clock is not None
    assert clock.offset(at(0)) == 0.0
    assert clock.offset(at(600)) == pytest.approx(4.0)


def test_a_second_run_after_a_gap_plays_right_after_the_first() -> None:
    """The encoder dropped for a minute: the video skips the gap; moments in it land at its end."""
    clock = parse_vod_playlist(vod((at(0), [2.0, 2.0]), (at(64), [2.0, 2.0])))
    assert clock is not None
    assert clock.offset(at(65)) == pytest.approx(5.0)  # 1 s into the second run
    assert clock.offset(at(30)) == pytest.approx(4.0)  # in the gap: where the second run starts
    assert clock.duration_s == pytest.approx(8.0)


def test_undated_segments_follow_on_and_a_dateless_playlist_has_no_clock() -> None:
    text = "\n".join(
        [
            "#EXTM3U",
            "#EXTINF:2.0,",
            "0.mp4",
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T20:00:02.000Z",
            "#EXTINF:2.0,",
            "1.mp4",
            "#EXTINF:2.0,",
            "2.mp4",
        ]
    )
    clock = parse_vod_playlist(text)
    assert clock is not None
    assert clock.started_at == T0  # dated backwards from the first date
    assert clock.offset(at(5)) == pytest.approx(5.0)
    assert parse_vod_playlist("#EXTM3U\n#EXTINF:2.0,\n0.mp4\n") is None
    assert parse_vod_playlist("") is None


def test_pins_count_only_when_they_change_what_is_pinned() -> None:
    """Two instances store one pin a few ms apart; re-pinning the same product is no change."""
    recorded = [
        Pin(at(10.001), 7),
        Pin(at(10.0), 7),
        Pin(at(20), 8),
        Pin(at(20.002), 8),
        Pin(at(30), None),
        Pin(at(40), 7),
        Pin(at(50), 7),
    ]
    assert pin_changes(recorded) == [
        Pin(at(10), 7),
        Pin(at(20), 8),
        Pin(at(30), None),
        Pin(at(40), 7),
    ]


def line(
    message_id: int, seconds: float, *, role: str = "viewer", pinned: bool = False
) -> ChatLine:
    return ChatLine(message_id, at(seconds), f"n{message_id}", role, f"text {message_id}", pinned)


def test_highlights_are_pinned_and_host_messages_one_a_minute_pinned_first() -> None:
    lines = [
        line(1, 5),  # a viewer: never a marker
        line(2, 10, role="host"),
        line(3, 50, pinned=True),  # same minute as 2: pinned wins
        line(4, 70, role="host"),
        line(5, 80, role="host"),  # same minute as 4: the earlier wins
        line(6, 130, role="operator"),  # an operator's own word is not a highlight
    ]
    assert [m.id for m in highlights(lines)] == [3, 4]


def test_highlights_are_capped_keeping_pinned_ones() -> None:
    lines = [line(i, i * 60, role="host") for i in range(MAX_HIGHLIGHTS + 5)]
    lines.append(line(999, (MAX_HIGHLIGHTS + 10) * 60, pinned=True))
    chosen = highlights(lines)
    assert len(chosen) == MAX_HIGHLIGHTS
    assert chosen[-1].id == 999
    assert [m.at for m in chosen] == sorted(m.at for m in chosen)


def test_markers_put_deals_pins_and_highlights_in_play_order() -> None:
    clock = VideoClock([Span(at(0), 0.0, 600.0)])
    deal = DealRun(11, 7, 30, 9_030, starts_at=at(120), ended_at=at(300))
    found = markers(
        clock,
        deals=[deal],
        pins=[Pin(at(100), 7), Pin(at(100.003), 7)],
        chat=[line(3, 200, pinned=True)],
    )
    assert [(m.kind, m.offset_s) for m in found] == [
        ("product.pinned", 100.0),
        ("deal.started", 120.0),
        ("chat.highlight", 200.0),
        ("deal.ended", 300.0),
    ]
    started = found[1].as_json()
    assert started == {
        "kind": "deal.started",
        "at": at(120).isoformat(),
        "offset_s": 120.0,
        "product_id": 7,
        "deal_id": 11,
        "discount_pct": 30,
    }
    assert found[2].as_json()["text"] == "text 3"


def test_an_unpin_is_not_a_marker() -> None:
    clock = VideoClock([Span(at(0), 0.0, 60.0)])
    found = markers(clock, deals=[], pins=[Pin(at(5), 7), Pin(at(9), None)], chat=[])
    assert [(m.kind, m.product_id) for m in found] == [("product.pinned", 7)]


def test_a_deal_ends_early_on_time_or_with_the_show_whichever_first() -> None:
    assert deal_end(at(300), None, None) == at(300)  # its window closed
    assert deal_end(at(300), at(200), at(250)) == at(200)  # sold out early
    assert deal_end(at(300), None, at(250)) == at(250)  # the host ended the show
    assert deal_end(at(300), at(320), None) == at(300)  # closed late by the sweeper
