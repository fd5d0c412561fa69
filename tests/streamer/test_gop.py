"""The GOP kept for joining viewers: what is kept, its bound, when it is dropped."""

from __future__ import annotations

from livemarket.streamer.gop import GopCache

VP8, H264 = "video/VP8", "video/H264"


def _frame(size: int = 100, packets: int = 1) -> list[bytes]:
    return [bytes(size // packets)] * packets


def test_keeps_the_chain_from_the_last_keyframe() -> None:
    cache = GopCache()
    cache.push(VP8, _frame(), 0, keyframe=True)
    cache.push(VP8, _frame(), 3000, keyframe=False)
    cache.push(VP8, _frame(), 6000, keyframe=False)
    frames = cache.frames()
    assert [f.timestamp for f in frames] == [0, 3000, 6000]
    assert [f.keyframe for f in frames] == [True, False, False]
    assert cache.size == (3, 300)


def test_a_new_keyframe_starts_a_new_gop() -> None:
    cache = GopCache()
    cache.push(VP8, _frame(), 0, keyframe=True)
    cache.push(VP8, _frame(), 3000, keyframe=False)
    cache.push(VP8, _frame(500), 6000, keyframe=True)
    assert [(f.timestamp, f.keyframe) for f in cache.frames()] == [(6000, True)]
    assert cache.size == (1, 500)


def test_delta_frames_before_any_keyframe_are_not_kept() -> None:
    """A chain without its keyframe cannot be decoded: nothing to start a viewer from."""
    cache = GopCache()
    cache.push(VP8, _frame(), 0, keyframe=False)
    cache.push(VP8, _frame(), 3000, keyframe=False)
    assert cache.frames() == ()


def test_the_payloads_are_kept_as_packetized() -> None:
    cache = GopCache()
    payloads = [b"a" * 10, b"b" * 10, b"c" * 5]
    cache.push(VP8, payloads, 0, keyframe=True)
    assert cache.frames()[0].payloads == tuple(payloads)
    assert cache.size == (1, 25)


def test_a_gop_longer_than_the_frame_bound_is_dropped_until_the_next_keyframe() -> None:
    cache = GopCache(max_frames=3, max_bytes=10_000)
    assert not cache.push(VP8, _frame(), 0, keyframe=True)
    assert not cache.push(VP8, _frame(), 1, keyframe=False)
    assert not cache.push(VP8, _frame(), 2, keyframe=False)
    assert cache.push(VP8, _frame(), 3, keyframe=False)  # the fourth frame: over the bound
    assert cache.frames() == ()
    assert cache.overflows == 1
    # the rest of that GOP is not kept (it would lack its start) ...
    assert not cache.push(VP8, _frame(), 4, keyframe=False)
    assert cache.frames() == ()
    assert cache.overflows == 1  # counted once per GOP
    # ... until a keyframe starts a new one
    cache.push(VP8, _frame(), 5, keyframe=True)
    assert [f.timestamp for f in cache.frames()] == [5]


def test_a_gop_larger_than_the_byte_bound_is_dropped() -> None:
    cache = GopCache(max_frames=100, max_bytes=1000)
    assert not cache.push(VP8, _frame(600, packets=3), 0, keyframe=True)
    assert not cache.push(VP8, _frame(400), 1, keyframe=False)  # exactly at the bound
    assert cache.size == (2, 1000)
    assert cache.push(VP8, _frame(1), 2, keyframe=False)
    assert cache.frames() == ()


def test_a_keyframe_alone_over_the_byte_bound_is_not_kept() -> None:
    cache = GopCache(max_frames=100, max_bytes=1000)
    assert cache.push(VP8, _frame(2000), 0, keyframe=True)
    assert cache.frames() == ()


def test_a_frame_of_another_codec_drops_the_gop() -> None:
    """A delta frame cannot continue another codec's chain (the publisher switched)."""
    cache = GopCache()
    cache.push(VP8, _frame(), 0, keyframe=True)
    cache.push(H264, _frame(), 3000, keyframe=False)
    assert cache.frames() == ()
    cache.push(H264, _frame(), 6000, keyframe=True)
    cache.push(H264, _frame(), 9000, keyframe=False)
    assert [f.timestamp for f in cache.frames()] == [6000, 9000]


def test_clear_forgets_the_gop() -> None:
    """A new publisher or a broken chain on the ingest: the kept frames are no start."""
    cache = GopCache()
    cache.push(VP8, _frame(), 0, keyframe=True)
    cache.clear()
    assert cache.frames() == ()
    assert cache.size == (0, 0)
    cache.push(VP8, _frame(), 3000, keyframe=False)
    assert cache.frames() == ()


def test_frames_is_a_snapshot() -> None:
    """A viewer's burst is not changed by frames arriving after it was taken."""
    cache = GopCache()
    cache.push(VP8, _frame(), 0, keyframe=True)
    snapshot = cache.frames()
    cache.push(VP8, _frame(), 3000, keyframe=False)
    assert len(snapshot) == 1
    assert len(cache.frames()) == 2
