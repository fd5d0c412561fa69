"""The plain rules: ingest URLs, FLV cutting for restarted pushers, backoff, redaction."""

from __future__ import annotations

import pytest

from livemarket.errors import DomainError
from livemarket.simulcast.flv import AUDIO, SCRIPT, VIDEO, FlvSplitter, tag_bytes
from livemarket.simulcast.keys import StreamKeyBox
from livemarket.simulcast.rules import check_ingest_url, push_url, redact
from livemarket.simulcast.status import backoff

HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"
META = tag_bytes(SCRIPT, 0, b"\x02\x00\x0aonMetaData")
AVC_CONFIG = tag_bytes(VIDEO, 0, b"\x17\x00\x00\x00\x00config")
AAC_CONFIG = tag_bytes(AUDIO, 0, b"\xaf\x00\x12\x10")
KEYFRAME = tag_bytes(VIDEO, 40, b"\x17\x01\x00\x00\x00idr")
INTER = tag_bytes(VIDEO, 73, b"\x27\x01\x00\x00\x00p")
AAC = tag_bytes(AUDIO, 50, b"\xaf\x01sound")


def test_the_stream_is_cut_into_whole_tags_whatever_the_chunks() -> None:
    stream = HEADER + META + AVC_CONFIG + AAC_CONFIG + KEYFRAME + AAC + INTER
    splitter = FlvSplitter()
    tags = []
    for start in range(0, len(stream), 7):  # arbitrary pipe reads
        tags += splitter.feed(stream[start : start + 7])
    assert [t.raw for t in tags] == [META, AVC_CONFIG, AAC_CONFIG, KEYFRAME, AAC, INTER]
    assert [t.is_keyframe for t in tags] == [False, False, False, True, False, False]
    assert [t.is_config for t in tags] == [True, True, True, False, False, False]
    assert tags[4].timestamp_ms == 50
    assert splitter.preamble == HEADER + META + AVC_CONFIG + AAC_CONFIG


def test_what_is_not_flv_is_refused() -> None:
    with pytest.raises(ValueError):
        FlvSplitter().feed(b"RIFF" + bytes(20))


def test_large_timestamps_keep_their_extended_byte() -> None:
    (tag,) = FlvSplitter().feed(HEADER + tag_bytes(AUDIO, 0x1234567, b"\xaf\x01x"))
    assert tag.timestamp_ms == 0x1234567


@pytest.mark.parametrize(
    "url", ["rtmp://a.example/live", "RTMPS://a.example:443/app/", "rtmps://10.0.0.1/live2/x"]
)
def test_good_ingest_urls(url: str) -> None:
    assert check_ingest_url(url) == url.strip().rstrip("/")


def test_the_push_url_and_redaction_keep_the_key_out_of_messages() -> None:
    target = push_url("rtmp://a.example/live", "k3y-SECRET-abcd")
    assert target == "rtmp://a.example/live/k3y-SECRET-abcd"
    line = f"{target}: Input/output error"
    assert redact(line, ["k3y-SECRET-abcd"]) == "rtmp://a.example/live/****abcd: Input/output error"


def test_keys_open_with_the_same_secret_only() -> None:
    sealed = StreamKeyBox(b"one").seal("the-key")
    assert "the-key" not in sealed
    assert StreamKeyBox(b"one").open(sealed) == "the-key"
    with pytest.raises(DomainError) as refused:
        StreamKeyBox(b"two").open(sealed)
    assert refused.value.code == "stream_key_unreadable"


def test_backoff_grows_then_stays() -> None:
    assert [backoff(n) for n in (1, 2, 3, 50)] == [1.0, 2.0, 4.0, 30.0]
