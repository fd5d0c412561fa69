"""Why a peer connection failed to connect: ICE, DTLS, or no connection in time.

aiortc says only that the connection "failed"; the reason (an OpenSSL error such
as ``no shared cipher``, a fingerprint mismatch, ICE finding no working candidate
pair) goes to its DEBUG log, which a server does not keep. :class:`DtlsFailureTap`
takes those records off aiortc's DTLS logger and hands the reason to whoever
negotiated the connection: the handshake runs in the task that
``setRemoteDescription`` starts, which inherits the context of the negotiation,
so a context variable set around it (:func:`reporting_to`) says whose it is.
Records are passed on to handlers only at the level the logging configuration
gives aiortc, as before.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

DTLS_LOGGER = "aiortc.rtcdtlstransport"
_FAILED = re.compile(r"DTLS handshake failed \((.*)\)\s*$")
_OPENSSL_REASON = re.compile(r"'([^']+)'\)\]")


@dataclass
class FailureNote:
    """Where one peer connection's DTLS failure reason is written."""

    reason: str | None = None


_current: contextvars.ContextVar[FailureNote | None] = contextvars.ContextVar(
    "livemarket_failure_note", default=None
)


def dtls_reason(message: str) -> str | None:
    """The readable reason in an aiortc "DTLS handshake failed (...)" message, or None.

    OpenSSL errors come as ``error [('SSL routines', '', 'no shared cipher')]``: the
    last quoted part is what a person needs.
    """
    found = _FAILED.search(message)
    if found is None:
        return None
    detail = found.group(1)
    reasons = _OPENSSL_REASON.findall(detail)
    if reasons:
        detail = reasons[-1]
    elif detail == "error []":  # OpenSSL recorded nothing: the other side gave up
        detail = "the other side ended the handshake (did it reject our certificate?)"
    return f"DTLS handshake failed: {detail}"


class DtlsFailureTap(logging.Filter):
    """A filter on aiortc's DTLS logger: notes failures, passes on what the config enables.

    The DTLS logger itself is set to DEBUG (or its records would never be made);
    what goes on to handlers is decided by ``passthrough_level``, or, by default,
    by the parent ``aiortc`` logger's level at the time (so ``aiortc`` at DEBUG in
    the logging config still shows everything).
    """

    def __init__(self, passthrough_level: int | None = None) -> None:
        super().__init__()
        self.passthrough_level = passthrough_level
        self._parent = logging.getLogger(DTLS_LOGGER.rpartition(".")[0])

    def filter(self, record: logging.LogRecord) -> bool:
        note = _current.get()
        if note is not None and note.reason is None:
            reason = dtls_reason(record.getMessage())
            if reason is not None:
                note.reason = reason
        level = self.passthrough_level
        return record.levelno >= (self._parent.getEffectiveLevel() if level is None else level)


_tap: DtlsFailureTap | None = None


def install() -> None:
    """Put the tap on aiortc's DTLS logger (idempotent); its DEBUG records reach the tap only."""
    global _tap  # one process-wide logger, one tap
    if _tap is not None:
        return
    logger = logging.getLogger(DTLS_LOGGER)
    if logger.level not in (logging.NOTSET, logging.DEBUG):  # configured on purpose: keep it
        _tap = DtlsFailureTap(passthrough_level=logger.level)
    else:
        _tap = DtlsFailureTap()
    logger.addFilter(_tap)
    logger.setLevel(logging.DEBUG)


@contextmanager
def reporting_to(note: FailureNote) -> Iterator[None]:
    """DTLS failures of connections negotiated inside the block are written to ``note``."""
    install()
    token = _current.set(note)
    try:
        yield
    finally:
        _current.reset(token)


def failure_reason(pc: Any, note: FailureNote, *, timed_out: bool = False) -> str:
    """The best reason for a failed (or never connected) peer connection."""
    if note.reason is not None:
        return note.reason
    states = {
        transceiver.receiver.transport.transport.state
        for transceiver in pc.getTransceivers()
        if transceiver.receiver.transport is not None
    }
    if "failed" in states:
        return "ICE failed: no candidate pair answered connectivity checks"
    if timed_out:
        return "not connected in time (ICE or DTLS never completed)"
    return "the connection failed"
