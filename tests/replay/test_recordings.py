"""The replay reads hls-serve's kept runs: their playlist dates the video, runs play in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livemarket.replay.recordings import ReplayClocks, StoreRecordings
from livemarket.streamer.hls.store import HlsStore, RunListing, SegmentEntry, new_run_id

T0 = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def keep_run(store: HlsStore, special_id: int, first_frame: datetime, segments: int) -> str:
    entries = tuple(
        SegmentEntry(msn, 2.0, first_frame + timedelta(seconds=2 * msn), 1000)
        for msn in range(segments)
    )
    ended = first_frame + timedelta(seconds=2 * segments)
    run = new_run_id(first_frame)
    store.write_listing(special_id, RunListing(run, first_frame, ended, "avc1.42e01f", entries))
    return run


async def test_two_kept_runs_make_one_clock_from_the_first_frame(tmp_path: Path) -> None:
    store = HlsStore(tmp_path)
    keep_run(store, 7, T0, 3)
    keep_run(store, 7, T0 + timedelta(minutes=5), 2)  # the encoder came back 5 min later
    text = await StoreRecordings(store).vod_playlist(7)
    assert text is not None and "#EXT-X-DISCONTINUITY" in text
    clock = await ReplayClocks().clock(7, StoreRecordings(store))
    assert clock is not None
    assert clock.started_at == T0
    assert clock.duration_s == pytest.approx(10.0)
    assert clock.offset(T0 + timedelta(minutes=5, seconds=1)) == pytest.approx(7.0)


async def test_nothing_kept_is_asked_again_only_after_a_while(tmp_path: Path) -> None:
    store = HlsStore(tmp_path)
    now = [100.0]
    clocks = ReplayClocks(retry_missing_s=10.0, monotonic=lambda: now[0])
    assert await StoreRecordings(store).vod_playlist(8) is None
    assert await clocks.clock(8, StoreRecordings(store)) is None
    keep_run(store, 8, T0, 1)
    assert await clocks.clock(8, StoreRecordings(store)) is None  # remembered "nothing"
    now[0] += 11
    found = await clocks.clock(8, StoreRecordings(store))
    assert found is not None and found.started_at == T0


async def test_a_run_closed_after_the_end_joins_within_the_keep_time(tmp_path: Path) -> None:
    store = HlsStore(tmp_path)
    now = [0.0]
    clocks = ReplayClocks(keep_s=60.0, monotonic=lambda: now[0])
    keep_run(store, 9, T0, 2)
    first = await clocks.clock(9, StoreRecordings(store))
    assert first is not None and first.duration_s == pytest.approx(4.0)
    keep_run(store, 9, T0 + timedelta(seconds=30), 2)  # the publisher left after the end
    now[0] += 30
    assert await clocks.clock(9, StoreRecordings(store)) is first
    now[0] += 31
    later = await clocks.clock(9, StoreRecordings(store))
    assert later is not None and later.duration_s == pytest.approx(8.0)


async def test_a_run_still_published_here_is_left_out(tmp_path: Path) -> None:
    store = HlsStore(tmp_path)
    keep_run(store, 5, T0, 3)
    live = keep_run(store, 5, T0 + timedelta(minutes=1), 2)
    recordings = StoreRecordings(store, live_run=lambda special_id: live)
    clock = await ReplayClocks().clock(5, recordings)
    assert clock is not None and clock.duration_s == pytest.approx(6.0)
