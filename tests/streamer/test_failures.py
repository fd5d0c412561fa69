"""Reasons for failed negotiations, read from aiortc's DTLS log messages."""

from __future__ import annotations

import logging

from livemarket.streamer.failures import DtlsFailureTap, FailureNote, dtls_reason, reporting_to


def test_openssl_reasons_are_made_readable() -> None:
    """The last OpenSSL reason is kept; aiortc's own reasons pass as they are."""
    message = (
        "RTCDtlsTransport(client) x DTLS handshake failed "
        "(error [('SSL routines', '', 'no shared cipher')])"
    )
    assert dtls_reason(message) == "DTLS handshake failed: no shared cipher"
    assert dtls_reason(
        "RTCDtlsTransport(client) x DTLS handshake failed (fingerprint mismatch)"
    ) == ("DTLS handshake failed: fingerprint mismatch")
    assert "other side" in str(dtls_reason("x DTLS handshake failed (error [])"))
    assert dtls_reason("RTCDtlsTransport(client) - DTLS handshake complete") is None


def test_the_tap_notes_failures_only_for_its_context_and_passes_on_what_was_enabled() -> None:
    """Inside ``reporting_to`` a failure is noted; DEBUG records go no further than before."""
    tap = DtlsFailureTap(passthrough_level=logging.WARNING)

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("aiortc.rtcdtlstransport", level, __file__, 1, message, (), None)

    failed = record(logging.DEBUG, "x DTLS handshake failed (fingerprint mismatch)")
    assert tap.filter(failed) is False  # nobody asked: not noted, not passed on
    note = FailureNote()
    with reporting_to(note):
        assert tap.filter(failed) is False
        assert tap.filter(record(logging.WARNING, "something else")) is True
    assert note.reason == "DTLS handshake failed: fingerprint mismatch"
