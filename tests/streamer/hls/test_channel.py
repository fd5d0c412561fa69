"""A channel without the network: waiters wake on parts, the disk never holds the relay up."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from livemarket.streamer.hls.channel import HlsChannel
from livemarket.streamer.hls.store import DiskWriter, HlsStore, new_run_id
from tests.streamer.hls.media import h264_frames

STARTED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _channel(store: HlsStore, writer: DiskWriter) -> HlsChannel:
    return HlsChannel(
        7,
        new_run_id(STARTED),
        video_mime="video/H264",
        audio_mime=None,
        started_at=STARTED,
        store=store,
        writer=writer,
        want_keyframe=lambda: None,
        segment_target_s=1.0,
        part_target_s=0.2,
        now=lambda: STARTED,
    )


async def test_a_waiter_wakes_when_its_part_appears_and_not_before(tmp_path: Path) -> None:
    writer = DiskWriter()
    channel = _channel(HlsStore(tmp_path), writer)
    frames = h264_frames(90, gop=30)
    for frame in frames[:10]:
        channel.push(frame.kind, frame.data, frame.timestamp, frame.keyframe)
    msn, part = channel.next_position
    assert channel.has(msn, part - 1) and not channel.has(msn, part)
    waiter = asyncio.ensure_future(channel.wait_for(msn, part, timeout_s=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    for frame in frames[10:]:
        channel.push(frame.kind, frame.data, frame.timestamp, frame.keyframe)
        if waiter.done():
            break
        await asyncio.sleep(0)  # the loop turn a relay callback would give
    assert await waiter
    assert channel.has(msn, part)
    # nothing comes: False after the timeout; the end of the run wakes a waiter at once
    assert not await channel.wait_for(msn + 5, None, timeout_s=0.05)
    late = asyncio.ensure_future(channel.wait_for(msn + 5, None, timeout_s=30))
    await asyncio.sleep(0)
    await channel.close()
    assert await asyncio.wait_for(late, 1) is False
    await writer.close()


async def test_a_stuck_disk_drops_segments_and_the_listing_names_only_kept_ones(
    tmp_path: Path,
) -> None:
    """Pushing never waits for the disk; past the backlog segments are dropped and counted."""
    store = HlsStore(tmp_path)
    writer = DiskWriter(max_backlog=4)  # the hung job, init, two segments
    stuck = threading.Event()
    writer.submit(stuck.wait, droppable=False)  # the disk hangs
    channel = _channel(store, writer)
    for frame in h264_frames(180, gop=15):  # six seconds: about six segments
        channel.push(frame.kind, frame.data, frame.timestamp, frame.keyframe)
    assert channel.dropped >= 3
    closing = asyncio.ensure_future(channel.close())  # the last segment, still stuck
    await asyncio.sleep(0.05)
    stuck.set()
    await closing
    runs = store.finished_runs(7)
    assert len(runs) == 1
    listed = [entry.msn for entry in runs[0].segments]
    assert listed == [0, 1]
    for msn in listed:
        assert (store.run_dir(7, channel.run) / f"{msn}.mp4").stat().st_size > 0
    assert runs[0].dropped == channel.dropped
    await writer.close()


async def test_a_run_cut_short_by_a_crash_is_listed_from_its_journal(tmp_path: Path) -> None:
    """No run.json (the server died): the replay still lists what reached the disk."""
    store = HlsStore(tmp_path)
    writer = DiskWriter()
    channel = _channel(store, writer)
    for frame in h264_frames(120, gop=15):
        channel.push(frame.kind, frame.data, frame.timestamp, frame.keyframe)
    await writer.run(lambda: None)  # what was queued is on disk; then the "crash"
    assert not (store.run_dir(7, channel.run) / "run.json").exists()
    assert store.finished_runs(7, live_run=channel.run) == []  # still live: not replayed
    (runs,) = store.finished_runs(7)
    written = sorted(int(p.stem) for p in store.run_dir(7, channel.run).glob("[0-9]*.mp4"))
    assert [entry.msn for entry in runs.segments] == written
    assert len(written) >= 2
    assert runs.segments[0].program_date_time == STARTED
    with (store.run_dir(7, channel.run) / "segments.jsonl").open("a") as journal:
        journal.write('{"msn": 9, "dura')  # the line being written when it died
    (again,) = store.finished_runs(7)
    assert again.segments == runs.segments
    await writer.close()
