"""DTLS cipher suites that also suit peers with RSA certificates.

aiortc 1.16 offers only ECDHE-ECDSA suites (its own certificate is ECDSA P-256,
and RFC 8827 makes TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 the one mandatory
suite). The DTLS *server* picks a suite that matches *its* certificate, so
when the relay is the DTLS client (it answers ``a=setup:actpass`` with
``active``, as aiortc does) and the publisher's certificate is RSA (GStreamer
1.22's ``webrtcbin`` makes RSA certificates only; ZLMediaKit and some cameras
too), the server finds no shared cipher and the handshake fails. Offering the
ECDHE-RSA counterparts as well fixes that; the relay's own certificate stays
ECDSA, and when the relay is the DTLS server it still picks an ECDSA suite.
The list stays short (eight suites, as browsers send): a long ClientHello
fragments, which some DTLS stacks cannot reassemble (aiortc PR #1011).

This wraps a private method of aiortc 1.16 (pinned exactly in pyproject.toml);
:func:`install` raises at once if it moves, and ``tests/streamer/test_ingest_hook.py``
fails loudly.
"""

from __future__ import annotations

from typing import Any

from aiortc.rtcdtlstransport import RTCCertificate

#: ECDSA suites first (aiortc's own, in its order), then their RSA counterparts.
CIPHER_LIST = b":".join(
    (
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        b"ECDHE-ECDSA-CHACHA20-POLY1305",
        b"ECDHE-ECDSA-AES128-SHA",
        b"ECDHE-ECDSA-AES256-SHA",
        b"ECDHE-RSA-AES128-GCM-SHA256",
        b"ECDHE-RSA-CHACHA20-POLY1305",
        b"ECDHE-RSA-AES128-SHA",
        b"ECDHE-RSA-AES256-SHA",
    )
)
_HOOK = "_create_ssl_context"
_MARK = "_livemarket_rsa_peers"


def install() -> None:
    """Make every aiortc DTLS context in this process offer :data:`CIPHER_LIST` (idempotent)."""
    original = getattr(RTCCertificate, _HOOK, None)
    if original is None:
        raise RuntimeError(f"aiortc's RTCCertificate has no {_HOOK}: check the aiortc pin")
    if getattr(original, _MARK, False):
        return

    def create_ssl_context(self: RTCCertificate, *args: Any, **kwargs: Any) -> Any:
        context = original(self, *args, **kwargs)
        context.set_cipher_list(CIPHER_LIST)
        return context

    setattr(create_ssl_context, _MARK, True)
    setattr(RTCCertificate, _HOOK, create_ssl_context)
